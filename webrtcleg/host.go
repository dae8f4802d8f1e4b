package webrtcleg

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
)

// Defaults of Config.
const (
	// DefaultUDPListen is the ICE UDP port's default address.
	DefaultUDPListen = "127.0.0.1:8443"
	// DefaultConnectTimeout bounds ICE + DTLS after the answer. Browsers
	// connect in well under a second on a LAN; 15 s leaves room for TURN
	// relays and slow consent checks.
	DefaultConnectTimeout = 15 * time.Second
	// DefaultMediaTimeout is how long a connected peer may stay silent
	// (no RTP at all) before the session gives up with ErrNoMedia.
	DefaultMediaTimeout = 5 * time.Second
	// DefaultDisconnectTimeout: no ICE traffic this long is "disconnected",
	// which ends the session (the AMD verdict would be built on a hole).
	DefaultDisconnectTimeout = 3 * time.Second
	// DefaultFrameQueue is how many 20 ms frames may wait for the call's
	// owner (1 s). The owner reads far faster than real time, so a full
	// queue means it is stuck; frames beyond are dropped and counted.
	DefaultFrameQueue = 50
	// gatherTimeout bounds candidate gathering. With one UDP mux and no
	// STUN it is immediate; the bound is for a misconfigured host.
	gatherTimeout = 5 * time.Second
	// opusPayloadType is what we answer for Opus when the offer lets pion
	// choose (browsers use 111 too).
	opusPayloadType = 111
	// receiveMTU bounds one RTP packet read from a track.
	receiveMTU = 1500
)

// Config configures a Host.
type Config struct {
	// UDPListen is the single UDP address every peer connection's ICE
	// shares ("127.0.0.1:8443"; ":8443" for every interface).
	UDPListen string
	// PublicIPs, when set, replace the host candidates' addresses in
	// answers (1:1 NAT, e.g. a cloud VM's public address).
	PublicIPs []string
	// ConnectTimeout bounds ICE + DTLS after the answer.
	ConnectTimeout time.Duration
	// MediaTimeout bounds the wait for the first audio packet once connected.
	MediaTimeout time.Duration
	// DisconnectTimeout: no ICE traffic this long ends the session.
	DisconnectTimeout time.Duration
	// FrameQueue is the per-session frame queue length.
	FrameQueue int
	// Log receives the host's and pion's logs.
	Log zerolog.Logger
}

func (c *Config) applyDefaults() {
	if c.UDPListen == "" {
		c.UDPListen = DefaultUDPListen
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MediaTimeout <= 0 {
		c.MediaTimeout = DefaultMediaTimeout
	}
	if c.DisconnectTimeout <= 0 {
		c.DisconnectTimeout = DefaultDisconnectTimeout
	}
	if c.FrameQueue <= 0 {
		c.FrameQueue = DefaultFrameQueue
	}
}

// Validate reports the first invalid field, named as amdd's config spells it.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.UDPListen)
	if err != nil {
		return fmt.Errorf("%w: webrtc_udp %q: %w", ErrInvalidConfig, c.UDPListen, err)
	}
	if host != "" && net.ParseIP(host) == nil {
		return fmt.Errorf("%w: webrtc_udp %q: host must be an IP address", ErrInvalidConfig, c.UDPListen)
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("%w: webrtc_public_ips: %q is not an IP address", ErrInvalidConfig, ip)
		}
	}
	return nil
}

// Host answers WebRTC offers. It owns the one ICE UDP socket all peer
// connections share (so a firewall needs one port, not a range) and the
// sessions it made, which Close ends.
type Host struct {
	cfg  Config
	log  zerolog.Logger
	conn net.PacketConn
	mux  ice.UDPMux
	api  *webrtc.API

	mu       sync.Mutex
	closed   bool
	sessions map[*Session]struct{}
	cert     *webrtc.Certificate // shared DTLS certificate (see certificate)
}

// certRenewBefore: the shared certificate is replaced this long before it
// expires (pion makes them valid for a month), so no session starts with
// one about to lapse.
const certRenewBefore = 24 * time.Hour

// certificate returns the DTLS certificate every session presents. Making
// one per peer connection (pion's default) was 40% of Accept's CPU; a
// server gains nothing from a fresh one per call, since peers pin the
// fingerprint sent in our answer, not an identity.
func (h *Host) certificate() (webrtc.Certificate, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cert == nil || time.Until(h.cert.Expires()) < certRenewBefore {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("webrtc: dtls key: %w", err)
		}
		c, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("webrtc: dtls certificate: %w", err)
		}
		h.cert = c
	}
	return *h.cert, nil
}

