package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/emiago/sipgo"
	ssip "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
)

// ProgressKind names a step of an outbound call's signalling.
type ProgressKind int

// Progress kinds, in the order a call meets them. Failed, RemoteBye and
// Ended are final: the Progress channel closes after them.
const (
	ProgressTrying     ProgressKind = iota + 1 // 100 Trying received
	ProgressRinging                            // first 18x received
	ProgressEarlyMedia                         // first 18x with SDP: media flows before answer
	ProgressAnswered                           // 200 OK received, ACK sent
	ProgressFailed                             // never answered; Err says why
	ProgressRemoteBye                          // the callee hung up
	ProgressEnded                              // we hung up (BYE after answer)
)

var progressNames = map[ProgressKind]string{
	ProgressTrying: "trying", ProgressRinging: "ringing", ProgressEarlyMedia: "early_media",
	ProgressAnswered: "answered", ProgressFailed: "failed", ProgressRemoteBye: "remote_bye", ProgressEnded: "ended",
}

func (k ProgressKind) String() string {
	if s, ok := progressNames[k]; ok {
		return s
	}
	return fmt.Sprintf("progress(%d)", int(k))
}

// Final reports whether no progress follows k.
func (k ProgressKind) Final() bool {
	return k == ProgressFailed || k == ProgressRemoteBye || k == ProgressEnded
}

// Progress is one signalling step of an OutboundCall.
type Progress struct {
	Kind ProgressKind
	At   time.Time
	// StatusCode and ReasonPhrase of the response behind the step (0 for
	// steps without one, e.g. a timeout).
	StatusCode   int
	ReasonPhrase string
	// Codec chosen by the answer (Answered, EarlyMedia).
	Codec Codec
	// RingDuration is first 18x → 200; ConnectDuration is INVITE → 200.
	RingDuration    time.Duration
	ConnectDuration time.Duration
	// Err is why a call Failed: *FinalResponseError, ErrNoAnswer,
	// ErrNoCodec, ErrCallerHangup, ErrTransport, ErrClosed.
	Err error
}

// FailureReason maps a Failed progress error to the dialout API's reason
// ("486 Busy Here") and reasonCode ("Busy Here").
func FailureReason(err error) (reason, reasonCode string) {
	var fr *FinalResponseError
	switch {
	case errors.As(err, &fr):
		return fr.Reason(), fr.ReasonCode()
	case errors.Is(err, ErrNoAnswer):
		return "No Answer", "No Answer"
	case errors.Is(err, ErrNoCodec), errors.Is(err, ErrSDP):
		// An answer we cannot hear is, for the caller, a refused session.
		return "488 Not Acceptable Here", "Not Acceptable Here"
	case errors.Is(err, ErrCallerHangup):
		return "487 Request Terminated", "Request Terminated"
	case errors.Is(err, ErrTransport):
		// RFC 3261 §8.1.3.1: a transaction timeout is treated as 408.
		return "408 Request Timeout", "Request Timeout"
	case err == nil:
		return "", ""
	}
	return "500 Server Internal Error", "Server Internal Error"
}

// DialRequest describes one outbound call.
type DialRequest struct {
	// CallID is the application's id; it is logged and sent as X-AMD-Call-ID.
	CallID string
	// Target is sip:user@host[:port], tel:+E164 or digits.
	Target string
	// Caller fills From: digits, +E164 or a sip: URI; empty means the UA name.
	Caller string
	// Trunk names the trunk for number targets (empty: the first).
	Trunk string
	// Timeout without answer before CANCEL; 0 means DefaultDialTimeout.
	Timeout time.Duration
	// Codecs to offer in preference order; empty means DefaultCodecs.
	Codecs []Codec
	// Headers are extra INVITE headers (e.g. X-Campaign); names must be
	// SIP tokens and may not replace the headers the dialog depends on.
	Headers map[string]string
	// MediaTimeout overrides Config.MediaTimeout for this call when > 0.
	MediaTimeout time.Duration
}

// reservedHeaders are built by the UA; letting a request override them
// would break the dialog or the SDP.
var reservedHeaders = map[string]bool{
	"via": true, "from": true, "to": true, "call-id": true, "cseq": true, "contact": true,
	"content-type": true, "content-length": true, "max-forwards": true, "route": true,
	"record-route": true, "authorization": true, "proxy-authorization": true,
}

