// Package testphone is the SIP test phone: a UAS that tests, demos and the
// load generator call. Per INVITE it rings, answers with the first codec
// it shares with the offer, streams a WAV file as real-time RTP (PCMU, PCMA
// or Opus), and optionally hangs up, rejects, or never answers — chosen
// from the Request-URI (see Behaviour).
package testphone

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/amd-engine/amd/audiofile"
	amdsip "github.com/amd-engine/amd/sip"
	"github.com/emiago/sipgo"
	ssip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// ErrConfig is wrapped by configuration errors (bad reject code, missing
// audio, unparsable media IP).
var ErrConfig = errors.New("testphone: invalid config")

// Config of a Phone.
type Config struct {
	// ListenAddr is the SIP UDP address, e.g. 127.0.0.1:5070 (port 0 picks one).
	ListenAddr string
	// MediaIP is where our RTP comes from; empty means ListenAddr's host.
	MediaIP string
	// Audio is a directory of <name>.wav files or a single file every
	// answered call plays.
	Audio string
	// RingDelay between 180 and 200 (default 1 s).
	RingDelay time.Duration
	// Codecs in preference order (default pcmu, pcma, opus).
	Codecs []amdsip.Codec
	// Reject, when set, rejects every call with this status code.
	Reject int
}

// CallRecord is what happened to one call, for tests to assert on.
type CallRecord struct {
	User    string
	Codec   amdsip.Codec
	Outcome string // "answered", "rejected", "cancelled", "failed"
	// Packets of RTP sent.
	Packets int
	// HungUp is true when the phone sent BYE; RemoteBye when it got one.
	HungUp, RemoteBye bool
	// Headers are the INVITE's X- headers, as a dialler under test sent them.
	Headers map[string]string
}

// Phone is a running test phone.
type Phone struct {
	cfg  Config
	log  zerolog.Logger
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	dua  sipgo.DialogUA
	conn net.PacketConn
	addr netip.AddrPort
	mip  netip.Addr

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the serving goroutine
	calls  sync.WaitGroup // one per INVITE handler

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	dialogs map[string]*sipgo.DialogServerSession
	records []CallRecord
	cache   map[string][]int16
	index   map[string]string // wav base name → path below the audio dir
}

// New validates cfg and returns a phone; Start serves it.
func New(cfg Config, log zerolog.Logger) (*Phone, error) {
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:5070"
	}
	if cfg.RingDelay == 0 {
		cfg.RingDelay = time.Second
	}
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = amdsip.DefaultCodecs
	}
	if cfg.Reject != 0 && (cfg.Reject < 400 || cfg.Reject > 699) {
		return nil, fmt.Errorf("%w: reject code %d: want 400..699", ErrConfig, cfg.Reject)
	}
	if cfg.Audio != "" {
		if _, err := os.Stat(cfg.Audio); err != nil {
			return nil, fmt.Errorf("%w: audio: %w", ErrConfig, err)
		}
	}
	return &Phone{cfg: cfg, log: log.With().Str("component", "testphone").Logger(),
		dialogs: map[string]*sipgo.DialogServerSession{}, cache: map[string][]int16{}}, nil
}

