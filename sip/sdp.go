package sip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// SessionParams describe our side of an SDP offer or answer.
type SessionParams struct {
	// SessionID and Version fill the o= line; SessionID should be random
	// per call so a peer never confuses two calls.
	SessionID uint64
	Version   uint64
	// Addr is the media address and RTP port we receive on.
	Addr netip.AddrPort
	// Codecs in preference order; each becomes one payload type.
	Codecs []Codec
	// PayloadTypes optionally overrides the payload type per codec (an
	// answer must echo the offerer's numbers).
	PayloadTypes map[Codec]uint8
	// DTMF adds telephone-event/8000 with payload type DTMFPayloadType.
	DTMF            bool
	DTMFPayloadType uint8
	// Ptime in ms; 0 leaves it out.
	Ptime int
	// UserName fills o=; empty means "amd".
	UserName string
	// Direction is the a= direction attribute; empty means sendrecv.
	Direction Direction
}

// Direction is an SDP media direction (RFC 3264 §5.1).
type Direction string

// Media directions.
const (
	DirSendRecv Direction = "sendrecv"
	DirSendOnly Direction = "sendonly"
	DirRecvOnly Direction = "recvonly"
	DirInactive Direction = "inactive"
)

// Answer is the direction an answerer uses for an offer of d.
func (d Direction) Answer() Direction {
	switch d {
	case DirSendOnly:
		return DirRecvOnly
	case DirRecvOnly:
		return DirSendOnly
	case DirInactive:
		return DirInactive
	}
	return DirSendRecv
}

// PeerSends reports whether a peer announcing d sends media to us.
func (d Direction) PeerSends() bool { return d != DirRecvOnly && d != DirInactive }

func (p SessionParams) pt(c Codec) uint8 {
	if pt, ok := p.PayloadTypes[c]; ok {
		return pt
	}
	return c.PayloadType()
}

