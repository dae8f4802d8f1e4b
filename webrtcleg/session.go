package webrtcleg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/sip"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
)

// errNoFrameYet is ReadFrame's deadline error: a package value, because
// the owner polls with short deadlines and an error built per poll would
// allocate on the media path.
var errNoFrameYet = fmt.Errorf("webrtc: no frame before the deadline: %w", os.ErrDeadlineExceeded)

// Stats are a session's media counters.
type Stats struct {
	Packets      uint64 // RTP packets with audio
	Lost         uint64 // sequence numbers never received
	Late         uint64 // packets older than what was already played (incl. duplicates)
	DecodeErrors uint64 // packets Opus could not decode (concealed instead)
	Malformed    uint64 // reads that were not RTP
	Concealed    uint64 // samples made up for losses and pauses (PLC, FEC, DTX silence)
	Overruns     uint64 // frames dropped because the owner fell behind
	Frames       uint64 // frames handed to the owner
}

// Failure is why a session ended before its media started: it carries the
// call.status reason fields the daemon reports (Reason, ReasonCode).
type Failure struct {
	Err    error
	reason string
	code   string
}

func (f *Failure) Error() string      { return f.reason }
func (f *Failure) Unwrap() error      { return f.Err }
func (f *Failure) Reason() string     { return f.reason }
func (f *Failure) ReasonCode() string { return f.code }

// Session is one WebRTC leg: a peer connection whose first audio track is
// decoded into 20 ms frames. Progress, ReadFrame and the Stats are for the
// call's owner goroutine; pion's callbacks and the track goroutine feed
// them through channels and atomics, so the media path takes no lock.
//
// Its life, as the daemon's owner sees it on Progress:
//   - ProgressAnswered when the first audio packet arrives (the AMD clock
//     starts with the first frame). If the peer connected but sends no
//     audio within MediaTimeout, or the connection breaks before audio,
//     Answered is reported all the same and ReadFrame then returns the
//     error, so the detector reports amd_error with the reason;
//   - ProgressFailed (a *Failure) when ICE/DTLS never connected;
//   - ProgressRemoteBye when the peer closed the connection (DTLS close).
//
// After the answer, ICE failure or disconnection makes ReadFrame return an
// error wrapping ErrICEFailed.
type Session struct {
	h   *Host
	pc  *webrtc.PeerConnection
	id  string
	log zerolog.Logger

	progress chan sip.Progress
	frames   chan [dsp.FrameSamples]int16
	cnt      counters

	answerOnce sync.Once
	answered   atomic.Bool
	connected  atomic.Bool
	audioTrack atomic.Bool // the first audio track is claimed
	closing    atomic.Bool // we are closing: state changes are ours, not the peer's
	byeOnce    sync.Once

	deadOnce sync.Once
	dead     chan struct{} // closed with deadErr set: media is over
	deadErr  error

	watchMu sync.Mutex
	watch   *time.Timer // connect, then first-packet watchdog

	readTimer *time.Timer // ReadFrame's deadline timer (owner only)

	trackMu   sync.Mutex // orders tracks.Add against shutdown's Wait
	tracks    sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	logOnce   sync.Once
}

func newSession(h *Host, pc *webrtc.PeerConnection, id string, log zerolog.Logger) *Session {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Session{
		h: h, pc: pc, id: id, log: log,
		// Progress carries at most Answered plus one terminal step; the
		// room makes every send non-blocking from pion's callbacks.
		progress:  make(chan sip.Progress, 4),
		frames:    make(chan [dsp.FrameSamples]int16, h.cfg.FrameQueue),
		dead:      make(chan struct{}),
		readTimer: t,
	}
}

// ID is the call ID the session was accepted for.
func (s *Session) ID() string { return s.id }

// Progress delivers Answered, Failed and RemoteBye (see Session).
func (s *Session) Progress() <-chan sip.Progress { return s.progress }

// Stats returns the media counters.
func (s *Session) Stats() Stats {
	c := &s.cnt
	return Stats{
		Packets: c.packets.Load(), Lost: c.lost.Load(), Late: c.late.Load(), DecodeErrors: c.decodeErrors.Load(),
		Malformed: c.malformed.Load(), Concealed: c.concealed.Load(), Overruns: c.overruns.Load(), Frames: c.frames.Load(),
	}
}

