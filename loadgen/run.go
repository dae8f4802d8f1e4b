package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine"
)

// Result is a run's outcome: the JSON object `amdctl load --json` prints.
// The first twelve fields are the contract other tools read; the rest add
// context. Figures that could not be measured are -1.
type Result struct {
	Calls            int     `json:"calls"`
	Answered         int     `json:"answered"`
	Decided          int     `json:"decided"`
	Correct          int     `json:"correct"`
	RTPSent          int64   `json:"rtpSent"`
	RTPLostAtEngine  int64   `json:"rtpLostAtEngine"`
	EventLagP50Ms    float64 `json:"eventLagP50Ms"`
	EventLagP99Ms    float64 `json:"eventLagP99Ms"`
	EngineCPUPercent float64 `json:"engineCpuPercent"`
	EngineRSSMiB     float64 `json:"engineRssMiB"`
	RSSPerCallKiB    float64 `json:"rssPerCallKiB"`
	DurationS        float64 `json:"durationS"`

	// Refused counts dials amdd turned down with at_capacity; Failed the
	// other dials that never became an answered call.
	Refused int `json:"refused"`
	Failed  int `json:"failed"`
	// Codec and Concurrency repeat the run's settings for the plots;
	// PeakCalls is the most calls answered and up at once.
	Codec       string `json:"codec"`
	Concurrency int    `json:"concurrency"`
	PeakCalls   int    `json:"peakCalls"`
	// MeanCalls is the average number of answered calls up over the run
	// (sampled every 250 ms); EngineCPUPerCallPct is EngineCPUPercent over
	// it: what one call costs the engine, ramp-up and tail included fairly.
	MeanCalls           float64 `json:"meanCalls"`
	EngineCPUPerCallPct float64 `json:"engineCpuPerCallPct"`
	// EventLagMaxMs is the worst decision's lag; LagSamples how many
	// decisions had a lag measured.
	EventLagMaxMs float64 `json:"eventLagMaxMs"`
	LagSamples    int     `json:"lagSamples"`
	// RTPLateAtEngine and RTPReceivedAtEngine are amdd's other RTP counters.
	RTPLateAtEngine     int64 `json:"rtpLateAtEngine"`
	RTPReceivedAtEngine int64 `json:"rtpReceivedAtEngine"`
	// EngineRSSBaseMiB is amdd's RSS before the first call.
	EngineRSSBaseMiB float64 `json:"engineRssBaseMiB"`
	EnginePID        int     `json:"enginePid"`
	// GeneratorCPUPercent is this process's own CPU over the run (100 = one core).
	GeneratorCPUPercent float64 `json:"generatorCpuPercent"`
	// PacerLateTicks counts 20 ms ticks the generator itself started more
	// than a frame late: when non-zero the generator, not the engine, is
	// the bottleneck and lag figures overstate the engine's.
	PacerLateTicks int64 `json:"pacerLateTicks"`
	// Verdicts counts decisions by event type; Wrong lists misjudged clips
	// (first 20) as "file: got X".
	Verdicts map[string]int `json:"verdicts"`
	Wrong    []string       `json:"wrong,omitempty"`
	// Warnings name figures that could not be measured, and why.
	Warnings []string `json:"warnings,omitempty"`
}

// liveCall is the driver's own view of one call (owned by Run's loop).
type liveCall struct {
	cs        *callState
	dialedAt  time.Time
	answered  bool
	decided   bool
	hungUp    bool
	clipDur   time.Duration
	decidedAt time.Time
}

type dialResult struct {
	cs  *callState
	err error
}

