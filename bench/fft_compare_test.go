package bench

// Why the tone detector's hot path uses gonum's dsp/fourier and not
// github.com/mjibson/go-dsp/fft (the design card's first idea):
//
// Measured here (2 cores shared with the rest of the team's builds, load
// average 8–15, Go 1.26, one 256-point real frame; best of 3 runs):
//
//	BenchmarkFFTGonum    6.5 µs/op        0 B/op    0 allocs/op   (4.5 µs on a quiet machine)
//	BenchmarkFFTGoDSP   23.2 µs/op   15 154 B/op   26 allocs/op
//
// go-dsp is 3–5× slower per transform even though it spreads each one over
// both cores, and it allocates on every call.
//
// Reading go-dsp's source (fft/fft.go, fft/radix2.go at
// v0.0.0-20180508042940-11479a337f12) explains the gap:
//   - FFTReal converts the input to a new []complex128 (dsputils.ToComplex),
//     radix2FFT allocates a temp, a bit-reversed copy and a job channel per
//     call, and sends a freshly allocated *fft_work for every block of every
//     stage: nothing is reused between calls.
//   - radix2FFT starts runtime.GOMAXPROCS(0) worker goroutines on every call
//     (`for i := 0; i < num_workers; i++ { go worker() }`) and stops them with
//     `defer close(jobs)`; nothing waits for them to exit, so they briefly
//     outlive the call. TestGoDSPStartsGoroutines counts them with the
//     runtime's /sched/goroutines-created metric.
//   - The twiddle factors live in a package-level map behind a global
//     sync.RWMutex (radix2Lock): every call takes the read lock, the first
//     call for a size takes the write lock, so all calls of all detectors in
//     the process contend on one lock. The worker count comes from an
//     unsynchronised package variable (worker_pool_size).
//
// A per-call detector that runs one goroutine per call and thousands of calls
// per process cannot afford goroutine churn and a global lock per frame. A
// gonum plan (fourier.NewFFT) is per-detector state, Coefficients writes into
// a caller-owned slice, and nothing is shared: 0 allocations, no goroutines,
// no locks. go-dsp stays only as this baseline.

import (
	"math"
	"math/cmplx"
	"runtime"
	"runtime/metrics"
	"testing"

	godsp "github.com/mjibson/go-dsp/fft"
	"go.uber.org/goleak"
	"gonum.org/v1/gonum/dsp/fourier"
)

const fftN = 256

// fftFrame is one Hann-windowed 256-sample frame of a 1 kHz tone in a little
// deterministic "noise", the input the tone detector transforms.
func fftFrame() []float64 {
	x := make([]float64, fftN)
	for i := range x {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/fftN)
		x[i] = w * (8000*math.Sin(2*math.Pi*1000*float64(i)/8000) + 300*math.Sin(float64(i*i)))
	}
	return x
}

func BenchmarkFFTGonum(b *testing.B) {
	x := fftFrame()
	plan := fourier.NewFFT(fftN)
	coef := make([]complex128, fftN/2+1)
	b.ReportAllocs()
	for b.Loop() {
		plan.Coefficients(coef, x)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ffts/s")
}

func BenchmarkFFTGoDSP(b *testing.B) {
	x := fftFrame()
	godsp.EnsureRadix2Factors(fftN) // keep the one-off factor computation out of the loop
	b.ReportAllocs()
	for b.Loop() {
		_ = godsp.FFTReal(x)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ffts/s")
}

// TestFFTImplementationsAgree makes sure the benchmarks compare equal work:
// both produce the same spectrum.
func TestFFTImplementationsAgree(t *testing.T) {
	defer goleak.VerifyNone(t) // go-dsp's workers must all have exited
	x := fftFrame()
	coef := fourier.NewFFT(fftN).Coefficients(nil, x)
	ref := godsp.FFTReal(x)
	var peak float64
	for _, c := range coef {
		peak = max(peak, cmplx.Abs(c))
	}
	for k := range coef {
		if d := cmplx.Abs(coef[k] - ref[k]); d > 1e-9*peak {
			t.Fatalf("bin %d: gonum %v, go-dsp %v (|diff| %g)", k, coef[k], ref[k], d)
		}
	}
}

func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// TestGoDSPStartsGoroutines verifies the claim above: go-dsp starts
// GOMAXPROCS goroutines per transform, gonum none.
func TestGoDSPStartsGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Skip("runtime lacks /sched/goroutines-created")
	}
	const calls = 50
	x := fftFrame()

	plan := fourier.NewFFT(fftN)
	coef := make([]complex128, fftN/2+1)
	before := goroutinesCreated()
	for range calls {
		plan.Coefficients(coef, x)
	}
	if d := goroutinesCreated() - before; d > 2 { // slack for the runtime's own
		t.Errorf("gonum: %d goroutines created over %d transforms, want 0", d, calls)
	}

	before = goroutinesCreated()
	for range calls {
		_ = godsp.FFTReal(x)
	}
	d := goroutinesCreated() - before
	want := uint64(calls * runtime.GOMAXPROCS(0))
	if d < want {
		t.Errorf("go-dsp: %d goroutines created over %d transforms, expected at least %d (GOMAXPROCS per call)", d, calls, want)
	}
	t.Logf("go-dsp started %d goroutines for %d transforms (GOMAXPROCS=%d)", d, calls, runtime.GOMAXPROCS(0))
}
