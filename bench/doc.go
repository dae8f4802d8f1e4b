// Package bench holds the project's benchmarks that span more than one
// package or compare implementations: per-stage and whole-pipeline
// benchmarks, the load generator's core, and the measurements behind design
// decisions (for example why the tone detector's FFT is gonum's). Production
// code never imports it.
package bench
