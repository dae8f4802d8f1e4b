package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amd-engine/amd/dsp"
	amdsip "github.com/amd-engine/amd/sip"
	"github.com/emiago/sipgo"
	ssip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// callIDHeader is the header amdd puts on its INVITEs naming the control
// channel's call ID (sip/outbound.go); it ties a SIP dialog to the call the
// generator dialled.
const callIDHeader = "X-AMD-Call-ID"

// callState is what the callee, the pacers and the driver share about one
// call. The driver owns everything else about it.
type callState struct {
	id   string
	clip *clip
	// sent[k] is the wall time (Unix ns) frame k left; 0 until it has.
	sent []atomic.Int64
	// packets is the RTP packets written for this call.
	packets atomic.Int64
	// answeredNs is when the callee's 200 OK was acknowledged (Unix ns).
	answeredNs atomic.Int64
}

// callee is the generator's SIP UAS: it answers the INVITEs amdd sends for
// calls the driver registered and hands their media to a pacer.
type callee struct {
	codec     amdsip.Codec
	ringDelay time.Duration
	silence   []byte
	log       zerolog.Logger
	pacers    []*pacer
	next      atomic.Uint32 // round-robin over pacers

	calls sync.Map // call ID → *callState

	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	dua  sipgo.DialogUA
	conn net.PacketConn
	addr netip.AddrPort

	ctx      context.Context
	cancel   context.CancelFunc
	serve    sync.WaitGroup
	handlers sync.WaitGroup

	mu      sync.Mutex
	dialogs map[string]*sipgo.DialogServerSession
	unknown atomic.Int64 // INVITEs for no registered call
}

func newCallee(codec amdsip.Codec, ringDelay time.Duration, pacers []*pacer, log zerolog.Logger) (*callee, error) {
	sil, err := silencePayload(codec)
	if err != nil {
		return nil, err
	}
	return &callee{codec: codec, ringDelay: ringDelay, silence: sil, pacers: pacers, log: log,
		dialogs: map[string]*sipgo.DialogServerSession{}}, nil
}

