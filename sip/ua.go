package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	ssip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// UA is amdd's SIP user agent: one UDP listener that sends our INVITEs and
// receives in-dialog requests, plus the RTP port pool.
type UA struct {
	cfg  Config
	log  zerolog.Logger
	pool *PortPool

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	cli *sipgo.Client
	dua sipgo.DialogUA

	conn     net.PacketConn
	laddr    netip.AddrPort
	started  chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	calls    map[string]*OutboundCall // by SIP Call-ID
	closed   bool
	closeErr error
	once     sync.Once

	rejected, optionsAnswered, unknownDialog atomic.Uint64
}

// UAStats are signalling counters for metrics.
type UAStats struct {
	ActiveCalls     int
	PortsInUse      int
	InvitesRejected uint64 // unknown inbound INVITEs answered 403
	OptionsAnswered uint64
	UnknownDialog   uint64 // BYE/CANCEL/ACK for no dialog of ours (481)
}

// NewUA validates cfg (after defaults) and prepares the UA; Start listens.
func NewUA(cfg Config, log zerolog.Logger) (*UA, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mediaIP := netip.MustParseAddr(cfg.MediaIP)
	pool, err := NewPortPool(mediaIP, cfg.RTPPortMin, cfg.RTPPortMax, cfg.PortDrain)
	if err != nil {
		return nil, err
	}
	return &UA{cfg: cfg, log: log.With().Str("component", "sip").Logger(), pool: pool,
		started: make(chan struct{}), calls: map[string]*OutboundCall{}}, nil
}

// Start binds the SIP socket and serves it until Close. It returns once
// the socket is bound, so a Dial right after Start is safe.
func (u *UA) Start(ctx context.Context) error {
	slogger := newSlog(u.log)
	conn, err := net.ListenPacket("udp", u.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("sip: listen %s: %w", u.cfg.ListenAddr, err)
	}
	u.conn = conn
	u.laddr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	u.laddr = netip.AddrPortFrom(u.laddr.Addr().Unmap(), u.laddr.Port())
	host := u.cfg.ContactHost
	port := int(u.laddr.Port())

	u.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(u.cfg.UserAgent),
		sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransactionLayerOptions(ssip.WithTransactionLayerLogger(slogger),
			// Late provisionals and retransmitted 200s after their
			// transaction ended are normal on UDP; keep them out of Info.
			ssip.WithTransactionLayerUnhandledResponseHandler(func(r *ssip.Response) {
				u.log.Debug().Str("response", r.Short()).Msg("response outside any transaction")
			})),
		sipgo.WithUserAgentTransportLayerOptions(ssip.WithTransportLayerLogger(slogger)),
	)
	if err != nil {
		conn.Close()
		return fmt.Errorf("sip: new ua: %w", err)
	}
	u.srv, err = sipgo.NewServer(u.ua, sipgo.WithServerLogger(slogger))
	if err == nil {
		// Sending from the listening socket keeps responses and in-dialog
		// requests coming back to the one port peers know.
		u.cli, err = sipgo.NewClient(u.ua, sipgo.WithClientLogger(slogger),
			sipgo.WithClientHostname(host), sipgo.WithClientPort(port),
			sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	}
	if err != nil {
		u.ua.Close()
		conn.Close()
		return fmt.Errorf("sip: new server/client: %w", err)
	}
	u.dua = sipgo.DialogUA{
		Client:     u.cli,
		ContactHDR: ssip.ContactHeader{Address: ssip.Uri{Scheme: "sip", User: u.cfg.UserAgent, Host: host, Port: port}},
	}
	u.srv.OnInvite(u.onInvite)
	u.srv.OnBye(u.onBye)
	u.srv.OnAck(func(*ssip.Request, ssip.ServerTransaction) {}) // ACKs of our re-INVITE answers
	u.srv.OnOptions(u.onOptions)
	u.srv.OnCancel(u.onUnknown)
	u.srv.OnNoRoute(u.onNoRoute)

	u.ctx, u.cancel = context.WithCancel(ctx)
	u.wg.Add(2)
	go func() {
		defer u.wg.Done()
		if err := u.srv.ServeUDP(conn); err != nil && !errors.Is(err, net.ErrClosed) {
			u.log.Error().Err(err).Msg("sip serve ended")
		}
	}()
	go func() {
		defer u.wg.Done()
		<-u.ctx.Done()
		u.shutdown()
	}()
	// Requests are sent from the listener's connection, which sipgo only
	// knows once ServeUDP has registered it; a Dial before that would try
	// to bind the same address again.
	for i := 0; ; i++ {
		if c, _ := u.ua.TransportLayer().GetConnection("udp", conn.LocalAddr().String()); c != nil {
			break
		}
		if i == 2000 {
			u.cancel()
			u.wg.Wait()
			return fmt.Errorf("sip: listener %s not ready", conn.LocalAddr())
		}
		time.Sleep(time.Millisecond)
	}
	close(u.started)
	u.log.Info().Stringer("listen", u.laddr).Str("contact", host).Msg("sip ua started")
	return nil
}

