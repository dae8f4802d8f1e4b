// Package sip is the AMD engine's telephony edge: it dials out with sipgo
// (trunks, digest auth, CANCEL/BYE), does the SDP offer/answer, and owns the
// per-call RTP media session that turns a callee's packets into 20 ms, 8 kHz
// frames for the detector.
//
// The package never decides AMD outcomes. It reports call progress
// (Progress), maps SIP final responses to end reasons (FinalResponseError),
// and hands decoded audio to whoever owns the call through
// MediaSession.ReadFrame.
//
// Concurrency model: SIP signalling runs on sipgo's goroutines plus one
// signalling goroutine per OutboundCall until the answer; an answered call
// has none (the callee's BYE or our hangup finishes it through
// context.AfterFunc), and the media path has no goroutine of its own. The
// call's owner goroutine (the daemon's) calls ReadFrame, which reads the
// call's own UDP socket into preallocated buffers, so the media path needs
// no mutex. Counters other goroutines read are atomics.
//
// Inbound requests: OPTIONS is answered 200 so trunks can health-check us;
// any INVITE that does not belong to one of our dialogs is rejected with
// 403 Forbidden because amdd only originates calls (488 would wrongly suggest
// that a different offer could succeed). In-dialog BYE and re-INVITE must
// match the dialog's Call-ID and tags, else 481.
//
// The media path keeps the detector's audio time true: lost packets are
// concealed (bounded), timestamp gaps from silence suppression come back as
// silence, DTMF events never reach the audio, and a stream restart (new
// SSRC, sequence jump) plays out the old stream first. README.md lists the
// decisions and the SIPp scenarios that verify them.
package sip
