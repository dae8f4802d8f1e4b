// Package webrtctest is a WebRTC test publisher for the webrtc leg's tests:
// a pion peer connection on loopback with one Opus audio track, sending
// packets a test encoded (EncodeOpus) with browser-like RTP: 48 kHz
// timestamps, 960 ticks per 20 ms packet, one SSRC.
package webrtctest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// ErrNotConnected: the client did not reach "connected" in time.
var ErrNotConnected = errors.New("webrtctest: not connected")

// Client publishes one Opus track. Its methods are for one test goroutine.
type Client struct {
	pc        *webrtc.PeerConnection
	track     *webrtc.TrackLocalStaticRTP
	connected chan struct{}
	seq       uint16
	ts        uint32
}

// Options shape the offer.
type Options struct {
	// NoAudio offers only a data channel (an offer the engine must refuse).
	NoAudio bool
	// PCMUOnly offers audio without Opus.
	PCMUOnly bool
}

// NewClient makes a publisher on loopback (no mDNS, loopback candidates only).
func NewClient(opts Options) (*Client, error) {
	var me webrtc.MediaEngine
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
	pt := webrtc.PayloadType(111)
	if opts.PCMUOnly {
		codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}
		pt = 0
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: codec, PayloadType: pt}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("webrtctest: codec: %w", err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(&me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("webrtctest: peer connection: %w", err)
	}
	c := &Client{pc: pc, connected: make(chan struct{}), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(c.connected) })
		}
	})
	if opts.NoAudio {
		if _, err := pc.CreateDataChannel("nothing", nil); err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("webrtctest: data channel: %w", err)
		}
		return c, nil
	}
	tr, err := webrtc.NewTrackLocalStaticRTP(codec, "audio", "webrtctest")
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("webrtctest: track: %w", err)
	}
	if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("webrtctest: transceiver: %w", err)
	}
	c.track = tr
	return c, nil
}

// Offer creates the offer with every candidate gathered (non-trickle, as
// WHIP clients send it).
func (c *Client) Offer(ctx context.Context) (string, error) {
	off, err := c.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("webrtctest: offer: %w", err)
	}
	done := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(off); err != nil {
		return "", fmt.Errorf("webrtctest: set local: %w", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return c.pc.LocalDescription().SDP, nil
}

// Answer applies the engine's answer.
func (c *Client) Answer(sdp string) error {
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("webrtctest: set remote: %w", err)
	}
	return nil
}

// WaitConnected waits for ICE + DTLS.
func (c *Client) WaitConnected(ctx context.Context) error {
	select {
	case <-c.connected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotConnected, ctx.Err())
	}
}

// Send writes Opus packets as RTP, one every pace (0: as fast as it can,
// which loopback UDP may not carry without loss). skip lists packet
// indexes to leave out (loss) without breaking the sequence numbering.
func (c *Client) Send(ctx context.Context, packets [][]byte, pace time.Duration, skip map[int]bool) error {
	var tick *time.Ticker
	if pace > 0 {
		tick = time.NewTicker(pace)
		defer tick.Stop()
	}
	for i, p := range packets {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: c.seq, Timestamp: c.ts, Marker: i == 0}, Payload: p}
		c.seq++
		c.ts += dsp.OpusRTPTicksPerFrame
		if skip[i] {
			continue
		}
		if err := c.track.WriteRTP(&pkt); err != nil {
			return fmt.Errorf("webrtctest: write: %w", err)
		}
		if tick != nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// Close closes the peer connection (the engine sees a DTLS close).
func (c *Client) Close() error { return c.pc.Close() }

// EncodeOpus encodes 8 kHz mono samples as 20 ms Opus packets (a partial
// last frame is padded with silence).
func EncodeOpus(pcm []int16, bitrate int) ([][]byte, error) {
	enc, err := dsp.NewOpusEncoder(bitrate)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	buf := make([]byte, dsp.OpusMaxPacketBytes)
	var frame [dsp.FrameSamples]int16
	for off := 0; off < len(pcm); off += dsp.FrameSamples {
		clear(frame[:])
		copy(frame[:], pcm[off:])
		n, err := enc.Encode(frame[:], buf)
		if err != nil {
			return nil, err
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
	return out, nil
}
