// Package daemon is amdd's call manager: it turns control-channel commands
// into outbound calls and runs each call in ONE owner goroutine that holds
// all of the call's mutable state — signalling progress, the media loop
// (ReadFrame → engine.Detector.Process), AMD events, hangup decisions,
// timings and the final status. Other goroutines talk to a call only through
// its command channel, so the media path needs no mutex. What a call
// publishes is also kept as its history (history.go): the owner swaps in an
// immutable snapshot through an atomic pointer, and subscribe with replay
// reads it — while the call lives and for a retention after it ended.
//
// The manager depends on small interfaces (Dialer, Call, Media, Detector)
// rather than on the sip and engine packages directly; sipdialer.go and
// detector.go adapt the real ones. That keeps the call state machine testable
// with scripted fakes and lets the production wiring stay in cmd/amdd.
package daemon
