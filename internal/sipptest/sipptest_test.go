package sipptest

import (
	"net"
	"testing"
)

// TestUDPBound: the socket table sees a bound loopback port, and not once
// it is closed — what Start waits on instead of a fixed pause.
func TestUDPBound(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	bound, err := udpBound(port)
	if err != nil {
		t.Skipf("no socket table here: %v", err)
	}
	if !bound {
		t.Errorf("port %d bound but not seen", port)
	}
	_ = c.Close()
	if bound, _ := udpBound(port); bound {
		t.Errorf("port %d closed but still seen", port)
	}
}
