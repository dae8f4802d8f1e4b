package webrtcleg

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// MaxOfferBytes bounds an SDP offer. Browser offers are 2–6 KiB; a
// simulcast video offer stays under 20 KiB. More is a client bug or abuse.
const MaxOfferBytes = 64 << 10

// maxMediaSections bounds the m= lines an offer may carry, so a hostile
// offer cannot make pion build thousands of transceivers.
const maxMediaSections = 16

// OfferInfo is what CheckOffer learnt from an offer.
type OfferInfo struct {
	// AudioSections is the number of audio m= lines we will receive.
	AudioSections int
	// OpusPayloadType is the payload type of opus/48000/2 in the first
	// receivable audio section.
	OpusPayloadType uint8
}

// CheckOffer parses an SDP offer and checks it is one this leg can answer:
// at least one active audio section the peer sends (sendrecv or sendonly)
// that offers opus/48000/2. The error wraps ErrBadOffer, ErrNoAudio or
// ErrNoOpus and names the problem, so an HTTP client or a control client
// can tell a typo from a codec mismatch. pion parses the offer again when
// it is applied; checking first keeps its messages out of our replies.
func CheckOffer(offer string) (OfferInfo, error) {
	var info OfferInfo
	if len(offer) > MaxOfferBytes {
		return info, fmt.Errorf("%w: %d bytes, at most %d", ErrBadOffer, len(offer), MaxOfferBytes)
	}
	if !strings.HasPrefix(strings.TrimLeft(offer, " \t\r\n"), "v=0") {
		return info, fmt.Errorf("%w: not SDP (must start with v=0)", ErrBadOffer)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return info, fmt.Errorf("%w: sdp: %w", ErrBadOffer, err)
	}
	if len(sd.MediaDescriptions) > maxMediaSections {
		return info, fmt.Errorf("%w: %d media sections, at most %d", ErrBadOffer, len(sd.MediaDescriptions), maxMediaSections)
	}
	if _, ok := sd.Attribute("fingerprint"); !ok && !anyMediaHas(&sd, "fingerprint") {
		return info, fmt.Errorf("%w: no a=fingerprint (WebRTC requires DTLS-SRTP)", ErrBadOffer)
	}
	audio, opus := 0, false
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if dir := direction(&sd, md); dir == "recvonly" || dir == "inactive" {
			continue
		}
		audio++
		if pt, ok := findOpus(md); ok && !opus {
			opus = true
			info.OpusPayloadType = pt
		}
	}
	info.AudioSections = audio
	switch {
	case audio == 0:
		return info, fmt.Errorf("%w: want an m=audio section that sends (sendrecv or sendonly)", ErrNoAudio)
	case !opus:
		return info, fmt.Errorf("%w: the audio section offers no opus/48000/2 rtpmap", ErrNoOpus)
	}
	return info, nil
}

func anyMediaHas(sd *sdp.SessionDescription, key string) bool {
	for _, md := range sd.MediaDescriptions {
		if _, ok := md.Attribute(key); ok {
			return true
		}
	}
	return false
}

// direction is the media section's direction attribute, falling back to
// the session level and then to sendrecv (RFC 4566's default).
func direction(sd *sdp.SessionDescription, md *sdp.MediaDescription) string {
	for _, dir := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if _, ok := md.Attribute(dir); ok {
			return dir
		}
	}
	for _, dir := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if _, ok := sd.Attribute(dir); ok {
			return dir
		}
	}
	return "sendrecv"
}

// findOpus finds "a=rtpmap:PT opus/48000/2" among the section's formats.
func findOpus(md *sdp.MediaDescription) (uint8, bool) {
	offered := map[string]bool{}
	for _, f := range md.MediaName.Formats {
		offered[f] = true
	}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		if !ok || !offered[pt] || !strings.EqualFold(strings.TrimSpace(enc), "opus/48000/2") {
			continue
		}
		n, err := strconv.ParseUint(pt, 10, 7) // RTP payload types are 7 bits
		if err != nil {
			continue
		}
		return uint8(n), true
	}
	return 0, false
}
