// Package loadgen is the core of `amdctl load`, the live load generator: it
// drives amdd over the control channel to dial N calls back to itself,
// answers them as a SIP callee, streams labelled audio (a fixtures-style
// manifest.jsonl) as real-time RTP, and scores what the engine reports —
// verdicts against labels, event lag, RTP loss at the engine, and the
// engine process's CPU and memory.
//
// It is not the test phone (sip/testphone) although it answers the same way
// (180, then 200 with the first offered codec we share, RTP from a socket of
// its own per call): a capacity run puts the generator on the same cores as
// the engine, so the generator must cost as little as possible. Each clip is
// encoded once per codec up front instead of once per call and per packet,
// and a few pacer goroutines send every call's packets on one 20 ms clock
// instead of a ticker and a goroutine per call. Pacing on one clock also
// lets the generator record the wall time each audio frame left, which is
// what event lag is measured against.
//
// The generator only ever talks to loopback addresses: it is a benchmark
// tool, and pointing it at a real engine (or a real carrier) would place
// real calls.
package loadgen
