// Package webrtcleg is the AMD engine's WebRTC leg: it answers WebRTC SDP
// offers with pion/webrtc v4 peer connections that all share one ICE UDP
// port, reads each remote audio track in a goroutine of its own, decodes
// Opus to the detector's 20 ms, 8 kHz frames, and serves WHIP (RFC 9725)
// ingest over HTTP.
//
// A Host owns the UDP port and the pion API; Host.Accept turns one offer
// into a Session and its SDP answer. A Session is what the daemon's per-call
// owner goroutine drives, exactly like a SIP call: Progress reports the
// answer (the first audio packet: the AMD clock starts there) and failures,
// ReadFrame hands over one frame at a time, Hangup/Close end it. The per
// packet path (track.Read into a reused buffer, rtp.Packet.Unmarshal into a
// reused packet, Opus decode into a reused frame) allocates nothing.
//
// WHIPHandler is the HTTP side: POST an SDP offer, get 201 Created with the
// answer and a Location naming the session; DELETE the Location to end it.
// It asks an Engine (the daemon) to run the session, so WHIP and the
// control channel's webrtc.offer lead to the same call.
package webrtcleg
