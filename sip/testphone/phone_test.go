package testphone

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	amdsip "github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func logger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

func startPhone(t *testing.T, cfg Config) *Phone {
	t.Helper()
	cfg.ListenAddr = "127.0.0.1:0"
	if cfg.Audio == "" {
		cfg.Audio = "../testdata"
	}
	p, err := New(cfg, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func rtpRange(t *testing.T) (int, int) {
	t.Helper()
	for range 50 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		base := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		c.Close()
		if base > 20000 && base < 60000 {
			return base, base + 14
		}
	}
	t.Fatal("no port range")
	return 0, 0
}

func startUA(t *testing.T) *amdsip.UA {
	t.Helper()
	min, max := rtpRange(t)
	u, err := amdsip.NewUA(amdsip.Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: min, RTPPortMax: max,
		PortDrain: 50 * time.Millisecond, MediaTimeout: 3 * time.Second}, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func next(t *testing.T, c *amdsip.OutboundCall, want amdsip.ProgressKind) amdsip.Progress {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case p, ok := <-c.Progress():
			if !ok {
				t.Fatalf("progress closed waiting for %v", want)
			}
			if p.Kind == want {
				return p
			}
			if p.Kind.Final() {
				t.Fatalf("got %v (%v) waiting for %v", p.Kind, p.Err, want)
			}
		case <-timeout:
			t.Fatalf("timeout waiting for %v", want)
		}
	}
}

// readFrames reads until n samples or the deadline; DTMF keys are collected.
func readFrames(t *testing.T, m *amdsip.MediaSession, n int, d time.Duration) ([]int16, string) {
	t.Helper()
	frame := make([]int16, dsp.FrameSamples)
	var pcm []int16
	var keys []rune
	end := time.Now().Add(d)
	for len(pcm) < n {
		fi, err := m.ReadFrame(frame, end)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		if fi.DTMF != 0 {
			keys = append(keys, fi.DTMF)
		}
		pcm = append(pcm, frame...)
	}
	return pcm, string(keys)
}

func toneShare(x []int16, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2, energy float64
	for _, v := range x {
		f := float64(v)
		s := f + k*s1 - s2
		s2, s1 = s1, s
		energy += f * f
	}
	if energy == 0 {
		return 0
	}
	return 2 * (s1*s1 + s2*s2 - k*s1*s2) / (float64(len(x)) * energy)
}

// findTone returns the sample index where freq starts to dominate, or -1.
func findTone(pcm []int16, freq float64) int {
	for i := 0; i+800 <= len(pcm); i += 160 {
		if toneShare(pcm[i:i+800], freq) > 0.8 {
			return i
		}
	}
	return -1
}

func TestAnswerAndStreamPerCodec(t *testing.T) {
	t.Parallel()
	ph := startPhone(t, Config{RingDelay: 100 * time.Millisecond})
	u := startUA(t)
	for _, codec := range []amdsip.Codec{amdsip.CodecPCMU, amdsip.CodecPCMA, amdsip.CodecOpus} {
		t.Run(string(codec), func(t *testing.T) {
			target := fmt.Sprintf("sip:tones_ulaw@%s;codec=%s;bye=end", ph.Addr(), codec)
			c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: target, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ring := next(t, c, amdsip.ProgressRinging)
			ans := next(t, c, amdsip.ProgressAnswered)
			if ans.Codec != codec || ans.RingDuration < 80*time.Millisecond || ring.StatusCode != 180 {
				t.Errorf("answered %+v after ring %+v", ans, ring)
			}
			pcm, _ := readFrames(t, c.Media(), 9600, 4*time.Second)
			// The file is 0.6 s of 440 Hz then 0.6 s of 1000 Hz: both must
			// arrive, in that order, about 0.6 s apart.
			a, b := findTone(pcm, 440), findTone(pcm, 1000)
			if a < 0 || b < 0 || b-a < 4000 || b-a > 5600 {
				t.Fatalf("%s: 440 Hz at %d, 1000 Hz at %d (of %d samples)", codec, a, b, len(pcm))
			}
			next(t, c, amdsip.ProgressRemoteBye)
			if st := c.Media().Stats(); st.Lost > 2 || st.DecodeErrors != 0 {
				t.Errorf("media stats %+v", st)
			}
		})
	}
}

