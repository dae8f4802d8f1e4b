package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestBuildParseRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		codecs []Codec
		addr   string
		dtmf   bool
	}{
		{"all v4", DefaultCodecs, "127.0.0.1:30000", true},
		{"opus only v6", []Codec{CodecOpus}, "[::1]:30002", false},
		{"pcma first", []Codec{CodecPCMA, CodecPCMU}, "10.1.2.3:4000", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := netip.MustParseAddrPort(tc.addr)
			body, err := BuildSDP(SessionParams{SessionID: 42, Version: 1, Addr: addr, Codecs: tc.codecs, DTMF: tc.dtmf, DTMFPayloadType: PayloadDTMF, Ptime: 20})
			if err != nil {
				t.Fatal(err)
			}
			rm, err := ParseSDP(body)
			if err != nil {
				t.Fatalf("parse own sdp: %v\n%s", err, body)
			}
			if rm.Addr != addr {
				t.Errorf("addr %v, want %v", rm.Addr, addr)
			}
			if len(rm.Formats) != len(tc.codecs) {
				t.Fatalf("formats %v, want %v", rm.Formats, tc.codecs)
			}
			for i, c := range tc.codecs {
				if rm.Formats[i].Codec != c || rm.Formats[i].PayloadType != c.PayloadType() {
					t.Errorf("format %d = %+v, want %s/%d", i, rm.Formats[i], c, c.PayloadType())
				}
			}
			if rm.HasDTMF != tc.dtmf || (tc.dtmf && rm.DTMFPayloadType != PayloadDTMF) {
				t.Errorf("dtmf %v/%d, want %v", rm.HasDTMF, rm.DTMFPayloadType, tc.dtmf)
			}
			if rm.Ptime != 20 {
				t.Errorf("ptime %d", rm.Ptime)
			}
		})
	}
}

