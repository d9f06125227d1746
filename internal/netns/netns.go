// Package netns holds what peercall's tests and benchmarks need to keep
// their traffic in a loopback-only network namespace: bringing lo up and
// checking that no other interface exists. It does not import testing, so
// the peercall binary (peercall bench) can use it.
package netns

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// LinkUp sets the interface name administratively up.
func LinkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get flags of %s: %w", name, err)
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// LoopbackOnly reports whether every network interface this process sees
// is a loopback interface, so that no packet it sends can leave the
// machine.
func LoopbackOnly() bool {
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		return false
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback == 0 {
			return false
		}
	}
	return true
}