func TestRejectNoAnswerAndHangup(t *testing.T) {
	t.Parallel()
	ph := startPhone(t, Config{RingDelay: 50 * time.Millisecond})
	u := startUA(t)

	c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:reject-503@%s", ph.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	p := next(t, c, amdsip.ProgressFailed)
	var fr *amdsip.FinalResponseError
	if !errors.As(p.Err, &fr) || fr.Reason() != "503 Service Unavailable" {
		t.Errorf("reject: %v", p.Err)
	}
	c.Close()

	c, err = u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:noanswer@%s", ph.Addr()), Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if p := next(t, c, amdsip.ProgressFailed); !errors.Is(p.Err, amdsip.ErrNoAnswer) || p.StatusCode != 487 {
		t.Errorf("noanswer: %v status %d", p.Err, p.StatusCode)
	}
	c.Close()

	c, err = u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:tones_ulaw@%s", ph.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	next(t, c, amdsip.ProgressAnswered)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	next(t, c, amdsip.ProgressEnded)
	c.Close()

	deadline := time.Now().Add(3 * time.Second)
	for len(ph.Records()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var outcomes []string
	for _, r := range ph.Records() {
		outcomes = append(outcomes, r.Outcome)
		if r.User == "tones_ulaw" && !r.RemoteBye {
			t.Errorf("phone did not see our BYE: %+v", r)
		}
	}
	if fmt.Sprint(outcomes) != "[rejected cancelled answered]" {
		t.Errorf("phone outcomes %v", outcomes)
	}
}

func TestEarlyMediaThenReject(t *testing.T) {
	t.Parallel()
	ph := startPhone(t, Config{})
	u := startUA(t)
	c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:tones_ulaw@%s;early=1;reject=404", ph.Addr()), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	em := next(t, c, amdsip.ProgressEarlyMedia)
	if em.Codec != amdsip.CodecPCMU || em.StatusCode != 183 {
		t.Errorf("early media %+v", em)
	}
	// Audio before any answer: what SIT-tone detection depends on.
	pcm, _ := readFrames(t, c.Media(), 8000, 4*time.Second)
	if findTone(pcm, 440) < 0 || findTone(pcm, 1000) < 0 {
		t.Fatalf("early media tones not heard in %d samples", len(pcm))
	}
	p := next(t, c, amdsip.ProgressFailed)
	var fr *amdsip.FinalResponseError
	if !errors.As(p.Err, &fr) || fr.StatusCode != 404 {
		t.Fatalf("after early media: %v", p.Err)
	}
}

func TestDTMFEndToEnd(t *testing.T) {
	t.Parallel()
	ph := startPhone(t, Config{RingDelay: 20 * time.Millisecond})
	u := startUA(t)
	c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:tones_ulaw@%s;dtmf=19%%23", ph.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next(t, c, amdsip.ProgressAnswered)
	// 1.2 s of file, 3 × 160 ms of digits (given back as silence), then
	// silence that carries the last key out: read until all keys came.
	var keys string
	for end := time.Now().Add(8 * time.Second); len(keys) < 3 && time.Now().Before(end); {
		_, k := readFrames(t, c.Media(), 1600, time.Until(end))
		keys += k
	}
	if keys != "19#" {
		t.Fatalf("dtmf %q, want 19#", keys)
	}
	if got := c.Media().Stats().DTMF; got != 3 {
		t.Errorf("dtmf count %d", got)
	}
}

