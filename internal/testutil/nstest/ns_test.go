package nstest

import (
	"net"
	"testing"

	"github.com/peercall/peercall/internal/testutil"
)

func TestMain(m *testing.M) { testutil.MainInLoopbackNamespace(m) }

func TestNamespaceHasOnlyLoopback(t *testing.T) {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp == 0 {
		t.Fatalf("want only lo, up; got %+v", ifs)
	}
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}