// ReadFrame fills pcm (dsp.FrameSamples samples) with the next frame. With
// no frame by deadline it returns an error wrapping os.ErrDeadlineExceeded;
// once the media is over (connection lost, no audio, closed) it returns
// why. Only one goroutine (the call's owner) may call it; it allocates
// nothing.
func (s *Session) ReadFrame(pcm []int16, deadline time.Time) error {
	// Queued frames first: audio that arrived before a failure still counts.
	select {
	case f := <-s.frames:
		copy(pcm, f[:])
		return nil
	default:
	}
	select {
	case <-s.dead:
		return s.deadErr
	default:
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return errNoFrameYet
	}
	s.readTimer.Reset(wait)
	select {
	case f := <-s.frames:
		s.readTimer.Stop()
		copy(pcm, f[:])
		return nil
	case <-s.dead:
		s.readTimer.Stop()
		return s.deadErr
	case <-s.readTimer.C:
		return errNoFrameYet
	}
}

// onTrack runs in pion's goroutine for each remote track: the first Opus
// audio track gets a reader that feeds the detector; any other track is
// drained, so pion's buffers never fill.
func (s *Session) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	feed := tr.Kind() == webrtc.RTPCodecTypeAudio &&
		strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypeOpus) &&
		s.audioTrack.CompareAndSwap(false, true)
	s.log.Debug().Str("kind", tr.Kind().String()).Str("codec", tr.Codec().MimeType).Uint32("ssrc", uint32(tr.SSRC())).
		Bool("feeds", feed).Msg("webrtc: remote track")
	s.trackMu.Lock()
	if s.closing.Load() {
		s.trackMu.Unlock()
		return
	}
	s.tracks.Add(1)
	s.trackMu.Unlock()
	go func() {
		defer s.tracks.Done()
		if feed {
			s.readTrack(tr)
		} else {
			drain(tr)
		}
	}()
}

// readTrack is the track's owner goroutine: Read into one buffer, parse
// into one packet, decode into one frame, queue by value. Zero allocations
// per packet (BenchmarkReceiverPush, BenchmarkTrackRead).
func (s *Session) readTrack(tr *webrtc.TrackRemote) {
	dec, err := dsp.NewOpusDecoder()
	if err != nil {
		s.fail(fmt.Errorf("webrtc: opus decoder: %w", err))
		return
	}
	rcv := newReceiver(dec, &s.cnt, s.deliver)
	// RTCP is not read: we send no media and use no reports, and pion
	// drops incoming RTCP silently once its 100 KB buffer is full.
	buf := make([]byte, receiveMTU)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			// The connection is going away; onState says why.
			s.log.Debug().Err(err).Msg("webrtc: track read ended")
			return
		}
		s.answer()
		if err := rcv.push(buf[:n]); err != nil {
			s.log.Debug().Err(err).Msg("webrtc: packet")
		}
	}
}

func drain(tr *webrtc.TrackRemote) {
	buf := make([]byte, receiveMTU)
	for {
		if _, _, err := tr.Read(buf); err != nil {
			return
		}
	}
}

// deliver queues a frame for the owner without ever blocking the track:
// when the owner is behind by a whole queue the frame is dropped.
func (s *Session) deliver(f *[dsp.FrameSamples]int16) {
	select {
	case s.frames <- *f:
		s.cnt.frames.Add(1)
	default:
		s.cnt.overruns.Add(1)
	}
}

// answer reports the answer once: the first audio packet arrived.
func (s *Session) answer() {
	s.answerOnce.Do(func() {
		s.answered.Store(true)
		s.stopWatch()
		s.log.Debug().Msg("webrtc: first audio packet")
		s.send(sip.Progress{Kind: sip.ProgressAnswered, At: time.Now()})
	})
}

func (s *Session) send(p sip.Progress) {
	select {
	case s.progress <- p:
	default:
		// Unreachable by construction (see newSession); never block pion.
		s.log.Warn().Stringer("progress", p.Kind).Msg("webrtc: progress queue full")
	}
}