// Addr is the bound SIP address (useful with port 0).
func (u *UA) Addr() netip.AddrPort { return u.laddr }

// Stats snapshots signalling counters.
func (u *UA) Stats() UAStats {
	u.mu.Lock()
	n := len(u.calls)
	u.mu.Unlock()
	return UAStats{ActiveCalls: n, PortsInUse: u.pool.InUse(), InvitesRejected: u.rejected.Load(),
		OptionsAnswered: u.optionsAnswered.Load(), UnknownDialog: u.unknownDialog.Load()}
}

// Close hangs up every live call (CANCEL or BYE), then stops the UA and
// waits for its goroutines.
func (u *UA) Close() error {
	select {
	case <-u.started:
	default:
		return nil // never started
	}
	u.cancel()
	u.wg.Wait()
	return u.closeErr
}

func (u *UA) shutdown() {
	u.mu.Lock()
	u.closed = true
	calls := make([]*OutboundCall, 0, len(u.calls))
	for _, c := range u.calls {
		calls = append(calls, c)
	}
	u.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close()
		}()
	}
	wg.Wait()
	u.closeErr = u.ua.Close()
	u.conn.Close()
}

func (u *UA) register(c *OutboundCall) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return ErrClosed
	}
	u.calls[c.sipCallID] = c
	return nil
}

func (u *UA) unregister(c *OutboundCall) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.calls[c.sipCallID] == c {
		delete(u.calls, c.sipCallID)
	}
}

func (u *UA) lookup(req *ssip.Request) *OutboundCall {
	id := req.CallID()
	if id == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[id.Value()]
}

func (u *UA) respond(req *ssip.Request, tx ssip.ServerTransaction, code int, reason string, body []byte, hdrs ...ssip.Header) {
	res := ssip.NewResponseFromRequest(req, code, reason, body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		u.log.Debug().Err(err).Int("status", code).Str("method", req.Method.String()).Msg("respond failed")
	}
}

// onInvite answers re-INVITEs of our dialogs and rejects everything else:
// amdd never takes inbound calls.
func (u *UA) onInvite(req *ssip.Request, tx ssip.ServerTransaction) {
	if c := u.lookup(req); c != nil && req.To() != nil && req.To().Params.Has("tag") {
		if !c.inDialog(req) {
			u.onUnknown(req, tx) // right Call-ID, wrong dialog: 481
			return
		}
		body, err := c.reinviteAnswer(req.Body())
		if err != nil {
			u.respond(req, tx, 488, "Not Acceptable Here", nil)
			return
		}
		u.respond(req, tx, 200, "OK", body, ssip.NewHeader("Content-Type", "application/sdp"), &u.dua.ContactHDR)
		return
	}
	u.rejected.Add(1)
	u.log.Info().Str("from", hdrString(req.From())).Str("ruri", req.Recipient.String()).Str("source", req.Source()).Msg("inbound INVITE rejected")
	u.respond(req, tx, 403, "Forbidden", nil, ssip.NewHeader("Warning", `399 amdd "outbound only"`))
}

func (u *UA) onBye(req *ssip.Request, tx ssip.ServerTransaction) {
	c := u.lookup(req)
	if c == nil {
		u.onUnknown(req, tx)
		return
	}
	c.remoteBye(req, tx)
}

func (u *UA) onOptions(req *ssip.Request, tx ssip.ServerTransaction) {
	u.optionsAnswered.Add(1)
	u.respond(req, tx, 200, "OK", nil,
		ssip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"),
		ssip.NewHeader("Accept", "application/sdp"))
}

func (u *UA) onUnknown(req *ssip.Request, tx ssip.ServerTransaction) {
	u.unknownDialog.Add(1)
	u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
}

func (u *UA) onNoRoute(req *ssip.Request, tx ssip.ServerTransaction) {
	u.respond(req, tx, 405, "Method Not Allowed", nil, ssip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"))
}

func hdrString(h *ssip.FromHeader) string {
	if h == nil {
		return ""
	}
	return h.Value()
}