// start binds listen and serves until close.
func (c *callee) start(ctx context.Context, listen string) error {
	conn, err := net.ListenPacket("udp", listen)
	if err != nil {
		return fmt.Errorf("loadgen: sip listen %s: %w", listen, err)
	}
	c.conn = conn
	ap := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	c.addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	host := c.addr.Addr().String()
	slogger := amdsip.SlogFromZerolog(c.log)
	c.ua, err = sipgo.NewUA(sipgo.WithUserAgent("amd-loadgen"), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransactionLayerOptions(ssip.WithTransactionLayerLogger(slogger)),
		sipgo.WithUserAgentTransportLayerOptions(ssip.WithTransportLayerLogger(slogger)))
	if err != nil {
		conn.Close()
		return fmt.Errorf("loadgen: sip ua: %w", err)
	}
	c.srv, _ = sipgo.NewServer(c.ua, sipgo.WithServerLogger(slogger))
	cli, err := sipgo.NewClient(c.ua, sipgo.WithClientLogger(slogger), sipgo.WithClientHostname(host),
		sipgo.WithClientPort(int(c.addr.Port())), sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	if err != nil {
		c.ua.Close()
		conn.Close()
		return fmt.Errorf("loadgen: sip client: %w", err)
	}
	c.dua = sipgo.DialogUA{Client: cli, ContactHDR: ssip.ContactHeader{
		Address: ssip.Uri{Scheme: "sip", User: "loadgen", Host: host, Port: int(c.addr.Port())}}}
	c.srv.OnInvite(c.onInvite)
	c.srv.OnAck(func(req *ssip.Request, tx ssip.ServerTransaction) {
		if d := c.dialog(req); d != nil {
			d.ReadAck(req, tx)
		}
	})
	c.srv.OnBye(func(req *ssip.Request, tx ssip.ServerTransaction) {
		d := c.dialog(req)
		if d == nil {
			tx.Respond(ssip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
			return
		}
		d.ReadBye(req, tx)
	})
	c.srv.OnOptions(func(req *ssip.Request, tx ssip.ServerTransaction) {
		tx.Respond(ssip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.serve.Add(1)
	go func() {
		defer c.serve.Done()
		c.srv.ServeUDP(conn)
	}()
	// sipgo registers the connection asynchronously; responses need it.
	for i := 0; ; i++ {
		if cn, _ := c.ua.TransportLayer().GetConnection("udp", conn.LocalAddr().String()); cn != nil {
			return nil
		}
		if i == 2000 {
			c.close()
			return errors.New("loadgen: sip listener not ready")
		}
		time.Sleep(time.Millisecond)
	}
}

// close hangs up what is still up (bounded) and stops serving.
func (c *callee) close() {
	c.cancel()
	done := make(chan struct{})
	go func() {
		c.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(6 * time.Second):
	}
	c.conn.Close()
	c.serve.Wait()
	c.ua.Close()
	<-done
}

func (c *callee) register(cs *callState)   { c.calls.Store(cs.id, cs) }
func (c *callee) unregister(cs *callState) { c.calls.Delete(cs.id) }

func (c *callee) dialog(req *ssip.Request) *sipgo.DialogServerSession {
	id, err := ssip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialogs[id]
}

// onInvite runs one call on sipgo's handler goroutine: ring, answer, hand
// the media to a pacer, wait for BYE.
func (c *callee) onInvite(req *ssip.Request, tx ssip.ServerTransaction) {
	c.handlers.Add(1)
	defer c.handlers.Done()
	var cs *callState
	if h := req.GetHeader(callIDHeader); h != nil {
		if v, ok := c.calls.Load(h.Value()); ok {
			cs = v.(*callState)
		}
	}
	if cs == nil {
		// Not one of ours: someone else dialling this port, or a call the
		// driver already gave up on.
		c.unknown.Add(1)
		tx.Respond(ssip.NewResponseFromRequest(req, 404, "Not Found", nil))
		return
	}
	dlg, err := c.dua.ReadInvite(req, tx)
	if err != nil {
		c.log.Warn().Err(err).Str("callId", cs.id).Msg("read invite")
		return
	}
	defer dlg.Close()
	rm, err := amdsip.ParseSDP(req.Body())
	var f amdsip.Format
	if err == nil {
		f, err = rm.SelectOffer([]amdsip.Codec{c.codec})
	}
	if err != nil {
		c.log.Warn().Err(err).Str("callId", cs.id).Msg("offer")
		dlg.Respond(488, "Not Acceptable Here", nil)
		return
	}
	payloads, err := cs.clip.encode(c.codec)
	if err != nil {
		dlg.Respond(500, "Server Internal Error", nil)
		return
	}
	rtpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.addr.Addr(), 0)))
	if err != nil {
		dlg.Respond(503, "Service Unavailable", nil)
		return
	}
	answer, err := amdsip.BuildSDP(amdsip.SessionParams{SessionID: rand.Uint64() >> 1, Version: 1, UserName: "loadgen",
		Addr:   netip.AddrPortFrom(c.addr.Addr(), uint16(rtpConn.LocalAddr().(*net.UDPAddr).Port)),
		Codecs: []amdsip.Codec{f.Codec}, PayloadTypes: map[amdsip.Codec]uint8{f.Codec: f.PayloadType}})
	if err != nil {
		rtpConn.Close()
		dlg.Respond(500, "Server Internal Error", nil)
		return
	}
	dlg.Respond(180, "Ringing", nil)
	ring := time.NewTimer(c.ringDelay)
	defer ring.Stop()
	select {
	case <-ring.C:
	case <-dlg.Context().Done(): // CANCEL
		rtpConn.Close()
		return
	case <-c.ctx.Done():
		rtpConn.Close()
		dlg.Respond(480, "Temporarily Unavailable", nil)
		return
	}
	c.mu.Lock()
	c.dialogs[dlg.ID] = dlg
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.dialogs, dlg.ID)
		c.mu.Unlock()
	}()
	if err := dlg.RespondSDP(answer); err != nil { // returns once ACKed
		rtpConn.Close()
		if dlg.Context().Err() == nil {
			c.log.Warn().Err(err).Str("callId", cs.id).Msg("answer not acknowledged")
		}
		return
	}
	cs.answeredNs.Store(time.Now().UnixNano())
	ticks := uint32(dsp.FrameSamples)
	if f.Codec == amdsip.CodecOpus {
		ticks = dsp.OpusRTPTicksPerFrame
	}
	st := newStream(rtpConn, rm.Addr, f.PayloadType, ticks, payloads, c.silence, cs)
	p := c.pacers[int(c.next.Add(1))%len(c.pacers)]
	if !p.join(st) {
		rtpConn.Close()
		return
	}
	select {
	case <-dlg.Context().Done(): // BYE from amdd: the normal end
		p.leave(st)
		return
	case <-c.ctx.Done():
	}
	p.leave(st)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := dlg.Bye(ctx); err != nil {
		c.log.Debug().Err(err).Str("callId", cs.id).Msg("bye")
	}
}
