package testutil

import (
	"io"
	"net"
	"testing"
	"time"
)

// Balancer starts a TCP load balancer on loopback in front of backends
// ("host:port"): each new connection goes to the first backend that
// accepts it, as behind a load balancer whose health checks have dropped
// the nodes that are down. It returns the balancer's "host:port" and closes
// it when the test ends.
func Balancer(t testing.TB, backends ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for _, b := range backends {
					up, err := net.DialTimeout("tcp", b, time.Second)
					if err != nil {
						continue
					}
					defer up.Close()
					go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
					io.Copy(c, up)
					return
				}
			}()
		}
	}()
	return ln.Addr().String()
}