func TestParseBehaviour(t *testing.T) {
	t.Parallel()
	def := Behaviour{RingDelay: time.Second, Codecs: amdsip.DefaultCodecs}
	for _, tc := range []struct {
		user   string
		params map[string]string
		check  func(Behaviour) bool
		err    bool
	}{
		{"reject-486", nil, func(b Behaviour) bool { return b.Reject == 486 && b.Audio == "" }, false},
		{"noanswer", nil, func(b Behaviour) bool { return b.NoAnswer }, false},
		{"greeting", map[string]string{"ring-ms": "250", "codec": "opus", "bye-after": "3000"}, func(b Behaviour) bool {
			return b.Audio == "greeting" && b.RingDelay == 250*time.Millisecond && b.Codecs[0] == amdsip.CodecOpus && b.ByeAfter == 3*time.Second
		}, false},
		{"sit", map[string]string{"early": "1", "reject": "404"}, func(b Behaviour) bool { return b.Early && b.Reject == 404 }, false},
		{"reject-200", nil, nil, true},
		{"../etc/passwd", nil, nil, true},
		{"x", map[string]string{"codec": "g729"}, nil, true},
		{"x", map[string]string{"bogus": "1"}, nil, true},
		{"x", map[string]string{"dtmf": "12x"}, nil, true},
	} {
		b, err := ParseBehaviour(tc.user, tc.params, def)
		if (err != nil) != tc.err || (tc.check != nil && !tc.check(b)) {
			t.Errorf("%s %v: %+v %v", tc.user, tc.params, b, err)
		}
	}
}

func FuzzParseBehaviour(f *testing.F) {
	f.Add("reject-486", "ring-ms", "100")
	f.Add("greeting", "codec", "opus,pcmu")
	f.Add("noanswer", "dtmf", "12#")
	f.Fuzz(func(t *testing.T, user, k, v string) {
		b, err := ParseBehaviour(user, map[string]string{k: v}, Behaviour{})
		if err != nil {
			return
		}
		if b.Audio != "" && (b.Audio != user || b.Reject != 0 && !b.Early && false) {
			t.Fatalf("audio %q from user %q", b.Audio, user)
		}
		if b.Reject != 0 && (b.Reject < 400 || b.Reject > 699) {
			t.Fatalf("reject %d", b.Reject)
		}
		for _, r := range b.Audio {
			if r == '/' || r == '\\' {
				t.Fatalf("audio name escapes the dir: %q", b.Audio)
			}
		}
	})
}

func TestAudioFoundBelowDir(t *testing.T) {
	t.Parallel()
	ph := startPhone(t, Config{Audio: "..", RingDelay: 10 * time.Millisecond}) // testdata/tones_alaw.wav is two levels down
	pcm, err := ph.audio("tones_alaw")
	if err != nil || len(pcm) != 9600 {
		t.Fatalf("recursive lookup: %d samples, %v", len(pcm), err)
	}
	if _, err := ph.audio("does_not_exist"); err == nil {
		t.Fatal("missing file found")
	}
}

// TestImpairedNetwork runs the receiver against loss and reordering made
// by the phone: the tones must survive, and the counters must tell.
func TestImpairedNetwork(t *testing.T) {
	t.Parallel()
	ph := startPhone(t, Config{RingDelay: 20 * time.Millisecond})
	u := startUA(t)
	for _, tc := range []struct {
		params     string
		lost, reor bool
	}{
		{";loss=10", true, false},
		{";reorder=20", false, true},
	} {
		c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:tones_ulaw@%s%s;bye=end", ph.Addr(), tc.params)})
		if err != nil {
			t.Fatal(err)
		}
		next(t, c, amdsip.ProgressAnswered)
		pcm, _ := readFrames(t, c.Media(), 9600, 4*time.Second)
		if findTone(pcm, 440) < 0 || findTone(pcm, 1000) < 0 {
			t.Errorf("%s: tones lost", tc.params)
		}
		st := c.Media().Stats()
		if (st.Lost > 0) != tc.lost || (st.Reordered > 0) != tc.reor {
			t.Errorf("%s: lost %d reordered %d", tc.params, st.Lost, st.Reordered)
		}
		if tc.lost && st.ConcealedFrames == 0 {
			t.Errorf("%s: no frame marked lost", tc.params)
		}
		c.Close()
	}
}

