package sip

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// freePortRange finds a run of n even ports on loopback nobody holds now.
func freePortRange(t *testing.T, n int) (int, int) {
	t.Helper()
	for try := 0; try < 50; try++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		base := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		c.Close()
		if base < 20000 || base+2*n > 65000 {
			continue
		}
		return base, base + 2*(n-1)
	}
	t.Fatal("no port range")
	return 0, 0
}

func TestPortPoolDrain(t *testing.T) {
	t.Parallel()
	min, max := freePortRange(t, 2)
	pool, err := NewPortPool(netip.MustParseAddr("127.0.0.1"), min, max, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	pool.now = func() time.Time { return now }

	port := func(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }
	a, err := pool.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	b, err := pool.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if port(a)%2 != 0 || port(b)%2 != 0 || port(a) == port(b) {
		t.Fatalf("ports %d %d: want distinct even ports", port(a), port(b))
	}
	if _, err := pool.Acquire(); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("third acquire: %v, want ErrNoPorts", err)
	}
	pa := port(a)
	a.Close()
	pool.Release(pa)
	if _, err := pool.Acquire(); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("acquire during drain: %v, want ErrNoPorts", err)
	}
	now = now.Add(2*time.Second + time.Millisecond)
	c, err := pool.Acquire()
	if err != nil {
		t.Fatalf("after drain: %v", err)
	}
	if port(c) != pa {
		t.Errorf("got port %d after drain, want %d", port(c), pa)
	}
	if pool.InUse() != 2 {
		t.Errorf("in use %d", pool.InUse())
	}
	b.Close()
	c.Close()
}

func TestPortPoolSkipsForeignPorts(t *testing.T) {
	t.Parallel()
	min, max := freePortRange(t, 2)
	foreign, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: min})
	if err != nil {
		t.Skip("port raced away:", err)
	}
	defer foreign.Close()
	pool, err := NewPortPool(netip.MustParseAddr("127.0.0.1"), min, max, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pool.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.UDPAddr).Port; got != max {
		t.Errorf("port %d, want %d (skip the foreign one)", got, max)
	}
}

func TestPortPoolConfig(t *testing.T) {
	t.Parallel()
	for _, r := range [][2]int{{100, 200}, {30001, 30001}, {40000, 30000}, {30000, 70000}} {
		if _, err := NewPortPool(netip.MustParseAddr("127.0.0.1"), r[0], r[1], 0); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("range %v: %v", r, err)
		}
	}
}
