package webrtcleg

import (
	"errors"
	"strings"
	"testing"
)

// chromeOffer is a trimmed Chromium WHIP offer: audio (Opus, PCMU) sendonly.
const chromeOffer = "v=0\r\n" +
	"o=- 4215775240449105457 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"a=msid-semantic: WMS\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:Xq2m\r\n" +
	"a=ice-pwd:0pXK3ZCkkzDF0kFHGhhpUzw1\r\n" +
	"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=sendonly\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n"

func TestCheckOffer(t *testing.T) {
	tests := []struct {
		name  string
		offer string
		want  error  // nil: accepted
		msg   string // substring of the error
	}{
		{"chrome", chromeOffer, nil, ""},
		{"sendrecv", strings.Replace(chromeOffer, "a=sendonly", "a=sendrecv", 1), nil, ""},
		{"no direction means sendrecv", strings.Replace(chromeOffer, "a=sendonly\r\n", "", 1), nil, ""},
		{"opus with other PT", strings.NewReplacer("111", "96").Replace(chromeOffer), nil, ""},
		{"empty", "", ErrBadOffer, "not SDP"},
		{"json", `{"sdp":"v=0"}`, ErrBadOffer, "not SDP"},
		{"garbage after v=0", "v=0\r\nthis is not sdp\r\n", ErrBadOffer, "sdp"},
		{"no fingerprint", strings.Replace(chromeOffer, "a=fingerprint:", "a=x-fingerprint:", 1), ErrBadOffer, "fingerprint"},
		{"recvonly audio", strings.Replace(chromeOffer, "a=sendonly", "a=recvonly", 1), ErrNoAudio, "sendonly"},
		{"rejected audio", strings.Replace(chromeOffer, "m=audio 9", "m=audio 0", 1), ErrNoAudio, ""},
		{"video only", strings.Replace(chromeOffer, "m=audio", "m=video", 1), ErrNoAudio, ""},
		{"pcmu only", strings.NewReplacer("111 0", "0", "a=rtpmap:111 opus/48000/2\r\n", "").Replace(chromeOffer), ErrNoOpus, "opus/48000/2"},
		{"opus rtpmap not in m= line", strings.Replace(chromeOffer, "SAVPF 111 0", "SAVPF 0", 1), ErrNoOpus, ""},
		{"too large", chromeOffer + strings.Repeat("a=x:"+strings.Repeat("y", 100)+"\r\n", 700), ErrBadOffer, "bytes"},
		{"too many sections", chromeOffer + strings.Repeat("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n", 20), ErrBadOffer, "media sections"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := CheckOffer(tc.offer)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if info.AudioSections != 1 || info.OpusPayloadType == 0 {
					t.Errorf("info %+v", info)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestAnswersOpus(t *testing.T) {
	if !answersOpus("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n") {
		t.Error("accepted audio not seen")
	}
	if answersOpus("v=0\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n") {
		t.Error("rejected audio taken for accepted")
	}
}