func validateHeaders(h map[string]string) error {
	for k, v := range h {
		if k == "" || reservedHeaders[strings.ToLower(k)] || strings.IndexFunc(k, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-.!%*_+`'~", r))
		}) >= 0 {
			return fmt.Errorf("%w: header name %q", ErrInvalidHeader, k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("%w: header %s value has a line break", ErrInvalidHeader, k)
		}
	}
	return nil
}

// OutboundCall is one call we placed. Its signalling runs on a goroutine of
// its own until the answer; from then on nothing happens until the callee's
// BYE or our hangup, so that goroutine ends and whichever comes first
// finishes the call (a goroutine's stack would otherwise be held for the
// whole call). The owner reads Progress and Media and calls Hangup/Close.
type OutboundCall struct {
	ua        *UA
	req       DialRequest
	log       zerolog.Logger
	sipCallID string
	target    string
	media     *MediaSession
	offered   []Codec
	trunk     *Trunk

	dlg        atomic.Pointer[sipgo.DialogClientSession]
	progress   chan Progress
	waitCancel context.CancelCauseFunc
	hangupOnce sync.Once
	hangup     context.Context // cancelled by requestHangup
	hangupNow  context.CancelFunc
	endOnce    sync.Once // the answered call's end: remote BYE or our hangup
	done       chan struct{}
	closeOnce  sync.Once
	answered   atomic.Bool
	chosen     atomic.Pointer[Format]
	stopCtx    func() bool // set before run starts; called by run only

	// run-goroutine only
	invitedAt, ringingAt  time.Time
	sentTrying, sentEarly bool
}

// Dial allocates an RTP port, sends the INVITE and returns at once; the
// call's progress arrives on Progress(). Cancelling ctx hangs the call up
// (CANCEL before answer, BYE after).
func (u *UA) Dial(ctx context.Context, req DialRequest) (*OutboundCall, error) {
	select {
	case <-u.started:
	default:
		return nil, fmt.Errorf("%w: ua not started", ErrClosed)
	}
	if u.ctx.Err() != nil {
		return nil, ErrClosed
	}
	recipient, trunk, err := resolveTarget(req.Target, req.Trunk, u.cfg.Trunks)
	if err != nil {
		return nil, err
	}
	codecs := req.Codecs
	if len(codecs) == 0 {
		codecs = DefaultCodecs
	}
	formats := make([]Format, 0, len(codecs))
	for _, c := range codecs {
		if !c.Valid() {
			return nil, fmt.Errorf("%w: dial codec %q", ErrNoCodec, c)
		}
		formats = append(formats, Format{c.PayloadType(), c})
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	if err := validateHeaders(req.Headers); err != nil {
		return nil, err
	}
	mediaTimeout := u.cfg.MediaTimeout
	if req.MediaTimeout > 0 {
		mediaTimeout = req.MediaTimeout
	}
	conn, err := u.pool.Acquire()
	if err != nil {
		return nil, err
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	c := &OutboundCall{
		ua: u, req: req, sipCallID: uuid.NewString(), target: uriString(recipient),
		offered: codecs, trunk: trunk,
		progress: make(chan Progress, 8), done: make(chan struct{}),
	}
	// One logger per call, shared with its media session: each With
	// holds a 500-byte context buffer for the call's whole life.
	c.log = u.log.With().Str("callId", req.CallID).Str("sipCallId", c.sipCallID).Logger()
	media := NewMediaSession(conn, MediaOptions{
		Payloads:     NewPayloadMap(formats, PayloadDTMF, true),
		MediaTimeout: mediaTimeout,
		OnClose:      func() { u.pool.Release(port) },
		Log:          &c.log,
		SendSilence:  u.cfg.SendSilence,
	})
	c.media = media
	mediaIP := netip.MustParseAddr(u.cfg.MediaIP)
	offer, err := BuildSDP(SessionParams{
		SessionID: rand.Uint64() >> 1, Version: 1, UserName: u.cfg.UserAgent,
		Addr: netip.AddrPortFrom(mediaIP, uint16(port)), Codecs: codecs,
		DTMF: true, DTMFPayloadType: PayloadDTMF, Ptime: 20,
	})
	if err != nil {
		media.Close()
		return nil, err
	}
	c.hangup, c.hangupNow = context.WithCancel(context.Background())

	invite := ssip.NewRequest(ssip.INVITE, recipient)
	invite.AppendHeader(c.fromHeader())
	invite.AppendHeader(&ssip.ToHeader{Address: ssip.Uri{Scheme: "sip", User: recipient.User, Host: recipient.Host, Port: recipient.Port}})
	cid := ssip.CallIDHeader(c.sipCallID)
	invite.AppendHeader(&cid)
	invite.AppendHeader(ssip.NewHeader("User-Agent", u.cfg.UserAgent))
	invite.AppendHeader(ssip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"))
	if req.CallID != "" {
		invite.AppendHeader(ssip.NewHeader("X-AMD-Call-ID", req.CallID))
	}
	names := make([]string, 0, len(req.Headers))
	for k := range req.Headers {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic order on the wire
	for _, k := range names {
		invite.AppendHeader(ssip.NewHeader(k, req.Headers[k]))
	}
	invite.AppendHeader(ssip.NewHeader("Content-Type", "application/sdp"))
	invite.SetBody(offer)

	// Everything Close touches exists before the call is visible to a
	// concurrent UA shutdown.
	waitCtx, cancel := context.WithCancelCause(context.Background())
	c.waitCancel = cancel
	if err := u.register(c); err != nil {
		cancel(nil)
		media.Close()
		return nil, err
	}
	c.invitedAt = time.Now()
	dlg, err := u.dua.WriteInvite(waitCtx, invite)
	if err != nil {
		cancel(nil)
		u.unregister(c)
		close(c.progress)
		close(c.done) // a shutdown's Close may already wait on it
		media.Close()
		return nil, fmt.Errorf("%w: invite %s: %v", ErrTransport, c.target, err)
	}
	c.dlg.Store(dlg)
	c.stopCtx = context.AfterFunc(ctx, func() { c.requestHangup() })
	c.log.Info().Str("target", c.target).Int("rtpPort", port).Stringer("timeout", timeout).Msg("INVITE sent")
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		c.run(waitCtx, timeout)
	}()
	return c, nil
}

func (c *OutboundCall) fromHeader() *ssip.FromHeader {
	host := c.ua.cfg.ContactHost
	caller := strings.TrimSpace(c.req.Caller)
	from := &ssip.FromHeader{Address: ssip.Uri{Scheme: "sip", User: c.ua.cfg.UserAgent, Host: host}}
	switch {
	case strings.HasPrefix(strings.ToLower(caller), "sip:"):
		var u ssip.Uri
		if ssip.ParseUri(caller, &u) == nil {
			from.Address = u
		}
	case caller != "":
		user := caller
		if len(user) > 4 && strings.EqualFold(user[:4], "tel:") {
			user = user[4:]
		}
		from.Address.User = user
		from.DisplayName = user
	}
	from.Params = ssip.NewParams()
	from.Params.Add("tag", ssip.GenerateTagN(16))
	return from
}

// Progress delivers the call's signalling steps; it is closed after the
// final one. At most seven values are ever sent, so an owner that reads
// it in its select loop never misses one.
func (c *OutboundCall) Progress() <-chan Progress { return c.progress }

// Media is the call's RTP session; read frames from the owner goroutine.
func (c *OutboundCall) Media() *MediaSession { return c.media }

// SIPCallID is the Call-ID header of the INVITE.
func (c *OutboundCall) SIPCallID() string { return c.sipCallID }

// Target is the Request-URI dialled.
func (c *OutboundCall) Target() string { return c.target }

// Codec is the answered codec, "" before the answer.
func (c *OutboundCall) Codec() Codec {
	if f := c.chosen.Load(); f != nil {
		return f.Codec
	}
	return ""
}

// Done is closed when signalling is over (failed or hung up).
func (c *OutboundCall) Done() <-chan struct{} { return c.done }

func (c *OutboundCall) requestHangup() {
	c.hangupOnce.Do(func() {
		c.waitCancel(ErrCallerHangup)
		c.hangupNow()
	})
}

// Hangup ends the call: CANCEL while it rings, BYE once answered. It
// returns when signalling is over or ctx ends.
func (c *OutboundCall) Hangup(ctx context.Context) error {
	c.requestHangup()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sip: hangup %s: %w", c.sipCallID, ctx.Err())
	}
}

// Close hangs up if needed, waits for signalling to finish and releases
// the RTP port into drain. Safe to call more than once.
func (c *OutboundCall) Close() error {
	c.closeOnce.Do(func() {
		c.requestHangup()
		<-c.done // bounded by SIP transaction timers
		c.media.Close()
		st := c.media.Stats()
		c.log.Info().Uint64("packets", st.Packets).Uint64("lost", st.Lost).Uint64("late", st.Late).
			Uint64("reordered", st.Reordered).Uint64("strangers", st.Strangers).Uint64("malformed", st.Malformed).
			Uint64("decodeErrors", st.DecodeErrors).Uint64("ssrcChanges", st.SSRCChanges).Uint64("dtmf", st.DTMF).
			Uint64("frames", st.Frames).Stringer("remote", st.Remote).Msg("call closed; media stats")
	})
	return nil
}

func (c *OutboundCall) emit(p Progress) {
	p.At = time.Now()
	c.progress <- p // never blocks: at most 7 sends into a buffer of 8
}

// run is the call's signalling goroutine, until the answer. The caller
// holds one count of u.wg for it; an answered call keeps one until its end.
func (c *OutboundCall) run(waitCtx context.Context, timeout time.Duration) {
	timer := time.AfterFunc(timeout, func() { c.waitCancel(ErrNoAnswer) })
	dlg := c.dlg.Load()
	opts := sipgo.AnswerOptions{OnResponse: c.onResponse}
	if c.trunk != nil {
		opts.Username, opts.Password = c.trunk.Username, c.trunk.Password
	}
	err := dlg.WaitAnswer(waitCtx, opts)
	timer.Stop()
	if err != nil {
		c.fail(dlg, waitCtx, err)
		c.end()
		return
	}
	if !c.answer(dlg) {
		c.end()
		return
	}
	// Answered: the end runs on whichever of the two fires first, in the
	// goroutine context.AfterFunc starts then; the other finds endOnce
	// spent. Neither context is of a foreign type, so registering starts
	// no goroutine.
	c.ua.wg.Add(1)
	context.AfterFunc(dlg.Context(), func() { c.endAnswered(dlg, false) })
	context.AfterFunc(c.hangup, func() { c.endAnswered(dlg, true) })
}

// end closes the call's signalling: no progress follows, Done fires.
func (c *OutboundCall) end() {
	c.stopCtx() // the dial context no longer matters
	c.ua.unregister(c)
	close(c.progress)
	close(c.done)
}

// endAnswered finishes an answered call once: BYE first when we hang up,
// then the final progress.
func (c *OutboundCall) endAnswered(dlg *sipgo.DialogClientSession, hangup bool) {
	c.endOnce.Do(func() {
		defer c.ua.wg.Done()
		if hangup {
			ctx, cancel := context.WithTimeout(context.Background(), DefaultHangupTimeout)
			err := c.bye(ctx, dlg)
			cancel()
			if err != nil {
				c.log.Warn().Err(err).Msg("bye failed")
			}
			c.log.Info().Msg("hung up")
			c.emit(Progress{Kind: ProgressEnded})
		} else {
			c.log.Info().Msg("callee hung up")
			c.emit(Progress{Kind: ProgressRemoteBye})
		}
		c.end()
	})
}

func (c *OutboundCall) onResponse(res *ssip.Response) error {
	code := res.StatusCode
	switch {
	case code == 100 && !c.sentTrying && c.ringingAt.IsZero():
		// sipgo may hand us a 100 after a 180 (responses are dispatched
		// concurrently); a Trying after Ringing would move the status back.
		c.sentTrying = true
		c.emit(Progress{Kind: ProgressTrying, StatusCode: code, ReasonPhrase: res.Reason})
	case code > 100 && code < 200:
		if c.ringingAt.IsZero() {
			c.ringingAt = time.Now()
			c.log.Info().Int("status", code).Msg("ringing")
			c.emit(Progress{Kind: ProgressRinging, StatusCode: code, ReasonPhrase: res.Reason})
		}
		if body := res.Body(); len(body) > 0 && !c.sentEarly {
			// Early media (SIT tones, carrier announcements) must be heard,
			// so the session learns the answer's payload types now.
			rm, err := ParseSDP(body)
			if err != nil {
				c.log.Warn().Err(err).Int("status", code).Msg("unusable early-media sdp")
				return nil
			}
			f, err := rm.SelectAnswer(c.offered)
			if err != nil {
				c.log.Warn().Err(err).Msg("early media without a common codec")
				return nil
			}
			c.sentEarly = true
			c.media.SetPayloads(NewPayloadMap([]Format{f}, rm.DTMFPayloadType, rm.HasDTMF))
			c.emit(Progress{Kind: ProgressEarlyMedia, StatusCode: code, ReasonPhrase: res.Reason, Codec: f.Codec})
		}
	}
	return nil
}

func (c *OutboundCall) fail(dlg *sipgo.DialogClientSession, waitCtx context.Context, err error) {
	var dr *sipgo.ErrDialogResponse
	var final error
	switch {
	case errors.As(err, &dr):
		final = &FinalResponseError{StatusCode: dr.Res.StatusCode, ReasonPhrase: dr.Res.Reason}
	case waitCtx.Err() != nil:
		final = context.Cause(waitCtx)
		if final == nil || final == context.Canceled {
			final = ErrCallerHangup
		}
		// A 200 may cross our CANCEL; the callee then holds a dialog we
		// must close with ACK + BYE (RFC 3261 §9.1).
		if r := dlg.InviteResponse; r != nil && r.IsSuccess() {
			c.ackAndBye(dlg)
		}
	default:
		final = fmt.Errorf("%w: %v", ErrTransport, err)
	}
	code, phrase := 0, ""
	if r := dlg.InviteResponse; r != nil && !r.IsProvisional() {
		code, phrase = r.StatusCode, r.Reason
	}
	reason, _ := FailureReason(final)
	c.log.Info().Str("reason", reason).Err(err).Msg("call failed")
	c.emit(Progress{Kind: ProgressFailed, StatusCode: code, ReasonPhrase: phrase, Err: final})
}

func (c *OutboundCall) ackAndBye(dlg *sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultHangupTimeout)
	defer cancel()
	if err := dlg.Ack(ctx); err != nil {
		c.log.Warn().Err(err).Msg("ack failed")
		return
	}
	if err := c.bye(ctx, dlg); err != nil {
		c.log.Warn().Err(err).Msg("bye failed")
	}
}

// answer acknowledges the 200 and reports the answer; false when the
// answer carried nothing we can hear (the call has failed then).
func (c *OutboundCall) answer(dlg *sipgo.DialogClientSession) bool {
	now := time.Now()
	res := dlg.InviteResponse
	p := Progress{Kind: ProgressAnswered, StatusCode: res.StatusCode, ReasonPhrase: res.Reason,
		ConnectDuration: now.Sub(c.invitedAt)}
	if !c.ringingAt.IsZero() {
		p.RingDuration = now.Sub(c.ringingAt)
	}
	rm, err := ParseSDP(res.Body())
	var f Format
	if err == nil {
		f, err = rm.SelectAnswer(c.offered)
	}
	if err != nil {
		// Answered with nothing we can hear: end the dialog properly and
		// report a failure the application can act on.
		c.ackAndBye(dlg)
		c.log.Warn().Err(err).Msg("answer without usable sdp")
		c.emit(Progress{Kind: ProgressFailed, StatusCode: res.StatusCode, ReasonPhrase: res.Reason, Err: fmt.Errorf("answer: %w", err)})
		return false
	}
	c.chosen.Store(&f)
	c.media.SetPayloads(NewPayloadMap([]Format{f}, rm.DTMFPayloadType, rm.HasDTMF))
	c.media.MarkAnswered(now)
	c.answered.Store(true)
	ackCtx, cancel := context.WithTimeout(context.Background(), DefaultHangupTimeout)
	err = dlg.Ack(ackCtx)
	cancel()
	if err != nil {
		c.log.Warn().Err(err).Msg("ack failed")
	}
	p.Codec = f.Codec
	c.log.Info().Str("codec", string(f.Codec)).Dur("connectMs", p.ConnectDuration).Dur("ringMs", p.RingDuration).
		Stringer("remoteMedia", rm.Addr).Msg("answered")
	c.emit(p)
	return true
}

// bye sends BYE from the listening socket. sipgo's own BYE carries no local
// address, so its transport may open a fresh ephemeral socket when the
// callee's Contact differs from where it sent from; INVITE, ACK and CANCEL
// all leave from the listener, and so must BYE.
func (c *OutboundCall) bye(ctx context.Context, dlg *sipgo.DialogClientSession) error {
	res := dlg.InviteResponse
	if res == nil {
		return dlg.Bye(ctx) // sipgo reports the missing response
	}
	recipient := dlg.InviteRequest.Recipient
	if cont := res.Contact(); cont != nil {
		recipient = cont.Address // the remote target (RFC 3261 §12.1.2)
	}
	bye := ssip.NewRequest(ssip.BYE, *recipient.Clone())
	bye.Laddr = dlg.InviteRequest.Laddr
	return dlg.WriteBye(ctx, bye) // dialog headers, route set and CSeq added there
}

// inDialog reports whether an in-dialog request from the callee carries
// this call's dialog identifiers (Call-ID and both tags).
func (c *OutboundCall) inDialog(req *ssip.Request) bool {
	dlg := c.dlg.Load()
	if dlg == nil || !c.answered.Load() {
		return false
	}
	id, err := ssip.DialogIDFromRequestUAC(req)
	return err == nil && id == dlg.ID
}

// remoteBye handles the callee's BYE (sipgo handler goroutine).
func (c *OutboundCall) remoteBye(req *ssip.Request, tx ssip.ServerTransaction) {
	// Call-ID found the call; the tags must name its dialog too, or a
	// stray or forged BYE could end someone else's call.
	if !c.inDialog(req) {
		c.ua.onUnknown(req, tx)
		return
	}
	if err := c.dlg.Load().ReadBye(req, tx); err != nil {
		c.log.Warn().Err(err).Msg("read bye")
	}
}

// reinviteAnswer answers a re-INVITE (session refresh, hold) with the
// codec already in use, and follows the new offer's payload types.
func (c *OutboundCall) reinviteAnswer(body []byte) ([]byte, error) {
	f := c.chosen.Load()
	if f == nil {
		return nil, ErrNoCodec
	}
	formats := []Format{*f}
	dir := DirSendRecv
	if len(body) > 0 {
		rm, err := ParseSDP(body)
		if err != nil {
			return nil, err
		}
		nf, err := rm.SelectOffer([]Codec{f.Codec})
		if err != nil {
			return nil, err
		}
		formats[0] = nf
		c.media.SetPayloads(NewPayloadMap(formats, rm.DTMFPayloadType, rm.HasDTMF))
		// Hold: the callee announces it will send nothing; silence until
		// it resumes is not a media failure.
		c.media.SetHold(!rm.Direction.PeerSends())
		dir = rm.Direction.Answer()
		c.log.Info().Str("direction", string(rm.Direction)).Msg("re-INVITE")
	}
	la := c.media.LocalAddr()
	return BuildSDP(SessionParams{SessionID: 1, Version: 2, UserName: c.ua.cfg.UserAgent,
		Addr:   netip.AddrPortFrom(netip.MustParseAddr(c.ua.cfg.MediaIP), la.Port()),
		Codecs: []Codec{formats[0].Codec}, PayloadTypes: map[Codec]uint8{formats[0].Codec: formats[0].PayloadType},
		DTMF: true, DTMFPayloadType: PayloadDTMF, Ptime: 20, Direction: dir})
}

// EndReason maps a final progress to the shared end-reason vocabulary.
// ProgressEnded returns "" because only the caller knows why it hung up
// (application, machine verdict or engine error).
func (p Progress) EndReason() call.EndReason {
	switch p.Kind {
	case ProgressRemoteBye:
		return call.EndCallerDisconnected
	case ProgressFailed:
		return call.EndFailed
	}
	return ""
}