// Run executes one load run. It returns the Result even with an error when
// calls were placed (ErrMaxDuration, ErrEngineLost), so a caller can still
// print what was measured.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	clips, err := loadClips(cfg.Audio)
	if err != nil {
		return Result{}, err
	}
	res := Result{Calls: cfg.Calls, Codec: string(cfg.Codec), Concurrency: cfg.Concurrency, Verdicts: map[string]int{},
		RTPLostAtEngine: -1, RTPLateAtEngine: -1, RTPReceivedAtEngine: -1, EngineCPUPercent: -1, EngineRSSMiB: -1,
		RSSPerCallKiB: -1, EngineRSSBaseMiB: -1, EventLagP50Ms: -1, EventLagP99Ms: -1, EventLagMaxMs: -1}
	warn := func(format string, a ...any) { res.Warnings = append(res.Warnings, fmt.Sprintf(format, a...)) }

	// Encode the first clips before any call: the first calls must not
	// wait on an encoder while amdd's media timeout runs.
	for i := 0; i < min(len(clips), cfg.Calls); i++ {
		if _, err := clips[i].encode(cfg.Codec); err != nil {
			return Result{}, err
		}
	}

	pid := cfg.EnginePID
	if pid == 0 {
		u, _ := url.Parse(cfg.EngineURL)
		port, _ := strconv.ParseUint(u.Port(), 10, 16)
		if port == 0 {
			port = 80
		}
		if pid, err = FindListenerPID(uint16(port)); err != nil {
			warn("engine process figures: %v (pass --engine-pid)", err)
			pid = -1
		}
	}
	res.EnginePID = pid

	runCtx, cancelRun := context.WithTimeout(ctx, cfg.MaxDuration)
	defer cancelRun()
	bg, stopBG := context.WithCancel(context.Background())
	var bgWG sync.WaitGroup
	defer func() {
		stopBG()
		bgWG.Wait()
	}()

	nPacers := cfg.Pacers
	if nPacers <= 0 {
		nPacers = min(runtime.GOMAXPROCS(0), 4)
	}
	pacers := make([]*pacer, nPacers)
	for i := range pacers {
		pacers[i] = newPacer()
		bgWG.Add(1)
		go func() {
			defer bgWG.Done()
			pacers[i].run(bg)
		}()
	}
	cl, err := newCallee(cfg.Codec, cfg.RingDelay, pacers, cfg.Log)
	if err != nil {
		return Result{}, err
	}
	if err := cl.start(bg, cfg.SIPListen); err != nil {
		return Result{}, err
	}
	defer cl.close()

	cctx, cancel := context.WithTimeout(runCtx, control.DefaultDialTimeout)
	client, err := control.Connect(cctx, cfg.EngineURL, cfg.Token, control.WithEventBuffer(max(4096, 16*cfg.Concurrency)))
	cancel()
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: connect %s: %w", cfg.EngineURL, err)
	}
	defer client.Close()

	before, mErr := scrapeMetrics(runCtx, cfg.MetricsURL)
	if mErr != nil {
		warn("rtp loss at engine: %v", mErr)
	}
	var base ProcSample
	if pid > 0 {
		if base, err = ReadProc(pid); err != nil {
			warn("engine process figures: %v", err)
			pid = -1
		} else {
			res.EngineRSSBaseMiB = float64(base.RSSKiB) / 1024
		}
	}
	start := time.Now()
	cpu0 := processCPU()

	// live is the number of answered calls up; the sampler reads it.
	var live atomic.Int64
	var finishedRun atomic.Bool
	var peakRSS, rssAtPeak atomic.Int64
	var peakLive, liveSum, liveSamples atomic.Int64
	{
		bgWG.Add(1)
		go func() {
			defer bgWG.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-bg.Done():
					return
				case <-t.C:
				}
				if !finishedRun.Load() {
					liveSum.Add(live.Load())
					liveSamples.Add(1)
				}
				if pid <= 0 {
					continue
				}
				s, err := ReadProc(pid)
				if err != nil {
					continue
				}
				if s.RSSKiB > peakRSS.Load() {
					peakRSS.Store(s.RSSKiB)
				}
				// Memory per call is judged where the most calls were up.
				if n := live.Load(); n >= peakLive.Load() && n > 0 {
					peakLive.Store(n)
					rssAtPeak.Store(s.RSSKiB)
				}
			}
		}()
	}

	// The dialer places calls within the concurrency and rate bounds; the
	// loop below releases a slot when a call ends.
	slots := make(chan struct{}, cfg.Concurrency)
	pending := make(chan *liveCall)
	dialed := make(chan dialResult, cfg.Concurrency)
	dialCtx, stopDialing := context.WithCancel(runCtx)
	defer stopDialing()
	var dialWG sync.WaitGroup
	dialerDone := make(chan struct{})
	dialWG.Add(1)
	go func() {
		defer dialWG.Done()
		defer close(dialerDone)
		var gap time.Duration
		if cfg.CPS > 0 {
			gap = time.Duration(float64(time.Second) / cfg.CPS)
		}
		next := time.Now()
		for i := range cfg.Calls {
			select {
			case slots <- struct{}{}:
			case <-dialCtx.Done():
				return
			}
			if gap > 0 {
				if d := time.Until(next); d > 0 {
					select {
					case <-time.After(d):
					case <-dialCtx.Done():
						return
					}
				}
				next = next.Add(gap)
			}
			c := clips[i%len(clips)]
			payloads, err := c.encode(cfg.Codec)
			if err != nil {
				dialed <- dialResult{err: err}
				continue
			}
			extra := int((cfg.HoldAfterClip+cfg.DecisionGrace)/(dsp.FrameMs*time.Millisecond)) + 50
			cs := &callState{id: fmt.Sprintf("lg-%d-%06d", start.UnixNano()%1e6, i), clip: c,
				sent: make([]atomic.Int64, len(payloads)+extra)}
			cl.register(cs)
			select {
			case pending <- &liveCall{cs: cs, dialedAt: time.Now(), clipDur: time.Duration(len(payloads)) * dsp.FrameMs * time.Millisecond}:
			case <-dialCtx.Done():
				cl.unregister(cs)
				return
			}
			// The dial RPC waits for amdd's ack; running each in its own
			// goroutine (at most Concurrency, bounded by the slots) keeps a
			// slow ack from capping the call rate.
			dialWG.Add(1)
			go func() {
				defer dialWG.Done()
				_, err := client.Dial(dialCtx, control.Dial{
					CallID: cs.id, Target: fmt.Sprintf("sip:%s@%s", c.name, cl.addr), Caller: "loadgen",
					Codecs: []string{string(cfg.Codec)}, Metadata: map[string]string{"clip": c.meta.File},
				})
				dialed <- dialResult{cs: cs, err: err}
			}()
		}
	}()

	// Hangups are RPCs: goroutines keep them off the event loop, whose
	// timestamps are the lag measurement, and run them side by side so a
	// slow ack does not hold every other call up past its end.
	var hangWG sync.WaitGroup
	defer func() {
		stopDialing()
		dialWG.Wait()
		hangWG.Wait()
	}()

	calls := map[string]*liveCall{}
	var lags []int64 // µs
	done := 0
	finished := func(c *liveCall) {
		if c == nil {
			return
		}
		delete(calls, c.cs.id)
		cl.unregister(c.cs)
		res.RTPSent += c.cs.packets.Load()
		if c.answered {
			live.Add(-1)
		}
		done++
		<-slots
	}
	hangup := func(c *liveCall) {
		if c.hungUp {
			return
		}
		c.hungUp = true
		hangWG.Add(1)
		go func(id string) {
			defer hangWG.Done()
			hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := client.Hangup(hctx, id); err != nil && !errors.Is(err, control.ErrUnknownCall) {
				cfg.Log.Debug().Err(err).Str("callId", id).Msg("hangup")
			}
		}(c.cs.id)
	}
	check := time.NewTicker(50 * time.Millisecond)
	defer check.Stop()
	var runErr error
	var drainUntil <-chan time.Time
	events := client.Events()
	runDone := runCtx.Done()
	dialerExit := (<-chan struct{})(dialerDone)
	dialerExited := false
	for done < cfg.Calls && runErr == nil {
		select {
		case c := <-pending:
			calls[c.cs.id] = c
		case d := <-dialed:
			if d.err == nil {
				continue
			}
			switch {
			case errors.Is(d.err, control.ErrAtCapacity):
				res.Refused++
			default:
				res.Failed++
				cfg.Log.Warn().Err(d.err).Msg("dial")
			}
			if d.cs == nil {
				done++
				<-slots
				continue
			}
			if c := calls[d.cs.id]; c != nil {
				c.answered = false
				finished(c)
			}
		case in, ok := <-events:
			now := time.Now()
			if !ok {
				runErr = fmt.Errorf("%w: %w", ErrEngineLost, client.Err())
				break
			}
			c := calls[in.CallID]
			if c == nil {
				continue
			}
			switch {
			case in.Status != nil:
				if in.Status.Status == call.StatusAnswered && !c.answered {
					c.answered = true
					res.Answered++
					n := live.Add(1)
					res.PeakCalls = max(res.PeakCalls, int(n))
				}
				if in.Status.Status.Final() {
					if !c.answered {
						res.Failed++
					}
					finished(c)
				}
			case in.AMD != nil && in.AMD.Event.Type.Decision() && !c.decided:
				ev := in.AMD.Event
				c.decided, c.decidedAt = true, now
				res.Decided++
				res.Verdicts[string(ev.Type)]++
				if ev.Type == c.cs.clip.want() {
					res.Correct++
				} else if len(res.Wrong) < 20 {
					res.Wrong = append(res.Wrong, fmt.Sprintf("%s: got %s (%s) at %d ms", c.cs.clip.meta.File, ev.Type, ev.Reason, ev.AtMs))
				}
				if lag, ok := eventLag(c.cs, ev, now); ok {
					lags = append(lags, lag.Microseconds())
				}
			}
		case <-check.C:
			now := time.Now()
			for _, c := range calls {
				ans := c.cs.answeredNs.Load()
				switch {
				case c.hungUp:
				case ans == 0 && now.Sub(c.dialedAt) > DefaultAnswerTimeout:
					hangup(c)
				case ans == 0:
				case c.decided && now.Sub(time.Unix(0, ans)) >= c.clipDur+cfg.HoldAfterClip:
					hangup(c)
				case !c.decided && now.Sub(time.Unix(0, ans)) >= c.clipDur+cfg.HoldAfterClip+cfg.DecisionGrace:
					hangup(c)
				}
			}
		case <-runDone:
			// Out of time (or interrupted): stop dialling, hang up what
			// is up, and give the final statuses a moment to arrive.
			runDone = nil
			stopDialing()
			for _, c := range calls {
				hangup(c)
			}
			drainUntil = time.After(10 * time.Second)
		case <-drainUntil:
			runErr = ErrMaxDuration
		case <-dialerExit:
			dialerExit, dialerExited = nil, true
		}
		if drainUntil != nil && dialerExited && len(calls) == 0 && runErr == nil {
			// Every call placed has ended; the rest were never dialled.
			runErr = ErrMaxDuration
		}
	}
	// The engine may have closed the channel (shut down, or dropped us as a
	// slow consumer) even if every call got accounted for. Dials that failed
	// (not refused at capacity) usually mean it is going away: give its close
	// a moment to arrive, so a run cut short by a shutdown is not reported as
	// a success just because every call was accounted for first.
	if runErr == nil {
		lost := false
		select {
		case <-client.Done():
			lost = true
		default:
			if res.Failed > 0 {
				select {
				case <-client.Done():
					lost = true
				case <-time.After(time.Second):
				}
			}
		}
		if lost {
			runErr = fmt.Errorf("%w: %w", ErrEngineLost, client.Err())
		}
	}
	if done < cfg.Calls && ctx.Err() != nil {
		runErr = fmt.Errorf("loadgen: interrupted: %w", ctx.Err())
	} else if done < cfg.Calls && runErr == nil {
		runErr = ErrMaxDuration
	}
	for _, c := range calls {
		res.RTPSent += c.cs.packets.Load()
	}
	elapsed := time.Since(start)
	finishedRun.Store(true)
	if n := liveSamples.Load(); n > 0 {
		res.MeanCalls = float64(liveSum.Load()) / float64(n)
	}
	res.DurationS = elapsed.Seconds()
	res.GeneratorCPUPercent = 100 * (processCPU() - cpu0).Seconds() / elapsed.Seconds()
	for _, p := range pacers {
		res.PacerLateTicks += p.late.Load()
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		res.EventLagP50Ms = float64(percentile(lags, 50)) / 1000
		res.EventLagP99Ms = float64(percentile(lags, 99)) / 1000
		res.EventLagMaxMs = float64(lags[len(lags)-1]) / 1000
		res.LagSamples = len(lags)
	}
	if mErr == nil {
		after, err := scrapeMetrics(context.Background(), cfg.MetricsURL)
		if err != nil {
			warn("rtp loss at engine: %v", err)
		} else {
			res.RTPLostAtEngine = int64(after.rtpLost - before.rtpLost)
			res.RTPLateAtEngine = int64(after.rtpLate - before.rtpLate)
			res.RTPReceivedAtEngine = int64(after.rtpPackets - before.rtpPackets)
		}
	}
	if pid > 0 {
		if end, err := ReadProc(pid); err != nil {
			warn("engine process figures: %v", err)
		} else {
			res.EngineCPUPercent = 100 * (end.CPU - base.CPU).Seconds() / end.At.Sub(base.At).Seconds()
			res.EngineRSSMiB = float64(max(peakRSS.Load(), end.RSSKiB)) / 1024
			if res.MeanCalls > 0 {
				res.EngineCPUPerCallPct = res.EngineCPUPercent / res.MeanCalls
			}
			if n := peakLive.Load(); n > 0 {
				res.RSSPerCallKiB = float64(rssAtPeak.Load()-base.RSSKiB) / float64(n)
			}
		}
	}
	if res.PacerLateTicks > 0 {
		warn("the generator fell behind real time on %d ticks: lag figures include its delay", res.PacerLateTicks)
	}
	return res, runErr
}

// eventLag is how long after the deciding frame left the generator the
// decision arrived. The event's atMs is audio time from the first frame
// the detector was fed, so the deciding frame is number atMs/20 - 1 of the
// stream (the detector's clock reads atMs after processing it).
func eventLag(cs *callState, ev engine.Event, arrived time.Time) (time.Duration, bool) {
	k := ev.AtMs/dsp.FrameMs - 1
	if k < 0 || k >= int64(len(cs.sent)) {
		return 0, false
	}
	sent := cs.sent[k].Load()
	if sent == 0 {
		return 0, false
	}
	return arrived.Sub(time.Unix(0, sent)), true
}

// percentile is the nearest-rank p-th percentile of sorted v.
func percentile(v []int64, p float64) int64 {
	if len(v) == 0 {
		return -1
	}
	rank := int(p/100*float64(len(v)) + 0.999999)
	return v[min(max(rank, 1), len(v))-1]
}
