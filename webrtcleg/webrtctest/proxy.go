package webrtctest

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
)

// Proxy relays one client's UDP between the client and an engine's ICE
// port, so a test can cut the path without either side closing anything:
// a peer that vanishes (lost network, crashed browser) rather than hanging
// up. Route an offer/answer through it with StripCandidates on the offer
// (the engine then only learns the proxy, as a peer-reflexive candidate)
// and Redirect on the answer.
type Proxy struct {
	front  *net.UDPConn // the client talks to this
	back   *net.UDPConn // connected to the engine
	target int          // the engine's port, as the answer names it
	cut    atomic.Bool
	wg     sync.WaitGroup
}

// NewProxy relays to the engine's UDP address (loopback).
func NewProxy(engine *net.UDPAddr) (*Proxy, error) {
	front, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("webrtctest: proxy: %w", err)
	}
	back, err := net.DialUDP("udp4", nil, engine)
	if err != nil {
		_ = front.Close()
		return nil, fmt.Errorf("webrtctest: proxy: %w", err)
	}
	p := &Proxy{front: front, back: back, target: engine.Port}
	var client atomic.Pointer[net.UDPAddr]
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			client.Store(from)
			if !p.cut.Load() {
				_, _ = back.Write(buf[:n])
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if c := client.Load(); c != nil && !p.cut.Load() {
				_, _ = front.WriteToUDP(buf[:n], c)
			}
		}
	}()
	return p, nil
}

// Cut drops every packet from now on, both ways.
func (p *Proxy) Cut() { p.cut.Store(true) }

// Close stops the relay and waits for its goroutines.
func (p *Proxy) Close() error {
	err := p.front.Close()
	_ = p.back.Close()
	p.wg.Wait()
	return err
}

var candidateLine = regexp.MustCompile(`(?m)^a=candidate:.*\r?\n`)

// StripCandidates removes the candidates from an SDP.
func StripCandidates(sdp string) string { return candidateLine.ReplaceAllString(sdp, "") }

// Redirect rewrites the engine's host candidates in an answer to the proxy.
func (p *Proxy) Redirect(answer string) string {
	port := strconv.Itoa(p.front.LocalAddr().(*net.UDPAddr).Port)
	re := regexp.MustCompile(` ` + strconv.Itoa(p.target) + ` typ host`)
	return re.ReplaceAllString(answer, " "+port+" typ host")
}
