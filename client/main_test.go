package client_test

import (
	"testing"

	"github.com/peercall/peercall/internal/testutil"
)

// The tests create WebRTC and TURN traffic, so they run in a loopback-only
// network namespace.
func TestMain(m *testing.M) { testutil.MainInLoopbackNamespace(m) }
