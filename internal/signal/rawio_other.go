//go:build !unix

package signal

import (
	"net"
	"syscall"
)

// rawConn is nil where raw socket I/O is not implemented: connections use
// net.Conn's Read and Write.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (c *conn) rawRead(uintptr) bool  { panic("unreachable") }
func (c *conn) rawWrite(uintptr) bool { panic("unreachable") }
