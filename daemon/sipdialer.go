package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
)

// sipDialer adapts *sip.UA to DialerService.
type sipDialer struct{ ua *sip.UA }

func newSIPDialer(cfg sip.Config, log zerolog.Logger) (*sipDialer, error) {
	ua, err := sip.NewUA(cfg, log)
	if err != nil {
		return nil, err
	}
	return &sipDialer{ua: ua}, nil
}

func (d *sipDialer) Start(ctx context.Context) error { return d.ua.Start(ctx) }
func (d *sipDialer) Close() error                    { return d.ua.Close() }
func (d *sipDialer) Addr() netip.AddrPort            { return d.ua.Addr() }

func (d *sipDialer) Dial(ctx context.Context, req DialRequest) (Call, error) {
	codecs := make([]sip.Codec, 0, len(req.Codecs))
	for _, s := range req.Codecs {
		c, err := sip.ParseCodec(s)
		if err != nil {
			return nil, err
		}
		codecs = append(codecs, c)
	}
	c, err := d.ua.Dial(ctx, sip.DialRequest{
		CallID: req.CallID, Target: req.Target, Caller: req.Caller, Trunk: req.Trunk,
		Timeout: req.Timeout, Codecs: codecs,
	})
	if err != nil {
		return nil, fmt.Errorf("sip dial: %w", err)
	}
	sc := &sipCall{c: c}
	if m := c.Media(); m != nil {
		sc.media = &sipMedia{m: m}
	}
	return sc, nil
}

// sipCall adapts *sip.OutboundCall to Call. The media adapter is made once
// so Media() costs nothing in the per-frame loop.
type sipCall struct {
	c     *sip.OutboundCall
	media *sipMedia
}

func (s *sipCall) Progress() <-chan Progress        { return s.c.Progress() }
func (s *sipCall) Hangup(ctx context.Context) error { return s.c.Hangup(ctx) }
func (s *sipCall) Close() error                     { return s.c.Close() }
func (s *sipCall) Media() Media {
	if s.media == nil {
		return nil
	}
	return s.media
}

type sipMedia struct{ m *sip.MediaSession }

func (s *sipMedia) ReadFrame(pcm []int16, deadline time.Time) error {
	_, err := s.m.ReadFrame(pcm, deadline)
	return err
}

func (s *sipMedia) Stats() MediaStats {
	st := s.m.Stats()
	return MediaStats{Packets: st.Packets, Lost: st.Lost, Late: st.Late, DecodeErrors: st.DecodeErrors}
}
