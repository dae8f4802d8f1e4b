package bench

// Which FFT the tone detector's hot path uses, and why.
//
// The hop transform is a 256-point real DFT of a Hann-windowed 32 ms window,
// run on the ~8 % of frames the pre-test lets through (one or two per
// frame). Candidates, measured here (one 256-point real frame to all 129
// coefficients; Go 1.26, this 2-core machine, 12:09 UTC, load ≈ 3):
//
//	BenchmarkFFTGonumPacked     ~1.5 µs      0 allocs  gonum CoefficientsRadix2 on 128 packed points + split  ← hot path
//	BenchmarkFFTGonumCmplxPlan  ~4.3 µs      0 allocs  gonum NewCmplxFFT(128) (fftpack) + split
//	BenchmarkFFTGonum           ~4.1 µs      0 allocs  gonum NewFFT(256) (fftpack real plan)
//	BenchmarkFFTGoDSP          ~16–23 µs    26 allocs  mjibson/go-dsp FFTReal, 14.8 KiB per call
//
// (The hand-written radix-2/4 transform that the hot path used before,
// dsp/tone_fft.go at 83fda8b, measured 0.95 µs for the same work.)
//
// The hot path packs the 256 real samples into 128 complex ones (even
// samples real, odd imaginary), transforms them in place with gonum's
// fourier.CoefficientsRadix2 and splits the result into the real signal's
// spectrum (dsp/tone_fft.go). Half the points of a real plan, no plan at all
// (the radix-2 routine derives its twiddles as it goes, accurate to ~1e-15
// relative at this size: TestFFTImplementationsAgree), so nothing per call
// and nothing shared: gonum's fftpack plans are ~3× slower at this size and
// hold 6–24 KiB of work space per plan, which per call would be most of the
// detector's memory. The 1024-point dual-tone veto, run once per candidate
// tone, keeps gonum's real plan (fourier.NewFFT) in a sync.Pool.
//
// Why not github.com/mjibson/go-dsp/fft (the design card's first idea):
// it is 5× slower than even gonum's plan and allocates on every call.
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
// per process cannot afford goroutine churn and a global lock per frame.
// gonum's routines write into caller-owned slices and share nothing: 0
// allocations, no goroutines, no locks. go-dsp stays only as this baseline.

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

// packFrame packs 256 real samples into 128 complex ones: even samples
// real, odd imaginary.
func packFrame(z []complex128, x []float64) {
	for m := range z {
		z[m] = complex(x[2*m], x[2*m+1])
	}
}

// splitPacked turns the 128-point transform z of a packed real frame into
// the frame's 129 coefficients: with E = (Z[k] + conj Z[N−k])/2 and
// O = (Z[k] − conj Z[N−k])/(2i), X[k] = E + e^{−2πi k/256}·O. tw holds
// e^{−2πi k/256}.
func splitPacked(dst, z, tw []complex128) {
	const h = fftN / 2
	dst[0] = complex(real(z[0])+imag(z[0]), 0)
	dst[h] = complex(real(z[0])-imag(z[0]), 0)
	for k := 1; k < h; k++ {
		zr, zi := real(z[k]), imag(z[k])
		cr, ci := real(z[h-k]), -imag(z[h-k])
		er, ei := (zr+cr)/2, (zi+ci)/2
		or, oi := (zi-ci)/2, -(zr-cr)/2 // (Z[k] − conj Z[N−k])/2, divided by i
		wr, wi := real(tw[k]), imag(tw[k])
		dst[k] = complex(er+wr*or-wi*oi, ei+wr*oi+wi*or)
	}
}

func splitTwiddles() []complex128 {
	tw := make([]complex128, fftN/2)
	for k := range tw {
		tw[k] = cmplx.Exp(complex(0, -2*math.Pi*float64(k)/fftN))
	}
	return tw
}

// BenchmarkFFTGonumPacked is the hot path's way: pack, gonum's in-place
// radix-2 transform (no plan), split.
func BenchmarkFFTGonumPacked(b *testing.B) {
	x := fftFrame()
	tw := splitTwiddles()
	z := make([]complex128, fftN/2)
	coef := make([]complex128, fftN/2+1)
	b.ReportAllocs()
	for b.Loop() {
		packFrame(z, x)
		fourier.CoefficientsRadix2(z)
		splitPacked(coef, z, tw)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ffts/s")
}

// BenchmarkFFTGonumCmplxPlan: the same packing through gonum's fftpack
// complex plan.
func BenchmarkFFTGonumCmplxPlan(b *testing.B) {
	x := fftFrame()
	tw := splitTwiddles()
	plan := fourier.NewCmplxFFT(fftN / 2)
	z := make([]complex128, fftN/2)
	coef := make([]complex128, fftN/2+1)
	b.ReportAllocs()
	for b.Loop() {
		packFrame(z, x)
		plan.Coefficients(z, z)
		splitPacked(coef, z, tw)
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
// all produce the same spectrum as gonum's real plan.
func TestFFTImplementationsAgree(t *testing.T) {
	defer goleak.VerifyNone(t) // go-dsp's workers must all have exited
	x := fftFrame()
	coef := fourier.NewFFT(fftN).Coefficients(nil, x)
	var peak float64
	for _, c := range coef {
		peak = max(peak, cmplx.Abs(c))
	}
	tw := splitTwiddles()
	packed := func(transform func(z []complex128)) []complex128 {
		z := make([]complex128, fftN/2)
		packFrame(z, x)
		transform(z)
		out := make([]complex128, fftN/2+1)
		splitPacked(out, z, tw)
		return out
	}
	cmplxPlan := fourier.NewCmplxFFT(fftN / 2)
	others := []struct {
		name string
		coef []complex128
	}{
		{"go-dsp", godsp.FFTReal(x)},
		{"gonum packed radix-2", packed(func(z []complex128) { fourier.CoefficientsRadix2(z) })},
		{"gonum packed complex plan", packed(func(z []complex128) { cmplxPlan.Coefficients(z, z) })},
	}
	for _, o := range others {
		for k := range coef {
			if d := cmplx.Abs(coef[k] - o.coef[k]); d > 1e-12*peak {
				t.Fatalf("%s, bin %d: %v, gonum's real plan %v (|diff| %g)", o.name, k, o.coef[k], coef[k], d)
			}
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
