package udpbatch

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/testutil"
)

// The tests send UDP datagrams, so they run in a loopback-only network
// namespace.
func TestMain(m *testing.M) { testutil.MainInLoopbackNamespace(m) }

func listen(t testing.TB, network, addr string) (*net.UDPConn, *Conn) {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatalf("listen %s %s: %v", network, addr, err)
	}
	uc := pc.(*net.UDPConn)
	t.Cleanup(func() { _ = uc.Close() })
	c, err := New(uc)
	if err != nil {
		t.Fatal(err)
	}
	return uc, c
}

func addrPort(t testing.TB, uc *net.UDPConn, ip string) netip.AddrPort {
	t.Helper()
	return netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(uc.LocalAddr().(*net.UDPAddr).Port))
}

func TestABatchCrossesBetweenSocketsOfEachFamily(t *testing.T) {
	tests := []struct {
		name                   string
		srcNet, srcAddr, srcIP string
		dstNet, dstAddr, dstIP string
		wantSrcIP              string
	}{
		{"IPv4 to IPv4", "udp4", "127.0.0.1:0", "127.0.0.1", "udp4", "127.0.0.1:0", "127.0.0.1", "127.0.0.1"},
		{"IPv6 to IPv6", "udp6", "[::1]:0", "::1", "udp6", "[::1]:0", "::1", "::1"},
		{"IPv4 to a dual-stack socket, seen unmapped", "udp4", "127.0.0.1:0", "127.0.0.1", "udp", "[::]:0", "127.0.0.1", "127.0.0.1"},
		{"a dual-stack socket to IPv4, written mapped", "udp", "[::]:0", "127.0.0.1", "udp4", "127.0.0.1:0", "127.0.0.1", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, srcC := listen(t, tt.srcNet, tt.srcAddr)
			dst, dstC := listen(t, tt.dstNet, tt.dstAddr)
			to := addrPort(t, dst, tt.dstIP)
			w := NewWriter(8)
			var want [][]byte
			for i := range 5 {
				b := []byte(fmt.Sprintf("datagram %d %s", i, bytes.Repeat([]byte{'x'}, i*100)))
				want = append(want, b)
				w.Add(b, to)
			}
			if n, err := w.Flush(srcC); n != 5 || err != nil {
				t.Fatalf("Flush = %d, %v; want 5, nil", n, err)
			}
			if w.Len() != 0 {
				t.Errorf("Len after Flush = %d", w.Len())
			}
			r := NewReader(16, 1500, 4)
			_ = dst.SetReadDeadline(time.Now().Add(5 * time.Second))
			var got [][]byte
			for len(got) < 5 {
				n, err := r.Read(dstC)
				if err != nil {
					t.Fatalf("Read after %d datagrams: %v", len(got), err)
				}
				for _, m := range r.Msgs[:n] {
					got = append(got, append([]byte(nil), m.Buf...))
					if wantSrc := addrPort(t, src, tt.wantSrcIP); m.Addr != wantSrc {
						t.Errorf("from %v, want %v", m.Addr, wantSrc)
					}
					if m.Truncated {
						t.Error("Truncated set on a datagram that fit")
					}
				}
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("datagram %d = %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
}

func TestTheHeadroomInFrontOfADatagramIsTheCallers(t *testing.T) {
	_, srcC := listen(t, "udp4", "127.0.0.1:0")
	dst, dstC := listen(t, "udp4", "127.0.0.1:0")
	w := NewWriter(1)
	w.Add([]byte("payload"), addrPort(t, dst, "127.0.0.1"))
	if _, err := w.Flush(srcC); err != nil {
		t.Fatal(err)
	}
	r := NewReader(2, 64, 4)
	_ = dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := r.Read(dstC); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	slot := r.Slot(0)
	copy(slot, "HDR:")
	if got := string(slot[:r.Headroom()+len(r.Msgs[0].Buf)]); got != "HDR:payload" {
		t.Errorf("slot = %q, want the headroom then the datagram", got)
	}
}

func TestALongDatagramIsMarkedTruncated(t *testing.T) {
	if !batched {
		t.Skip("the fallback cannot tell truncation")
	}
	_, srcC := listen(t, "udp4", "127.0.0.1:0")
	dst, dstC := listen(t, "udp4", "127.0.0.1:0")
	w := NewWriter(1)
	w.Add(make([]byte, 100), addrPort(t, dst, "127.0.0.1"))
	if _, err := w.Flush(srcC); err != nil {
		t.Fatal(err)
	}
	r := NewReader(1, 40, 0)
	_ = dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := r.Read(dstC); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if m := r.Msgs[0]; !m.Truncated || len(m.Buf) != 40 {
		t.Errorf("got %d bytes, Truncated %v; want 40 and true", len(m.Buf), m.Truncated)
	}
}

func TestAnUnreachableDestinationIsSkippedAndTheRestAreSent(t *testing.T) {
	_, srcC := listen(t, "udp4", "127.0.0.1:0")
	dst, dstC := listen(t, "udp4", "127.0.0.1:0")
	to := addrPort(t, dst, "127.0.0.1")
	w := NewWriter(4)
	w.Add([]byte("one"), to)
	w.Add([]byte("to nowhere"), netip.MustParseAddrPort("[::1]:9")) // IPv6 from an IPv4 socket
	w.Add([]byte("three"), to)
	n, err := w.Flush(srcC)
	if n != 2 || err == nil {
		t.Fatalf("Flush = %d, %v; want 2 and an error", n, err)
	}
	r := NewReader(4, 64, 0)
	var got []string
	_ = dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < 2 {
		n, err := r.Read(dstC)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Msgs[:n] {
			got = append(got, string(m.Buf))
		}
	}
	if got[0] != "one" || got[1] != "three" {
		t.Errorf("got %q", got)
	}
}

func TestReadReturnsWhenTheSocketIsClosed(t *testing.T) {
	dst, dstC := listen(t, "udp4", "127.0.0.1:0")
	errc := make(chan error, 1)
	go func() {
		_, err := NewReader(4, 64, 0).Read(dstC)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	_ = dst.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after Close")
	}
}

func TestABatchRoundTripAllocatesNothing(t *testing.T) {
	src, srcC := listen(t, "udp4", "127.0.0.1:0")
	dst, dstC := listen(t, "udp4", "127.0.0.1:0")
	_ = src
	to := addrPort(t, dst, "127.0.0.1")
	payload := make([]byte, 200)
	w := NewWriter(32)
	r := NewReader(32, 1500, 4)
	_ = dst.SetReadDeadline(time.Now().Add(time.Minute))
	allocs := testing.AllocsPerRun(200, func() {
		for range 32 {
			w.Add(payload, to)
		}
		if _, err := w.Flush(srcC); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < 32; {
			n, err := r.Read(dstC)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch of 32 sent and received, want 0", allocs)
	}
}

func TestRunsOfEqualDatagramsArriveAsSentWithAndWithoutGSO(t *testing.T) {
	for _, gso := range []bool{true, false} {
		t.Run(fmt.Sprintf("GSO %v", gso), func(t *testing.T) {
			_, srcC := listen(t, "udp4", "127.0.0.1:0")
			if batched && !srcC.gso {
				t.Error("the kernel does not take UDP_SEGMENT: GSO is off (Linux before 4.18?)")
			}
			srcC.SetGSO(gso)
			if srcC.GSO() != (gso && srcC.gso) {
				t.Fatalf("GSO() = %v after SetGSO(%v)", srcC.GSO(), gso)
			}
			dst, dstC := listen(t, "udp4", "127.0.0.1:0")
			other, otherC := listen(t, "udp4", "127.0.0.1:0")
			to, toOther := addrPort(t, dst, "127.0.0.1"), addrPort(t, other, "127.0.0.1")
			// 70 equal datagrams (more than one GSO message holds), a
			// shorter one that ends the run, one to another socket,
			// then two more equal ones.
			var want [][]byte
			w := NewWriter(80)
			for i := range 74 {
				size := 200
				if i == 70 {
					size = 37
				}
				b := bytes.Repeat([]byte{byte(i)}, size)
				if i == 71 {
					w.Add(b, toOther)
					continue
				}
				w.Add(b, to)
				want = append(want, b)
			}
			if n, err := w.Flush(srcC); n != 74 || err != nil {
				t.Fatalf("Flush = %d, %v", n, err)
			}
			r := NewReader(64, 1500, 0)
			_ = dst.SetReadDeadline(time.Now().Add(5 * time.Second))
			var got [][]byte
			for len(got) < len(want) {
				n, err := r.Read(dstC)
				if err != nil {
					t.Fatalf("after %d datagrams: %v", len(got), err)
				}
				for _, m := range r.Msgs[:n] {
					got = append(got, append([]byte(nil), m.Buf...))
				}
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("datagram %d: %d bytes of %d, want %d bytes of %d", i, len(got[i]), got[i][0], len(want[i]), want[i][0])
				}
			}
			_ = other.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := r.Read(otherC); n != 1 || err != nil || len(r.Msgs[0].Buf) != 200 {
				t.Errorf("other socket: Read = %d, %v", n, err)
			}
		})
	}
}