// onState follows the peer connection (ICE + DTLS) in pion's goroutine.
func (s *Session) onState(st webrtc.PeerConnectionState) {
	s.log.Debug().Str("state", st.String()).Msg("webrtc: connection state")
	if s.closing.Load() {
		return
	}
	switch st {
	case webrtc.PeerConnectionStateConnected:
		if s.connected.CompareAndSwap(false, true) && !s.answered.Load() {
			s.armWatch(s.h.cfg.MediaTimeout, s.noMedia)
		}
	case webrtc.PeerConnectionStateDisconnected:
		s.fail(fmt.Errorf("%w: peer disconnected (no ICE traffic for %v)", ErrICEFailed, s.h.cfg.DisconnectTimeout))
	case webrtc.PeerConnectionStateFailed:
		s.fail(fmt.Errorf("%w: ICE connectivity checks or the DTLS handshake failed", ErrICEFailed))
	case webrtc.PeerConnectionStateClosed:
		// Not closing ourselves: the peer closed DTLS (the WebRTC BYE).
		s.byeOnce.Do(func() { s.send(sip.Progress{Kind: sip.ProgressRemoteBye, At: time.Now()}) })
	}
}

func (s *Session) noMedia() {
	if s.answered.Load() {
		return
	}
	s.fail(fmt.Errorf("%w: %w: no audio packet within %v of connecting", ErrNoMedia, sip.ErrMediaTimeout, s.h.cfg.MediaTimeout))
}

// fail ends the media with err. Before the connection was up it is a
// failed call (ProgressFailed); after, the detector must hear about it, so
// the answer is reported if it was not yet and ReadFrame returns err.
func (s *Session) fail(err error) {
	s.deadOnce.Do(func() {
		s.deadErr = err
		close(s.dead)
		s.stopWatch()
		s.log.Info().Err(err).Bool("connected", s.connected.Load()).Bool("answered", s.answered.Load()).Msg("webrtc: media ended")
		if s.connected.Load() {
			s.answer()
			return
		}
		code := "ICE Failed"
		if errors.Is(err, ErrConnectTimeout) {
			code = "ICE Timeout"
		}
		s.send(sip.Progress{Kind: sip.ProgressFailed, At: time.Now(), Err: &Failure{Err: err, reason: err.Error(), code: code}})
	})
}

func (s *Session) startConnectWatch(d time.Duration) {
	s.armWatch(d, func() {
		if !s.connected.Load() {
			s.fail(fmt.Errorf("%w: ICE/DTLS not connected within %v", ErrConnectTimeout, d))
		}
	})
}

func (s *Session) armWatch(d time.Duration, f func()) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watch != nil {
		s.watch.Stop()
	}
	if s.closing.Load() {
		return
	}
	s.watch = time.AfterFunc(d, f)
}

func (s *Session) stopWatch() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watch != nil {
		s.watch.Stop()
	}
}

// Hangup closes the peer connection (DTLS close_notify tells the peer).
func (s *Session) Hangup(context.Context) error {
	s.shutdown()
	return s.closeErr
}

// shutdown closes the peer connection once; later state changes are ours.
func (s *Session) shutdown() {
	s.closeOnce.Do(func() {
		s.trackMu.Lock()
		s.closing.Store(true)
		s.trackMu.Unlock()
		s.stopWatch()
		s.closeErr = s.pc.Close()
		s.deadOnce.Do(func() {
			s.deadErr = fmt.Errorf("webrtc: session %s: %w", s.id, ErrClosed)
			close(s.dead)
		})
	})
}

func (s *Session) wait() { s.tracks.Wait() }

// Close hangs up if needed and waits for the track goroutines.
func (s *Session) Close() error {
	s.shutdown()
	s.wait()
	s.h.forget(s)
	s.logOnce.Do(func() {
		st := s.Stats()
		s.log.Info().Uint64("packets", st.Packets).Uint64("lost", st.Lost).Uint64("late", st.Late).
			Uint64("decodeErrors", st.DecodeErrors).Uint64("concealedSamples", st.Concealed).
			Uint64("overruns", st.Overruns).Uint64("frames", st.Frames).Msg("webrtc: session closed")
	})
	return s.closeErr
}
