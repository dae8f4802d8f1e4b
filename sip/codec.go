package sip

import (
	"fmt"
	"strings"
)

// Codec is an audio codec we can receive and decode into detector frames.
type Codec string

// Supported codecs, spelled as in config files and CLI flags.
const (
	CodecPCMU Codec = "pcmu"
	CodecPCMA Codec = "pcma"
	CodecOpus Codec = "opus"
)

// DefaultCodecs is the offer order when a dial request names none: G.711
// first because every trunk speaks it and it costs nothing to decode.
var DefaultCodecs = []Codec{CodecPCMU, CodecPCMA, CodecOpus}

// Payload types we offer. PCMU/PCMA are static (RFC 3551); Opus and
// telephone-event take the dynamic numbers most SBCs and WebRTC stacks use,
// which avoids needless renumbering in answers.
const (
	PayloadPCMU uint8 = 0
	PayloadPCMA uint8 = 8
	PayloadOpus uint8 = 111
	PayloadDTMF uint8 = 101
	// payloadCN is RFC 3389 comfort noise; recognised and skipped.
	payloadCN uint8 = 13
)

// ParseCodec accepts "pcmu", "PCMU", "g711u", "pcma", "g711a", "opus".
func ParseCodec(s string) (Codec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "pcmu", "g711u", "ulaw", "mulaw":
		return CodecPCMU, nil
	case "pcma", "g711a", "alaw":
		return CodecPCMA, nil
	case "opus":
		return CodecOpus, nil
	}
	return "", fmt.Errorf("%w: codec %q: want pcmu, pcma or opus", ErrNoCodec, s)
}

// ParseCodecs parses a comma-separated preference list.
func ParseCodecs(s string) ([]Codec, error) {
	var out []Codec
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		c, err := ParseCodec(f)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Valid reports whether c is one of the supported codecs.
func (c Codec) Valid() bool {
	return c == CodecPCMU || c == CodecPCMA || c == CodecOpus
}

// PayloadType is the payload type we offer for c.
func (c Codec) PayloadType() uint8 {
	switch c {
	case CodecPCMA:
		return PayloadPCMA
	case CodecOpus:
		return PayloadOpus
	}
	return PayloadPCMU
}

// rtpmap is the SDP a=rtpmap value (without payload type).
func (c Codec) rtpmap() string {
	switch c {
	case CodecPCMA:
		return "PCMA/8000"
	case CodecOpus:
		return "opus/48000/2"
	}
	return "PCMU/8000"
}

// ClockRate is c's RTP timestamp rate.
func (c Codec) ClockRate() int {
	if c == CodecOpus {
		return 48000
	}
	return 8000
}

// codecFromRtpmap maps an rtpmap encoding name and clock rate to a codec.
func codecFromRtpmap(name string, rate int) (Codec, bool) {
	switch {
	case strings.EqualFold(name, "PCMU") && rate == 8000:
		return CodecPCMU, true
	case strings.EqualFold(name, "PCMA") && rate == 8000:
		return CodecPCMA, true
	case strings.EqualFold(name, "opus") && rate == 48000:
		return CodecOpus, true
	}
	return "", false
}
