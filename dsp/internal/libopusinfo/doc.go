// Package libopusinfo tells the differential tests (build tag libopus) what
// kind of libopus build is linked, which no version string or CTL says. It
// lives apart from dsp because cgo and dsp's Go assembly cannot share a
// package.
package libopusinfo