// BuildSDP writes an audio-only SDP body from p. It is used for our INVITE
// offer and for the test phone's answer.
func BuildSDP(p SessionParams) ([]byte, error) {
	if len(p.Codecs) == 0 {
		return nil, fmt.Errorf("%w: build sdp: no codecs", ErrNoCodec)
	}
	if !p.Addr.IsValid() {
		return nil, fmt.Errorf("%w: build sdp: invalid media address", ErrSDP)
	}
	ipver := "IP4"
	ip := p.Addr.Addr().Unmap()
	if ip.Is6() {
		ipver = "IP6"
	}
	user := p.UserName
	if user == "" {
		user = "amd"
	}
	pts := make([]string, 0, len(p.Codecs)+1)
	var attrs strings.Builder
	for _, c := range p.Codecs {
		if !c.Valid() {
			return nil, fmt.Errorf("%w: build sdp: codec %q", ErrNoCodec, c)
		}
		pt := p.pt(c)
		pts = append(pts, strconv.Itoa(int(pt)))
		fmt.Fprintf(&attrs, "a=rtpmap:%d %s\r\n", pt, c.rtpmap())
		if c == CodecOpus {
			// We only listen, so ask for what helps a listener: in-band FEC
			// for loss, mono (the detector is mono anyway).
			fmt.Fprintf(&attrs, "a=fmtp:%d useinbandfec=1;stereo=0;sprop-stereo=0\r\n", pt)
		}
	}
	if p.DTMF {
		pts = append(pts, strconv.Itoa(int(p.DTMFPayloadType)))
		fmt.Fprintf(&attrs, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", p.DTMFPayloadType, p.DTMFPayloadType)
	}
	if p.Ptime > 0 {
		fmt.Fprintf(&attrs, "a=ptime:%d\r\n", p.Ptime)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=%s %d %d IN %s %s\r\ns=amd\r\nc=IN %s %s\r\nt=0 0\r\n",
		user, p.SessionID, p.Version, ipver, ip, ipver, ip)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %s\r\n", p.Addr.Port(), strings.Join(pts, " "))
	b.WriteString(attrs.String())
	dir := p.Direction
	if dir == "" {
		dir = DirSendRecv
	}
	b.WriteString("a=" + string(dir) + "\r\n")
	return []byte(b.String()), nil
}

// Format is one audio payload type of a remote SDP that we can decode.
type Format struct {
	PayloadType uint8
	Codec       Codec
}

// RemoteMedia is what we need from a peer's SDP: where its audio comes
// from and which payload types mean what.
type RemoteMedia struct {
	// Addr is the peer's RTP address (c= and m= port). Port 0 means the
	// peer rejected the stream.
	Addr netip.AddrPort
	// Formats are the decodable formats in the peer's order of preference.
	Formats []Format
	// DTMFPayloadType is telephone-event/8000's payload type if HasDTMF.
	DTMFPayloadType uint8
	HasDTMF         bool
	// Ptime is a=ptime in ms, 0 when absent.
	Ptime int
	// Direction of the peer's stream (media level, else session level,
	// else sendrecv).
	Direction Direction
}

// ParseSDP extracts the first audio stream of an SDP body. It returns
// ErrSDP for unparsable bodies or when there is no audio stream, and
// ErrNoCodec when the audio stream has no format we decode.
func ParseSDP(body []byte) (RemoteMedia, error) {
	var rm RemoteMedia
	if len(body) == 0 {
		return rm, fmt.Errorf("%w: empty body", ErrSDP)
	}
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return rm, fmt.Errorf("%w: %v", ErrSDP, err)
	}
	var md *psdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if m != nil && strings.EqualFold(m.MediaName.Media, "audio") {
			md = m
			break
		}
	}
	if md == nil {
		return rm, fmt.Errorf("%w: no audio stream", ErrSDP)
	}
	// We receive plain RTP only: an SRTP (SAVP) or DTLS stream would decode
	// into noise, so it is refused here rather than heard as garbage.
	if proto := strings.ToUpper(strings.Join(md.MediaName.Protos, "/")); proto != "RTP/AVP" && proto != "RTP/AVPF" {
		return rm, fmt.Errorf("%w: transport %s (want RTP/AVP)", ErrNoCodec, proto)
	}
	conn := md.ConnectionInformation
	if conn == nil {
		conn = sd.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return rm, fmt.Errorf("%w: no connection address", ErrSDP)
	}
	// The address may carry a multicast TTL suffix ("/127"); a hostname
	// is not allowed for a peer we latch to by source address.
	host, _, _ := strings.Cut(conn.Address.Address, "/")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return rm, fmt.Errorf("%w: connection address %q", ErrSDP, host)
	}
	port := md.MediaName.Port.Value
	if port < 0 || port > 65535 {
		return rm, fmt.Errorf("%w: media port %d", ErrSDP, port)
	}
	rm.Addr = netip.AddrPortFrom(ip, uint16(port))

	rm.Direction = DirSendRecv
	for _, attrs := range [][]psdp.Attribute{sd.Attributes, md.Attributes} {
		for _, a := range attrs {
			switch d := Direction(a.Key); d {
			case DirSendRecv, DirSendOnly, DirRecvOnly, DirInactive:
				rm.Direction = d // media level, read last, wins
			}
		}
	}
	// Dynamic payload types only mean something through a=rtpmap.
	rtpmaps := map[uint8]string{}
	for _, a := range md.Attributes {
		switch a.Key {
		case "rtpmap":
			ptStr, enc, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
			pt, err := strconv.ParseUint(ptStr, 10, 7)
			if ok && err == nil {
				rtpmaps[uint8(pt)] = strings.TrimSpace(enc)
			}
		case "ptime":
			if v, err := strconv.Atoi(strings.TrimSpace(a.Value)); err == nil && v > 0 && v <= 1000 {
				rm.Ptime = v
			}
		}
	}
	for _, f := range md.MediaName.Formats {
		pt64, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue // not RTP/AVP numbering; nothing we can decode
		}
		pt := uint8(pt64)
		enc, ok := rtpmaps[pt]
		if !ok {
			// RFC 3551 static types may come without rtpmap.
			switch pt {
			case PayloadPCMU:
				rm.Formats = append(rm.Formats, Format{pt, CodecPCMU})
			case PayloadPCMA:
				rm.Formats = append(rm.Formats, Format{pt, CodecPCMA})
			}
			continue
		}
		name, rest, _ := strings.Cut(enc, "/")
		rateStr, _, _ := strings.Cut(rest, "/")
		rate, _ := strconv.Atoi(rateStr)
		if strings.EqualFold(name, "telephone-event") && rate == 8000 {
			if !rm.HasDTMF {
				rm.DTMFPayloadType, rm.HasDTMF = pt, true
			}
			continue
		}
		if c, ok := codecFromRtpmap(name, rate); ok {
			rm.Formats = append(rm.Formats, Format{pt, c})
		}
	}
	if rm.Addr.Port() == 0 {
		return rm, fmt.Errorf("%w: audio stream rejected (port 0)", ErrNoCodec)
	}
	if len(rm.Formats) == 0 {
		return rm, fmt.Errorf("%w: audio formats %v", ErrNoCodec, md.MediaName.Formats)
	}
	return rm, nil
}

// SelectAnswer picks the codec of an SDP answer: the answerer's first
// format that we offered. Answers listing something we never offered get
// ErrNoCodec.
func (rm RemoteMedia) SelectAnswer(offered []Codec) (Format, error) {
	for _, f := range rm.Formats {
		for _, c := range offered {
			if f.Codec == c {
				return f, nil
			}
		}
	}
	return Format{}, fmt.Errorf("%w: answer has none of %v", ErrNoCodec, offered)
}

// SelectOffer picks the codec to answer an offer with: our first
// preference the offer contains (the answerer's choice under RFC 3264).
func (rm RemoteMedia) SelectOffer(prefs []Codec) (Format, error) {
	for _, c := range prefs {
		for _, f := range rm.Formats {
			if f.Codec == c {
				return f, nil
			}
		}
	}
	return Format{}, fmt.Errorf("%w: offer has none of %v", ErrNoCodec, prefs)
}
