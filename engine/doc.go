// Package engine is the per-call answering-machine detector: a state machine
// fed 20 ms PCM frames in audio time that emits AMD events (amd_*) with their
// evidence. It reads no sockets and knows nothing of SIP or HTTP, so the same
// code decides for live calls and for recordings, and a recording reproduces a
// live decision exactly.
package engine
