package loadgen

import "errors"

// Errors returned by the generator; wrapped with %w and detail.
var (
	// ErrConfig wraps every configuration error; the message names the flag.
	ErrConfig = errors.New("loadgen: invalid config")
	// ErrNotLoopback is wrapped when --engine or --sip-listen is not a loopback address.
	ErrNotLoopback = errors.New("loadgen: only loopback targets are allowed")
	// ErrMaxDuration is returned with a partial Result when the run hit its time bound.
	ErrMaxDuration = errors.New("loadgen: max duration reached before every call ended")
	// ErrEngineLost is returned when the control connection dropped mid-run.
	ErrEngineLost = errors.New("loadgen: control connection lost")
	// ErrNoClips is wrapped when the audio directory holds no usable clip.
	ErrNoClips = errors.New("loadgen: no playable clips")
	// ErrProc wraps errors reading /proc (engine CPU, RSS, PID discovery).
	ErrProc = errors.New("loadgen: /proc")
	// ErrMetrics wraps errors scraping or parsing the engine's /metrics.
	ErrMetrics = errors.New("loadgen: metrics")
)