// Start binds the SIP socket and serves calls until Close.
func (p *Phone) Start(ctx context.Context) error {
	conn, err := net.ListenPacket("udp", p.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("testphone: listen: %w", err)
	}
	p.conn = conn
	p.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	p.addr = netip.AddrPortFrom(p.addr.Addr().Unmap(), p.addr.Port())
	p.mip = p.addr.Addr()
	if p.cfg.MediaIP != "" {
		if p.mip, err = netip.ParseAddr(p.cfg.MediaIP); err != nil {
			conn.Close()
			return fmt.Errorf("%w: media ip: %w", ErrConfig, err)
		}
	} else if p.mip.IsUnspecified() {
		p.mip = netip.MustParseAddr("127.0.0.1")
	}
	host := p.mip.String()
	slogger := amdsip.SlogFromZerolog(p.log)
	p.ua, err = sipgo.NewUA(sipgo.WithUserAgent("amd-testphone"), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransactionLayerOptions(ssip.WithTransactionLayerLogger(slogger),
			ssip.WithTransactionLayerUnhandledResponseHandler(func(r *ssip.Response) {
				p.log.Debug().Str("response", r.Short()).Msg("response outside any transaction")
			})),
		sipgo.WithUserAgentTransportLayerOptions(ssip.WithTransportLayerLogger(slogger)))
	if err != nil {
		conn.Close()
		return err
	}
	p.srv, _ = sipgo.NewServer(p.ua, sipgo.WithServerLogger(slogger))
	cli, err := sipgo.NewClient(p.ua, sipgo.WithClientLogger(slogger), sipgo.WithClientHostname(host), sipgo.WithClientPort(int(p.addr.Port())),
		sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	if err != nil {
		p.ua.Close()
		conn.Close()
		return err
	}
	p.dua = sipgo.DialogUA{Client: cli, ContactHDR: ssip.ContactHeader{
		Address: ssip.Uri{Scheme: "sip", User: "phone", Host: host, Port: int(p.addr.Port())}}}
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(p.onAck)
	p.srv.OnBye(p.onBye)
	p.srv.OnOptions(func(req *ssip.Request, tx ssip.ServerTransaction) {
		tx.Respond(ssip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.srv.ServeUDP(conn)
	}()
	for i := 0; ; i++ {
		if c, _ := p.ua.TransportLayer().GetConnection("udp", conn.LocalAddr().String()); c != nil {
			break
		}
		if i == 2000 {
			p.Close()
			return errors.New("testphone: listener not ready")
		}
		time.Sleep(time.Millisecond)
	}
	p.log.Info().Stringer("listen", p.addr).Str("audio", p.cfg.Audio).Msg("test phone ready")
	return nil
}

// Addr is the phone's SIP address.
func (p *Phone) Addr() netip.AddrPort { return p.addr }

// Records returns what happened to every finished call so far.
func (p *Phone) Records() []CallRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]CallRecord(nil), p.records...)
}

// Close hangs up live calls and stops the phone.
func (p *Phone) Close() error {
	if p.cancel == nil {
		return nil
	}
	p.closeOnce.Do(func() { p.closeErr = p.close() })
	return p.closeErr
}

func (p *Phone) close() error {
	p.cancel()
	// Live calls send their BYE (or 480) while the socket is still open;
	// a call stuck waiting for an ACK is not waited for past a bound.
	done := make(chan struct{})
	go func() {
		p.calls.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(6 * time.Second):
	}
	p.conn.Close()
	p.wg.Wait()
	err := p.ua.Close()
	<-done // handlers end once their transactions die with the transport
	return err
}

func (p *Phone) onAck(req *ssip.Request, tx ssip.ServerTransaction) {
	if d := p.dialog(req); d != nil {
		d.ReadAck(req, tx)
	}
}

