package webrtcleg

import "errors"

// Sentinel errors; returned errors wrap them with %w, compare with errors.Is.
var (
	// ErrBadOffer: the offer is not parseable SDP, or not an offer we can
	// answer (its message says which).
	ErrBadOffer = errors.New("webrtc: bad offer")
	// ErrNoAudio: the offer has no audio media section the peer sends.
	ErrNoAudio = errors.New("webrtc: offer has no audio to receive")
	// ErrNoOpus: the offer's audio does not offer Opus (opus/48000/2).
	ErrNoOpus = errors.New("webrtc: offer has no opus/48000/2 audio")
	// ErrICEFailed: the connection was lost: ICE or DTLS failed, or the peer
	// vanished (no ICE traffic for the disconnect timeout).
	ErrICEFailed = errors.New("webrtc: connection lost")
	// ErrConnectTimeout: ICE/DTLS did not connect in time.
	ErrConnectTimeout = errors.New("webrtc: connection not established in time")
	// ErrNoMedia: connected, but no audio packet arrived in time. It also
	// wraps sip.ErrMediaTimeout so the daemon reports media_timeout as it
	// does for SIP legs.
	ErrNoMedia = errors.New("webrtc: no audio received")
	// ErrClosed: the session or host was closed.
	ErrClosed = errors.New("webrtc: closed")
	// ErrInvalidConfig is wrapped by every Config.Validate error.
	ErrInvalidConfig = errors.New("webrtc: invalid config")
)

// ErrBadPacket: one RTP packet could not be parsed or decoded; the stream
// goes on (the packet is concealed and counted).
var ErrBadPacket = errors.New("webrtc: bad media packet")
