package sip

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// PortPool hands out one UDP socket per call from an even-numbered RTP port
// range. A released port drains (stays reserved) for a while before reuse,
// so late packets of a finished call never reach the next call that would
// otherwise get the same port. RTCP (port+1) is not bound: we only listen
// and never need receiver reports to decide anything.
//
// The pool's mutex guards call setup and teardown only, never the media path.
type PortPool struct {
	ip       netip.Addr
	min, max int
	drain    time.Duration
	now      func() time.Time

	mu       sync.Mutex
	next     int
	inUse    map[int]bool
	draining map[int]time.Time
}

// NewPortPool creates a pool binding on ip over the even ports of [min, max].
func NewPortPool(ip netip.Addr, min, max int, drain time.Duration) (*PortPool, error) {
	if min < 1024 || max > 65534 || min > max {
		return nil, fmt.Errorf("%w: rtp port range %d-%d", ErrInvalidConfig, min, max)
	}
	if min%2 == 1 {
		min++
	}
	if min > max {
		return nil, fmt.Errorf("%w: rtp port range %d-%d holds no even port", ErrInvalidConfig, min, max)
	}
	return &PortPool{
		ip: ip, min: min, max: max, drain: drain, now: time.Now,
		next: min, inUse: map[int]bool{}, draining: map[int]time.Time{},
	}, nil
}

// Size is the number of ports the pool can hand out.
func (p *PortPool) Size() int { return (p.max-p.min)/2 + 1 }

// Acquire binds the next free even port. Ports another process holds are
// skipped, not fatal. It returns ErrNoPorts when every port is busy or
// draining.
func (p *PortPool) Acquire() (*net.UDPConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for range p.Size() {
		port := p.next
		p.next += 2
		if p.next > p.max {
			p.next = p.min
		}
		if p.inUse[port] {
			continue
		}
		if until, ok := p.draining[port]; ok {
			if now.Before(until) {
				continue
			}
			delete(p.draining, port)
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
		if err != nil {
			continue // taken by someone else; try the next one
		}
		p.inUse[port] = true
		return conn, nil
	}
	return nil, fmt.Errorf("%w: %d-%d (%d in use, %d draining)", ErrNoPorts, p.min, p.max, len(p.inUse), len(p.draining))
}

// Release puts port into drain; the caller has closed its socket.
func (p *PortPool) Release(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.inUse[port] {
		return
	}
	delete(p.inUse, port)
	if p.drain > 0 {
		p.draining[port] = p.now().Add(p.drain)
	}
}

// InUse reports how many ports are bound to live calls.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse)
}
