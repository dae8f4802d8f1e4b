package sip

import "encoding/binary"

// dtmfEvents maps RFC 4733 event codes 0–15 to their keys.
const dtmfEvents = "0123456789*#ABCD"

// parseDTMF decodes an RFC 4733 telephone-event payload. ok is false for
// short payloads and for events that are not keys (e.g. 16 = flash).
func parseDTMF(p []byte) (key rune, end bool, duration uint16, ok bool) {
	if len(p) < 4 || p[0] >= byte(len(dtmfEvents)) {
		return 0, false, 0, false
	}
	return rune(dtmfEvents[p[0]]), p[1]&0x80 != 0, binary.BigEndian.Uint16(p[2:4]), true
}
