package joincmd

import (
	"testing"

	"github.com/peercall/peercall/internal/testutil"
)

// The tests make WebRTC and TURN traffic, so they run in a loopback-only
// network namespace.
func TestMain(m *testing.M) { testutil.MainInLoopbackNamespace(m) }
