//go:build !linux

package signal

import "errors"

// poller is Linux-only (epoll); elsewhere an idle connection's reader
// goroutine waits in its read.
type poller struct{}

func newPoller() (*poller, error) { return nil, errors.New("no poller on this system") }

func (p *poller) add(*conn) bool { return false }
func (p *poller) remove(*conn)   {}
func (p *poller) arm(*conn) bool { return false }
func (p *poller) close()         {}
func (p *poller) trim()          {}
func (p *poller) start(c *conn)  { go c.run() }