func TestParseSDPAnswers(t *testing.T) {
	t.Parallel()
	const head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	tests := []struct {
		name     string
		body     string
		wantErr  error
		pick     Format // answer selection against DefaultCodecs
		wantAddr string
	}{
		{"static pcmu no rtpmap", head + "m=audio 5000 RTP/AVP 0\r\n", nil, Format{0, CodecPCMU}, "192.0.2.1:5000"},
		{"renumbered opus", head + "m=audio 5002 RTP/AVP 96 101\r\na=rtpmap:96 OPUS/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n", nil, Format{96, CodecOpus}, "192.0.2.1:5002"},
		{"media level c=", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\nc=IN IP4 198.51.100.7\r\n", nil, Format{8, CodecPCMA}, "198.51.100.7:6000"},
		{"answer order wins", head + "m=audio 5000 RTP/AVP 8 0\r\n", nil, Format{8, CodecPCMA}, ""},
		{"g729 only", head + "m=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n", ErrNoCodec, Format{}, ""},
		{"opus wrong clock", head + "m=audio 5000 RTP/AVP 96\r\na=rtpmap:96 opus/16000\r\n", ErrNoCodec, Format{}, ""},
		{"port zero", head + "m=audio 0 RTP/AVP 0\r\n", ErrNoCodec, Format{}, ""},
		{"video only", head + "m=video 5000 RTP/AVP 96\r\n", ErrSDP, Format{}, ""},
		{"no c=", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n", ErrSDP, Format{}, ""},
		{"hostname c=", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 example.com\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n", ErrSDP, Format{}, ""},
		{"srtp", head + "m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n", ErrNoCodec, Format{}, ""},
		{"dtls", head + "m=audio 5000 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n", ErrNoCodec, Format{}, ""},
		{"avpf ok", head + "m=audio 5000 RTP/AVPF 8\r\n", nil, Format{8, CodecPCMA}, ""},
		{"video first then audio", head + "m=video 6000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 5004 RTP/AVP 0\r\n", nil, Format{0, CodecPCMU}, "192.0.2.1:5004"},
		{"asterisk style", "v=0\r\no=- 1 3 IN IP4 10.0.0.5\r\ns=Asterisk\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 14000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=maxptime:150\r\na=sendrecv\r\n", nil, Format{8, CodecPCMA}, "10.0.0.5:14000"},
		{"garbage", "hello world", ErrSDP, Format{}, ""},
		{"empty", "", ErrSDP, Format{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rm, err := ParseSDP([]byte(tc.body))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f, err := rm.SelectAnswer(DefaultCodecs)
			if err != nil {
				t.Fatal(err)
			}
			if f != tc.pick {
				t.Errorf("picked %+v, want %+v", f, tc.pick)
			}
			if tc.wantAddr != "" && rm.Addr.String() != tc.wantAddr {
				t.Errorf("addr %v, want %s", rm.Addr, tc.wantAddr)
			}
		})
	}
}

func TestSelectOfferPreference(t *testing.T) {
	t.Parallel()
	rm := RemoteMedia{Formats: []Format{{0, CodecPCMU}, {8, CodecPCMA}, {111, CodecOpus}}}
	for _, tc := range []struct {
		prefs []Codec
		want  Codec
		err   bool
	}{
		{[]Codec{CodecOpus, CodecPCMU}, CodecOpus, false},
		{[]Codec{CodecPCMA}, CodecPCMA, false},
		{nil, "", true},
	} {
		f, err := rm.SelectOffer(tc.prefs)
		if (err != nil) != tc.err || f.Codec != tc.want {
			t.Errorf("prefs %v: got %v %v", tc.prefs, f, err)
		}
	}
}

func TestBuildSDPErrors(t *testing.T) {
	t.Parallel()
	if _, err := BuildSDP(SessionParams{Addr: netip.MustParseAddrPort("1.2.3.4:5")}); !errors.Is(err, ErrNoCodec) {
		t.Errorf("no codecs: %v", err)
	}
	if _, err := BuildSDP(SessionParams{Codecs: DefaultCodecs}); !errors.Is(err, ErrSDP) {
		t.Errorf("no addr: %v", err)
	}
	if _, err := BuildSDP(SessionParams{Codecs: []Codec{"g729"}, Addr: netip.MustParseAddrPort("1.2.3.4:5")}); !errors.Is(err, ErrNoCodec) {
		t.Errorf("bad codec: %v", err)
	}
}

func TestFinalResponseError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code       int
		phrase     string
		reason, rc string
	}{
		{486, "Busy Here", "486 Busy Here", "Busy Here"},
		{503, "", "503 Service Unavailable", "Service Unavailable"},
		{480, "Temporarily Unavailable", "480 Temporarily Unavailable", "Temporarily Unavailable"},
		{499, "", "499 Status 499", "Status 499"},
	} {
		e := &FinalResponseError{StatusCode: tc.code, ReasonPhrase: tc.phrase}
		if e.Reason() != tc.reason || e.ReasonCode() != tc.rc || !strings.Contains(e.Error(), tc.reason) {
			t.Errorf("%d: %q %q", tc.code, e.Reason(), e.ReasonCode())
		}
	}
}

func FuzzSDPAnswer(f *testing.F) {
	const head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	f.Add([]byte(head + "m=audio 5000 RTP/AVP 0 8 111 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"))
	f.Add([]byte(head + "m=audio 0 RTP/AVP 0\r\n"))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 96\r\na=rtpmap:96 x/y/z\r\n"))
	f.Add([]byte(head + "m=audio 70000 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		rm, err := ParseSDP(body)
		if err != nil {
			if !errors.Is(err, ErrSDP) && !errors.Is(err, ErrNoCodec) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		// A successful parse must be usable: an address with a port and at
		// least one decodable format the selector can pick.
		if !rm.Addr.IsValid() || rm.Addr.Port() == 0 || len(rm.Formats) == 0 {
			t.Fatalf("accepted unusable sdp: %+v", rm)
		}
		f, err := rm.SelectAnswer(DefaultCodecs)
		if err != nil || !f.Codec.Valid() {
			t.Fatalf("select: %v %v", f, err)
		}
		// Our own SDP built from the parse must parse back the same way.
		again, err := BuildSDP(SessionParams{Addr: rm.Addr, Codecs: []Codec{f.Codec}, PayloadTypes: map[Codec]uint8{f.Codec: f.PayloadType}})
		if err != nil {
			t.Fatal(err)
		}
		rm2, err := ParseSDP(again)
		if err != nil || rm2.Formats[0] != f {
			t.Fatalf("rebuild: %v %+v", err, rm2)
		}
	})
}

func TestSDPDirection(t *testing.T) {
	t.Parallel()
	const head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	for _, tc := range []struct {
		body   string
		dir    Direction
		answer Direction
		sends  bool
	}{
		{head + "m=audio 5000 RTP/AVP 0\r\n", DirSendRecv, DirSendRecv, true},
		{head + "a=sendonly\r\nm=audio 5000 RTP/AVP 0\r\n", DirSendOnly, DirRecvOnly, true},
		{head + "a=sendonly\r\nm=audio 5000 RTP/AVP 0\r\na=inactive\r\n", DirInactive, DirInactive, false},
		{head + "m=audio 5000 RTP/AVP 0\r\na=recvonly\r\n", DirRecvOnly, DirSendOnly, false},
	} {
		rm, err := ParseSDP([]byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if rm.Direction != tc.dir || rm.Direction.Answer() != tc.answer || rm.Direction.PeerSends() != tc.sends {
			t.Errorf("%q: %v/%v/%v", tc.body, rm.Direction, rm.Direction.Answer(), rm.Direction.PeerSends())
		}
	}
	body, _ := BuildSDP(SessionParams{Addr: netip.MustParseAddrPort("127.0.0.1:4000"), Codecs: []Codec{CodecPCMU}, Direction: DirInactive})
	if rm, _ := ParseSDP(body); rm.Direction != DirInactive {
		t.Errorf("built direction %v", rm.Direction)
	}
}