func (p *Phone) onBye(req *ssip.Request, tx ssip.ServerTransaction) {
	d := p.dialog(req)
	if d == nil {
		tx.Respond(ssip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	d.ReadBye(req, tx)
}

func (p *Phone) dialog(req *ssip.Request) *sipgo.DialogServerSession {
	id, err := ssip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dialogs[id]
}

func (p *Phone) record(r CallRecord) {
	p.mu.Lock()
	p.records = append(p.records, r)
	p.mu.Unlock()
	p.log.Info().Str("user", r.User).Str("outcome", r.Outcome).Str("codec", string(r.Codec)).Int("packets", r.Packets).Msg("call finished")
}

// onInvite runs one call start to finish on sipgo's handler goroutine.
func (p *Phone) onInvite(req *ssip.Request, tx ssip.ServerTransaction) {
	p.calls.Add(1)
	defer p.calls.Done()
	rec := CallRecord{User: req.Recipient.User, Headers: map[string]string{}}
	for _, h := range req.Headers() {
		if n := h.Name(); len(n) > 2 && strings.EqualFold(n[:2], "x-") {
			rec.Headers[n] = h.Value()
		}
	}
	params := map[string]string{}
	if req.Recipient.UriParams != nil {
		for k, v := range req.Recipient.UriParams.Items() {
			params[k] = v
		}
	}
	b, err := ParseBehaviour(req.Recipient.User, params, Behaviour{RingDelay: p.cfg.RingDelay, Codecs: p.cfg.Codecs, Reject: p.cfg.Reject})
	if err != nil {
		p.log.Warn().Err(err).Msg("bad request-uri")
		tx.Respond(ssip.NewResponseFromRequest(req, 404, "Not Found", nil))
		rec.Outcome = "rejected"
		p.record(rec)
		return
	}
	dlg, err := p.dua.ReadInvite(req, tx)
	if err != nil {
		p.log.Warn().Err(err).Msg("read invite")
		return
	}
	defer dlg.Close()
	if b.Reject != 0 && !b.Early {
		dlg.Respond(b.Reject, reasonPhrase(b.Reject), nil)
		rec.Outcome = "rejected"
		p.record(rec)
		return
	}
	rm, err := amdsip.ParseSDP(req.Body())
	var f amdsip.Format
	if err == nil {
		f, err = rm.SelectOffer(b.Codecs)
	}
	if err != nil {
		dlg.Respond(488, "Not Acceptable Here", nil)
		rec.Outcome = "rejected"
		p.record(rec)
		return
	}
	rec.Codec = f.Codec
	var pcm []int16
	if b.Audio != "" {
		if pcm, err = p.audio(b.Audio); err != nil {
			p.log.Warn().Err(err).Msg("audio")
			dlg.Respond(404, "Not Found", nil)
			rec.Outcome = "rejected"
			p.record(rec)
			return
		}
	}
	rtpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.mip, 0)))
	if err != nil {
		dlg.Respond(500, "Server Internal Error", nil)
		return
	}
	defer rtpConn.Close()
	answer, err := amdsip.BuildSDP(amdsip.SessionParams{SessionID: rand.Uint64() >> 1, Version: 1, UserName: "phone",
		Addr:   netip.AddrPortFrom(p.mip, uint16(rtpConn.LocalAddr().(*net.UDPAddr).Port)),
		Codecs: []amdsip.Codec{f.Codec}, PayloadTypes: map[amdsip.Codec]uint8{f.Codec: f.PayloadType},
		DTMF: rm.HasDTMF, DTMFPayloadType: rm.DTMFPayloadType, Ptime: answerPtime(b, f.Codec)})
	if err != nil {
		dlg.Respond(500, "Server Internal Error", nil)
		return
	}
	sdpHdr := ssip.NewHeader("Content-Type", "application/sdp")
	dlg.Respond(180, "Ringing", nil)

	st := &streamer{conn: rtpConn, dst: rm.Addr, format: f, dtmfPT: rm.DTMFPayloadType, hasDTMF: rm.HasDTMF,
		lossPct: b.LossPct, reorderPct: b.ReorderPct, ptimeMs: b.PtimeMs}
	if err := st.init(); err != nil {
		dlg.Respond(500, "Server Internal Error", nil)
		return
	}
	streamCtx, stopStream := context.WithCancel(p.ctx)
	defer stopStream()
	fileDone := make(chan struct{})
	var swg sync.WaitGroup
	startStream := func() {
		if b.NoRTP {
			close(fileDone)
			return
		}
		swg.Add(1)
		go func() {
			defer swg.Done()
			st.run(streamCtx, pcm, b.DTMF, fileDone)
		}()
	}
	defer func() {
		stopStream()
		swg.Wait()
		rec.Packets = st.packets
		p.record(rec)
	}()

	var ringDone <-chan struct{} // nil (never) for noanswer
	switch {
	case b.Early:
		dlg.Respond(183, "Session Progress", answer, sdpHdr)
		startStream()
		ringDone = fileDone // answer (or reject) when the early media ends
	case !b.NoAnswer:
		rang := make(chan struct{})
		t := time.AfterFunc(b.RingDelay, func() { close(rang) })
		defer t.Stop()
		ringDone = rang
	}
	select {
	case <-ringDone:
	case <-dlg.Context().Done():
		rec.Outcome = "cancelled"
		return
	case <-p.ctx.Done():
		dlg.Respond(480, "Temporarily Unavailable", nil)
		rec.Outcome = "failed"
		return
	}
	if b.Reject != 0 {
		dlg.Respond(b.Reject, reasonPhrase(b.Reject), nil)
		rec.Outcome = "rejected"
		return
	}
	p.mu.Lock()
	p.dialogs[dlg.ID] = dlg
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.dialogs, dlg.ID)
		p.mu.Unlock()
	}()
	// RespondSDP returns once our 200 is ACKed.
	if err := dlg.RespondSDP(answer); err != nil {
		if dlg.Context().Err() != nil {
			// The caller's BYE overtook its ACK (sipgo handles requests
			// concurrently): the call was answered and is over.
			rec.Outcome, rec.RemoteBye = "answered", true
			return
		}
		p.log.Warn().Err(err).Msg("answer not acknowledged")
		rec.Outcome = "failed"
		return
	}
	rec.Outcome = "answered"
	if !b.Early {
		startStream()
	}
	var byeAfter <-chan time.Time
	if b.ByeAfter > 0 {
		byeAfter = time.After(b.ByeAfter)
	}
	var atEnd <-chan struct{}
	if b.ByeAtEnd {
		atEnd = fileDone
	}
	select {
	case <-dlg.Context().Done():
		rec.RemoteBye = true
		return
	case <-byeAfter:
	case <-atEnd:
	case <-p.ctx.Done():
	}
	stopStream()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// BYE to the caller's Contact, from our listening socket (sipgo's own
	// Bye sets no local address and may open an ephemeral socket).
	bye := ssip.NewRequest(ssip.BYE, req.Contact().Address)
	bye.SetTransport(req.Transport())
	bye.Laddr = ssip.Addr{IP: net.IP(p.addr.Addr().AsSlice()), Port: int(p.addr.Port())}
	if err := dlg.WriteBye(ctx, bye); err != nil {
		p.log.Warn().Err(err).Msg("bye")
	}
	rec.HungUp = true
}

