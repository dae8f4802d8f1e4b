package sip_test

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/amd-engine/amd/dsp"
	amdsip "github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
)

// Example shows the owner-goroutine loop a daemon runs per call: progress
// and control on channels, frames pulled with a short deadline so the loop
// never blocks on the network.
func Example() {
	ua, err := amdsip.NewUA(amdsip.Config{
		ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1",
		Trunks: []amdsip.Trunk{{Name: "sbc", Host: "127.0.0.1", Port: 5070}},
	}, zerolog.Nop())
	if err != nil {
		return
	}
	if err := ua.Start(context.Background()); err != nil {
		return
	}
	defer ua.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, err := ua.Dial(ctx, amdsip.DialRequest{CallID: "c-1", Target: "tel:+4930123456", Caller: "+4930999", Timeout: 20 * time.Second})
	if err != nil {
		return // ErrBadTarget, ErrUnknownTrunk, ErrNoPorts, ErrTransport...
	}
	defer call.Close() // BYE/CANCEL if still up; the RTP port drains

	pcm := make([]int16, dsp.FrameSamples)
	progress := call.Progress()
	for {
		select {
		case p, ok := <-progress:
			if !ok {
				return
			}
			switch p.Kind {
			case amdsip.ProgressFailed:
				reason, code := amdsip.FailureReason(p.Err) // "486 Busy Here", "Busy Here"
				_, _ = reason, code
				return
			case amdsip.ProgressRemoteBye:
				_ = p.EndReason() // call.EndCallerDisconnected
				return
			}
		default:
		}
		fi, err := call.Media().ReadFrame(pcm, time.Now().Add(20*time.Millisecond))
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue // nothing yet; service channels again
		case errors.Is(err, amdsip.ErrMediaTimeout), errors.Is(err, amdsip.ErrClosed):
			return // amd_error / call over
		case err != nil:
			return
		}
		_ = fi // feed pcm to the detector; fi.Lost, fi.DTMF
	}
}