// NewHost binds the ICE UDP port and prepares the pion API: Opus only, no
// interceptors (we neither send media nor need NACK/TWCC to listen), host
// candidates on the mux (loopback included, no mDNS).
func NewHost(cfg Config) (*Host, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conn, err := net.ListenPacket("udp", cfg.UDPListen)
	if err != nil {
		return nil, fmt.Errorf("webrtc: listen %s: %w", cfg.UDPListen, err)
	}
	logs := pionLogs{cfg.Log.With().Str("component", "webrtc").Logger()}
	mux := webrtc.NewICEUDPMux(logs.NewLogger("udpmux"), conn)

	var me webrtc.MediaEngine
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: opusPayloadType,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		_ = mux.Close()
		_ = conn.Close()
		return nil, fmt.Errorf("webrtc: register opus: %w", err)
	}
	var se webrtc.SettingEngine
	se.LoggerFactory = logs
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(cfg.DisconnectTimeout, 2*cfg.DisconnectTimeout, time.Second)
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(&me), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	h := &Host{cfg: cfg, log: cfg.Log, conn: conn, mux: mux, api: api, sessions: map[*Session]struct{}{}}
	h.log.Info().Str("udp", conn.LocalAddr().String()).Msg("webrtc: ICE UDP mux listening")
	return h, nil
}

// Addr is the bound ICE UDP address.
func (h *Host) Addr() net.Addr { return h.conn.LocalAddr() }

// SessionOptions are one session's identity.
type SessionOptions struct {
	// ID is the call's ID (log field, nothing else).
	ID string
	// Log is the session's logger; the host's when zero.
	Log *zerolog.Logger
}

// Accept answers an offer: it checks it (CheckOffer), builds the peer
// connection, applies the offer, gathers the host candidates and returns
// the session with the complete (non-trickle) SDP answer. The session runs
// until the peer goes away or Hangup/Close; ctx bounds only the answering.
func (h *Host) Accept(ctx context.Context, offer string, opts SessionOptions) (*Session, string, error) {
	if _, err := CheckOffer(offer); err != nil {
		return nil, "", err
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, "", ErrClosed
	}
	cert, err := h.certificate()
	if err != nil {
		return nil, "", err
	}
	pc, err := h.api.NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{cert}})
	if err != nil {
		return nil, "", fmt.Errorf("webrtc: new peer connection: %w", err)
	}
	log := h.log
	if opts.Log != nil {
		log = *opts.Log
	}
	s := newSession(h, pc, opts.ID, log)
	pc.OnTrack(s.onTrack)
	pc.OnConnectionStateChange(s.onState)

	fail := func(err error) (*Session, string, error) {
		s.shutdown()
		s.wait()
		return nil, "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrBadOffer, err))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: create answer: %w", ErrBadOffer, err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("webrtc: set local description: %w", err))
	}
	gt := time.NewTimer(gatherTimeout)
	defer gt.Stop()
	select {
	case <-gathered:
	case <-gt.C:
		return fail(fmt.Errorf("webrtc: ICE gathering took more than %v", gatherTimeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	sdp := pc.LocalDescription().SDP
	if !answersOpus(sdp) {
		// pion rejected every audio section (port 0): the offer's Opus was
		// not usable after all (e.g. an unsupported profile).
		return fail(fmt.Errorf("%w: no audio section could be accepted", ErrNoOpus))
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return fail(ErrClosed)
	}
	h.sessions[s] = struct{}{}
	h.mu.Unlock()
	s.startConnectWatch(h.cfg.ConnectTimeout)
	return s, sdp, nil
}

// answersOpus reports whether an answer accepted an audio section with Opus.
func answersOpus(sdp string) bool {
	inAudio := false
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "m="):
			inAudio = strings.HasPrefix(line, "m=audio ") && !strings.HasPrefix(line, "m=audio 0 ")
		case inAudio && strings.HasPrefix(line, "a=rtpmap:") && strings.Contains(strings.ToLower(line), "opus/48000"):
			return true
		}
	}
	return false
}

func (h *Host) forget(s *Session) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
}

// Sessions is the number of live sessions.
func (h *Host) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// Close ends every session still open and releases the UDP port.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	live := make([]*Session, 0, len(h.sessions))
	for s := range h.sessions {
		live = append(live, s)
	}
	h.mu.Unlock()
	for _, s := range live {
		_ = s.Close()
	}
	return errors.Join(h.mux.Close(), ignoreClosed(h.conn.Close()))
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
