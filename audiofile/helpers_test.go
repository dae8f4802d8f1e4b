package audiofile

import (
	"bytes"
	"errors"
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/amd-engine/amd/dsp"
)

var sentinels = []error{ErrUnsupported, ErrTruncated, ErrEmpty, ErrCorrupt, ErrTooLong}

// checkErr asserts the error contract: wraps exactly one sentinel, one line.
func checkErr(t testing.TB, err error) {
	t.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
	}
	msg := err.Error()
	if msg == "" || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("error message %q is not one line", msg)
	}
}

func decodeBytes(b []byte) (*Audio, error) {
	return Decode(bytes.NewReader(b), int64(len(b)))
}

func sineAt(rate int, freq, amp float64, n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return s
}

// level returns the amplitude of freq in s (8 kHz) by least-squares fit
// of sine and cosine over s[skip:len-skip].
func level(s []int16, freq float64, skip int) float64 {
	var ss, cc, sc, ys, yc float64
	for i := skip; i < len(s)-skip; i++ {
		w := 2 * math.Pi * freq * float64(i) / dsp.SampleRate
		si, co := math.Sin(w), math.Cos(w)
		y := float64(s[i])
		ss += si * si
		cc += co * co
		sc += si * co
		ys += y * si
		yc += y * co
	}
	det := ss*cc - sc*sc
	if det == 0 {
		return 0
	}
	a := (ys*cc - yc*sc) / det
	b := (yc*ss - ys*sc) / det
	return math.Hypot(a, b)
}

func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

func runTool(t testing.TB, name string, args ...string) {
	t.Helper()
	path := needTool(t, name)
	cmd := exec.CommandContext(t.Context(), path, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// expectTruncationSafe decodes every prefix of b and asserts each either
// fails with a well-formed error or yields no more audio than the whole.
func expectTruncationSafe(t *testing.T, b []byte, full int) {
	t.Helper()
	for cut := 0; cut < len(b); cut++ {
		a, err := decodeBytes(b[:cut])
		if err != nil {
			checkErr(t, err)
			continue
		}
		if len(a.Samples) > full {
			t.Fatalf("prefix of %d bytes decodes to %d samples, more than the whole file's %d", cut, len(a.Samples), full)
		}
	}
}