// audio loads (and caches) the named file.
func (p *Phone) audio(name string) ([]int16, error) {
	path := p.cfg.Audio
	if path == "" {
		return nil, fmt.Errorf("%w: no audio configured for %q", ErrConfig, name)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, name+".wav")
		if _, err := os.Stat(path); err != nil {
			// Not at the top: look the name up anywhere below, so a
			// labelled corpus (human/…, machine/…) serves as is.
			if found, ok := p.findBelow(name); ok {
				path = found
			}
		}
	}
	p.mu.Lock()
	pcm, ok := p.cache[path]
	p.mu.Unlock()
	if ok {
		return pcm, nil
	}
	pcm, err := LoadWAV(path)
	if errors.Is(err, ErrWAV) {
		// Not the plain 8 kHz mono WAV the fast path reads: let the
		// analyzer's reader resample it or decode Ogg Opus / pcap.
		a, aerr := audiofile.Load(path)
		if aerr != nil {
			return nil, fmt.Errorf("testphone: %s: %w", path, aerr)
		}
		pcm, err = a.Samples, nil
	}
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cache[path] = pcm
	p.mu.Unlock()
	return pcm, nil
}

// playable are the extensions the recursive lookup considers.
var playable = map[string]bool{".wav": true, ".opus": true, ".ogg": true, ".pcap": true, ".pcapng": true}

// findBelow finds <name>.wav (or .opus/.ogg/.pcap) anywhere under the audio directory; the
// index is built once, on first use.
func (p *Phone) findBelow(name string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.index == nil {
		p.index = map[string]string{}
		filepath.WalkDir(p.cfg.Audio, func(path string, d os.DirEntry, err error) error {
			ext := strings.ToLower(filepath.Ext(path))
			if err != nil || d.IsDir() || !playable[ext] {
				return nil
			}
			base := strings.TrimSuffix(d.Name(), filepath.Ext(d.Name()))
			if prev, dup := p.index[base]; !dup || (ext == ".wav" && !strings.EqualFold(filepath.Ext(prev), ".wav")) {
				p.index[base] = path // a WAV wins over an encoded twin
			}
			return nil
		})
	}
	path, ok := p.index[name]
	return path, ok
}

// answerPtime is the packet duration the phone will send, as announced.
func answerPtime(b Behaviour, c amdsip.Codec) int {
	if b.PtimeMs == 0 || c == amdsip.CodecOpus {
		return 20
	}
	return b.PtimeMs
}

func reasonPhrase(code int) string {
	e := amdsip.FinalResponseError{StatusCode: code}
	return strings.TrimSpace(e.ReasonCode())
}
