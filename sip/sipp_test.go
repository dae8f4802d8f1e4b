package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
)

func TestSIPpBusy(t *testing.T) {
	t.Parallel()
	sp := startSIPp(t, "uas_busy.xml", "")
	u := newTestUA(t)
	c, err := u.Dial(context.Background(), DialRequest{CallID: "busy-1", Target: fmt.Sprintf("sip:busy@%s", sp.addr), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ps := collect(t, c, 15*time.Second)
	last := ps[len(ps)-1]
	var fr *FinalResponseError
	if last.Kind != ProgressFailed || !errors.As(last.Err, &fr) {
		t.Fatalf("progress %v, last err %v", kinds(ps), last.Err)
	}
	if fr.Reason() != "486 Busy Here" || fr.ReasonCode() != "Busy Here" {
		t.Errorf("reason %q / %q", fr.Reason(), fr.ReasonCode())
	}
	// sipgo dispatches responses concurrently: under load a 100 can be
	// overtaken by the 180 (then it is dropped), and a 180 by the 486
	// (then the transaction ignores it). What must hold: no step repeats,
	// the order never goes back, and the call ends failed.
	switch got := fmt.Sprint(kinds(ps)); got {
	case "[trying ringing failed]", "[ringing failed]", "[trying failed]", "[failed]":
	default:
		t.Errorf("progress %v, want [trying ringing failed] or a subsequence", got)
	}
	if err := sp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp: %v (our ACK missing?)", err)
	}
}

func TestSIPpNoAnswerCancels(t *testing.T) {
	t.Parallel()
	sp := startSIPp(t, "uas_noanswer.xml", "")
	u := newTestUA(t)
	start := time.Now()
	c, err := u.Dial(context.Background(), DialRequest{Target: fmt.Sprintf("sip:noanswer@%s", sp.addr), Timeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ps := collect(t, c, 15*time.Second)
	last := ps[len(ps)-1]
	if last.Kind != ProgressFailed || !errors.Is(last.Err, ErrNoAnswer) {
		t.Fatalf("progress %v, last err %v", kinds(ps), last.Err)
	}
	if last.StatusCode != 487 {
		t.Errorf("final status %d, want 487 after CANCEL", last.StatusCode)
	}
	if d := time.Since(start); d < 1400*time.Millisecond || d > 8*time.Second {
		t.Errorf("gave up after %v, want ~1.5s", d)
	}
	if err := sp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp did not see CANCEL/ACK: %v", err)
	}
}

func TestSIPpAnswerStreamRemoteBye(t *testing.T) {
	t.Parallel()
	sp := startSIPp(t, "uas_answer_bye.xml", "")
	u := newTestUA(t)
	c, err := u.Dial(context.Background(), DialRequest{CallID: "media-1", Target: fmt.Sprintf("sip:tones@%s", sp.addr), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ans := waitFor(t, c, ProgressAnswered, 10*time.Second)
	if ans.Codec != CodecPCMU || ans.ConnectDuration < 250*time.Millisecond || ans.RingDuration <= 0 || ans.RingDuration > ans.ConnectDuration {
		t.Errorf("answered %+v", ans)
	}
	pcm := readAudio(t, c.Media(), 1200*time.Millisecond, 4*time.Second)
	checkTones(t, pcm)
	// PCMU end to end is lossless: the file's μ-law bytes, decoded, must
	// appear in what we heard sample for sample.
	checkBitExact(t, pcm, "testdata/tones_ulaw.wav", dsp.DecodeMulaw)
	p := waitFor(t, c, ProgressRemoteBye, 10*time.Second)
	_ = p
	if err := sp.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := c.Media().Stats(); st.Packets < 55 || st.Strangers != 0 || st.Malformed != 0 {
		t.Errorf("media stats %+v", st)
	}
}

func TestSIPpDigestAuth(t *testing.T) {
	t.Parallel()
	for _, scen := range []string{"uas_auth.xml", "uas_proxy_auth.xml"} {
		t.Run(scen, func(t *testing.T) {
			t.Parallel()
			testDigestAuth(t, scen)
		})
	}
}

// testDigestAuth: a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate)
// challenge answered with the trunk's credentials, verified by SIPp.
func testDigestAuth(t *testing.T, scenario string) {
	sp := startSIPp(t, scenario, "")
	u := newTestUA(t, Trunk{Name: "carrier", Host: "127.0.0.1", Port: int(sp.addr.Port()), Username: "amd", Password: "s3cret"})
	c, err := u.Dial(context.Background(), DialRequest{Target: "+4930123456", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ans := waitFor(t, c, ProgressAnswered, 10*time.Second)
	if ans.Codec != CodecPCMA {
		t.Errorf("codec %v", ans.Codec)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	ps := collect(t, c, 5*time.Second)
	if len(ps) == 0 || ps[len(ps)-1].Kind != ProgressEnded {
		t.Fatalf("after hangup %v", kinds(ps))
	}
	if err := sp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp rejected our digest or BYE: %v", err)
	}
}

func TestSIPpInboundRejected(t *testing.T) {
	t.Parallel()
	u := newTestUA(t)
	sp := startSIPp(t, "uac_invite_rejected.xml", u.Addr().String())
	if err := sp.wait(t, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	st := u.Stats()
	if st.InvitesRejected != 1 || st.OptionsAnswered != 1 || st.ActiveCalls != 0 {
		t.Errorf("ua stats %+v", st)
	}
}

// readAudio reads frames for want of audio time or until d passes.
func readAudio(t *testing.T, m *MediaSession, want, d time.Duration) []int16 {
	t.Helper()
	frame := make([]int16, dsp.FrameSamples)
	var pcm []int16
	end := time.Now().Add(d)
	for len(pcm) < int(want/time.Millisecond)*8 {
		_, err := m.ReadFrame(frame, end)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		pcm = append(pcm, frame...)
	}
	return pcm
}

// checkTones asserts the file's shape: 440 Hz for 0.6 s then 1000 Hz.
func checkTones(t *testing.T, pcm []int16) {
	t.Helper()
	if len(pcm) < 8000 {
		t.Fatalf("only %d samples of audio", len(pcm))
	}
	first, second := pcm[800:4000], pcm[len(pcm)-3200:]
	if r := goertzelRatio(first, 440); r < 0.7 {
		t.Errorf("first part: 440 Hz share %.2f", r)
	}
	if r := goertzelRatio(second, 1000); r < 0.7 {
		t.Errorf("second part: 1000 Hz share %.2f", r)
	}
	if r := goertzelRatio(first, 1000); r > 0.1 {
		t.Errorf("first part has 1000 Hz share %.2f", r)
	}
}

func TestSIPpEarlyMediaThen404(t *testing.T) {
	t.Parallel()
	sp := startSIPp(t, "uas_early_media_404.xml", "")
	u := newTestUA(t)
	c, err := u.Dial(context.Background(), DialRequest{Target: fmt.Sprintf("sip:intercept@%s", sp.addr), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	em := waitFor(t, c, ProgressEarlyMedia, 10*time.Second)
	if em.Codec != CodecPCMA || em.StatusCode != 183 {
		t.Errorf("early media %+v", em)
	}
	pcm := readAudio(t, c.Media(), 1200*time.Millisecond, 4*time.Second)
	checkTones(t, pcm)
	checkBitExact(t, pcm, "testdata/tones_alaw.wav", dsp.DecodeAlaw)
	ps := collect(t, c, 10*time.Second)
	last := ps[len(ps)-1]
	var fr *FinalResponseError
	if last.Kind != ProgressFailed || !errors.As(last.Err, &fr) || fr.Reason() != "404 Not Found" {
		t.Fatalf("after early media: %v %v", kinds(ps), last.Err)
	}
	if err := sp.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestSIPpReinviteKeepsCall(t *testing.T) {
	t.Parallel()
	sp := startSIPp(t, "uas_reinvite.xml", "")
	u := newTestUA(t)
	c, err := u.Dial(context.Background(), DialRequest{Target: fmt.Sprintf("sip:pbx@%s", sp.addr), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, c, ProgressAnswered, 10*time.Second)
	// SIPp checks our 200 to its re-INVITE carries PCMU SDP; the call
	// then ends by the callee's BYE, not by the re-INVITE.
	waitFor(t, c, ProgressRemoteBye, 10*time.Second)
	if err := sp.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestSIPpAnswerWithoutCommonCodec(t *testing.T) {
	t.Parallel()
	sp := startSIPp(t, "uas_answer_g729.xml", "")
	u := newTestUA(t)
	c, err := u.Dial(context.Background(), DialRequest{Target: fmt.Sprintf("sip:g729@%s", sp.addr), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ps := collect(t, c, 10*time.Second)
	last := ps[len(ps)-1]
	if last.Kind != ProgressFailed || !errors.Is(last.Err, ErrNoCodec) {
		t.Fatalf("progress %v err %v", kinds(ps), last.Err)
	}
	if r, _ := FailureReason(last.Err); r != "488 Not Acceptable Here" {
		t.Errorf("reason %q", r)
	}
	if err := sp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp did not get ACK+BYE: %v", err)
	}
}

func TestSIPpHoldSuspendsMediaTimeout(t *testing.T) {
	t.Parallel()
	sp := startSIPp(t, "uas_hold.xml", "")
	min, max := freePortRange(t, 4)
	u, err := NewUA(Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: min, RTPPortMax: max,
		MediaTimeout: 800 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	c, err := u.Dial(context.Background(), DialRequest{Target: fmt.Sprintf("sip:hold@%s", sp.addr), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, c, ProgressAnswered, 10*time.Second)
	// Owner loop: no RTP ever comes. The callee holds the call within
	// 200 ms (inside the 800 ms timeout), then stays silent for 1.5 s:
	// only the BYE may end this call.
	frame := make([]int16, 160)
	end := time.After(10 * time.Second)
	for {
		select {
		case p := <-c.Progress():
			if p.Kind != ProgressRemoteBye {
				t.Fatalf("progress %v", p.Kind)
			}
			if err := sp.wait(t, 10*time.Second); err != nil {
				t.Fatalf("sipp (our 200 must say a=inactive): %v", err)
			}
			return
		case <-end:
			t.Fatal("no BYE")
		default:
		}
		if _, err := c.Media().ReadFrame(frame, time.Now().Add(20*time.Millisecond)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("held call failed: %v", err)
		}
	}
}

// checkBitExact finds the file's decoded samples inside pcm and requires
// every one of them to match (allowing only for where the stream starts).
func checkBitExact(t *testing.T, pcm []int16, wav string, decode func([]int16, []byte) int) {
	t.Helper()
	b, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("data"))
	if i < 0 || len(b) < i+8 {
		t.Fatalf("%s: no data chunk", wav)
	}
	data := b[i+8:]
	want := make([]int16, len(data))
	decode(want, data)
	// Locate the first 32 samples of the file in what we heard.
	off := -1
	for o := 0; o+32 <= len(pcm) && off < 0; o++ {
		if equalPCM(pcm[o:o+32], want[:32]) {
			off = o
		}
	}
	if off < 0 {
		t.Fatalf("%s: file start not found in %d received samples", wav, len(pcm))
	}
	n := min(len(want), len(pcm)-off)
	if n < len(want)-320 {
		t.Fatalf("%s: only %d of %d samples received after offset %d", wav, n, len(want), off)
	}
	for k := range n {
		if pcm[off+k] != want[k] {
			t.Fatalf("%s: sample %d differs (%d vs %d)", wav, k, pcm[off+k], want[k])
		}
	}
}