func TestAudioOtherFormatsViaAudiofile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// 16 kHz stereo is not the fast path: it must be resampled and mixed.
	cmd := exec.Command("sox", "../testdata/tones_pcm16.wav", "-r", "16000", "-c", "2", filepath.Join(dir, "wide.wav"))
	if err := cmd.Run(); err != nil {
		t.Skip("sox unavailable:", err)
	}
	ph := startPhone(t, Config{Audio: dir})
	pcm, err := ph.audio("wide")
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) < 9500 || len(pcm) > 9700 {
		t.Fatalf("%d samples, want ~9600 at 8 kHz", len(pcm))
	}
	if findTone(pcm, 440) < 0 || findTone(pcm, 1000) < 0 {
		t.Fatal("tones lost in conversion")
	}
}

func TestPhoneCloseHangsUp(t *testing.T) {
	t.Parallel()
	ph := startPhone(t, Config{RingDelay: 10 * time.Millisecond})
	u := startUA(t)
	c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:tones_ulaw@%s", ph.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next(t, c, amdsip.ProgressAnswered)
	start := time.Now()
	if err := ph.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("close took %v", d)
	}
	next(t, c, amdsip.ProgressRemoteBye)
	if recs := ph.Records(); len(recs) != 1 || !recs[0].HungUp {
		t.Errorf("records %+v", recs)
	}
}

func TestPtimeEndToEnd(t *testing.T) {
	t.Parallel()
	ph := startPhone(t, Config{RingDelay: 10 * time.Millisecond})
	u := startUA(t)
	for _, ptime := range []int{10, 30, 40, 60} {
		t.Run(fmt.Sprint(ptime), func(t *testing.T) {
			c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:tones_ulaw@%s;ptime=%d;codec=pcma;bye=end", ph.Addr(), ptime)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			next(t, c, amdsip.ProgressAnswered)
			pcm, _ := readFrames(t, c.Media(), 9600, 4*time.Second)
			a, b := findTone(pcm, 440), findTone(pcm, 1000)
			if a < 0 || b-a < 4000 || b-a > 5600 {
				t.Fatalf("ptime %d: 440 Hz at %d, 1000 Hz at %d", ptime, a, b)
			}
			st := c.Media().Stats()
			// 1.2 s of file in packets of ptime ms, give or take the edges.
			if want := uint64(1200 / ptime); st.Packets < want || st.Lost != 0 {
				t.Errorf("ptime %d: %d packets (want >= %d), %d lost", ptime, st.Packets, want, st.Lost)
			}
		})
	}
}

// TestSIPpCallsThePhone checks the phone against a third-party UAC: SIPp's
// built-in uac scenario (INVITE, 180/200, ACK, BYE) must complete.
func TestSIPpCallsThePhone(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed")
	}
	ph := startPhone(t, Config{RingDelay: 50 * time.Millisecond})
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-sn", "uac", "-s", "tones_ulaw", "-i", "127.0.0.1", "-p", fmt.Sprint(port),
		"-m", "1", "-d", "500", "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err", "-error_file", filepath.Join(t.TempDir(), "err.log"),
		ph.Addr().String())
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sipp uac: %v\n%s", err, tailString(string(out), 1500))
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(ph.Records()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	recs := ph.Records()
	if len(recs) != 1 || recs[0].Outcome != "answered" || !recs[0].RemoteBye || recs[0].Codec != amdsip.CodecPCMU || recs[0].Packets == 0 {
		t.Fatalf("phone records %+v", recs)
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{Reject: 200}, {Audio: "/nonexistent/audio"}} {
		if _, err := New(cfg, zerolog.Nop()); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
