// Package bench holds the project's benchmarks that span more than one
// package or compare implementations: per-stage benchmarks (stages_test.go),
// the whole-pipeline benchmarks (pipeline_test.go), and the measurements
// behind design decisions (fft_compare_test.go: why the tone detector's FFT
// is gonum's). bench/plot turns capacity-run JSON into BENCHMARKS.md's
// table and plots; bench/capacity.sh produces that JSON with amdd and
// `amdctl load`.
//
// The load generator's core is not here but in package loadgen, because
// amdctl (production code) runs it and production code never imports bench.
package bench
