package control

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeCommand(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 300)
	tests := []struct {
		name      string
		in        string
		wantType  string // type of a valid message
		wantCode  string // code of a refusal
		wantField string
		wantID    string
	}{
		{"dial minimal", `{"v":1,"type":"dial","id":"1","target":"sip:alice@127.0.0.1:5070","caller":"+15550001"}`, TypeDial, "", "", "1"},
		{"dial full", `{"v":1,"type":"dial","id":"2","callId":"abc-1","target":"+15551234567","caller":"bot","trunk":"main","timeoutInMs":30000,
			"metadata":{"k":"v"},"timers":{"noSpeechTimeoutMs":4000,"decisionTimeoutMs":10000},"machineDetection":"disconnect",
			"thresholdWordCount":4,"amdEventsSubscription":["amd_human_detected"],"codecs":["opus","PCMU"]}`, TypeDial, "", "", "2"},
		{"dial tel", `{"v":1,"type":"dial","id":"3","target":"tel:+1555","caller":"x"}`, TypeDial, "", "", "3"},
		{"not json", `hello`, "", CodeBadMessage, "", ""},
		{"json array", `[1,2]`, "", CodeBadMessage, "", ""},
		{"empty", ``, "", CodeBadMessage, "", ""},
		{"missing version", `{"type":"ping","id":"p"}`, "", CodeBadMessage, "v", "p"},
		{"wrong version", `{"v":2,"type":"ping","id":"p"}`, "", CodeBadMessage, "v", "p"},
		{"version as string", `{"v":"1","type":"ping","id":"p"}`, "", CodeBadMessage, "v", ""},
		{"unknown type", `{"v":1,"type":"reboot","id":"u"}`, "", CodeBadMessage, "type", "u"},
		{"missing type", `{"v":1,"id":"u"}`, "", CodeBadMessage, "type", "u"},
		{"id too long", `{"v":1,"type":"ping","id":"` + long + `"}`, "", CodeBadMessage, "id", long[:maxIDLen]},
		{"ping", `{"v":1,"type":"ping","id":"p1"}`, TypePing, "", "", "p1"},
		{"target missing", `{"v":1,"type":"dial","id":"4","caller":"x"}`, "", CodeInvalidField, "target", "4"},
		{"target garbage", `{"v":1,"type":"dial","id":"4","target":"12ab","caller":"x"}`, "", CodeInvalidField, "target", "4"},
		{"target space", `{"v":1,"type":"dial","id":"4","target":"sip:a b@h","caller":"x"}`, "", CodeInvalidField, "target", "4"},
		{"target scheme only", `{"v":1,"type":"dial","id":"4","target":"sip:","caller":"x"}`, "", CodeInvalidField, "target", "4"},
		{"target wrong type", `{"v":1,"type":"dial","id":"4","target":5,"caller":"x"}`, "", CodeInvalidField, "target", "4"},
		{"caller missing", `{"v":1,"type":"dial","id":"5","target":"+1"}`, "", CodeInvalidField, "caller", "5"},
		{"caller with quote", `{"v":1,"type":"dial","id":"5","target":"+1","caller":"a\"b"}`, "", CodeInvalidField, "caller", "5"},
		{"bad callId", `{"v":1,"type":"dial","id":"5","callId":"a b","target":"+1","caller":"x"}`, "", CodeInvalidField, "callId", "5"},
		{"bad trunk", `{"v":1,"type":"dial","id":"5","trunk":"a/b","target":"+1","caller":"x"}`, "", CodeInvalidField, "trunk", "5"},
		{"timeout negative", `{"v":1,"type":"dial","id":"6","target":"+1","caller":"x","timeoutInMs":-1}`, "", CodeInvalidField, "timeoutInMs", "6"},
		{"timeout huge", `{"v":1,"type":"dial","id":"6","target":"+1","caller":"x","timeoutInMs":999999999}`, "", CodeInvalidField, "timeoutInMs", "6"},
		{"bad mode", `{"v":1,"type":"dial","id":"7","target":"+1","caller":"x","machineDetection":"maybe"}`, "", CodeInvalidField, "machineDetection", "7"},
		{"bad words", `{"v":1,"type":"dial","id":"7","target":"+1","caller":"x","thresholdWordCount":-3}`, "", CodeInvalidField, "thresholdWordCount", "7"},
		{"bad timer", `{"v":1,"type":"dial","id":"7","target":"+1","caller":"x","timers":{"decisionTimeoutMs":-5}}`, "", CodeInvalidField, "timers.decisionTimeoutMs", "7"},
		{"bad timer type", `{"v":1,"type":"dial","id":"7","target":"+1","caller":"x","timers":{"toneTimeoutMs":"5"}}`, "", CodeInvalidField, "timers.toneTimeoutMs", "7"},
		{"bad event sub", `{"v":1,"type":"dial","id":"8","target":"+1","caller":"x","amdEventsSubscription":["amd_x"]}`, "", CodeInvalidField, "amdEventsSubscription[0]", "8"},
		{"bad codec", `{"v":1,"type":"dial","id":"8","target":"+1","caller":"x","codecs":["g729"]}`, "", CodeInvalidField, "codecs[0]", "8"},
		{"dup codec", `{"v":1,"type":"dial","id":"8","target":"+1","caller":"x","codecs":["pcmu","PCMU"]}`, "", CodeInvalidField, "codecs[1]", "8"},
		{"hangup", `{"v":1,"type":"hangup","id":"9","callId":"c1"}`, TypeHangup, "", "", "9"},
		{"hangup no call", `{"v":1,"type":"hangup","id":"9"}`, "", CodeInvalidField, "callId", "9"},
		{"amd.stop", `{"v":1,"type":"amd.stop","id":"10","callId":"c1"}`, TypeAMDStop, "", "", "10"},
		{"subscribe all", `{"v":1,"type":"subscribe","id":"11"}`, TypeSubscribe, "", "", "11"},
		{"subscribe one", `{"v":1,"type":"subscribe","id":"11","callId":"c-1"}`, TypeSubscribe, "", "", "11"},
		{"webrtc offer", `{"v":1,"type":"webrtc.offer","id":"12","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"}`, TypeWebRTCOffer, "", "", "12"},
		{"webrtc no sdp", `{"v":1,"type":"webrtc.offer","id":"12"}`, "", CodeInvalidField, "sdp", "12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, env, err := DecodeCommand([]byte(tc.in))
			if env.ID != tc.wantID {
				t.Errorf("id = %q, want %q", env.ID, tc.wantID)
			}
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if env.Type != tc.wantType || msg == nil {
					t.Fatalf("type %q msg %T, want %q", env.Type, msg, tc.wantType)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %T, want %s/%s", msg, tc.wantCode, tc.wantField)
			}
			rep := errorReply(env.ID, err)
			if rep.Code != tc.wantCode || rep.Field != tc.wantField {
				t.Fatalf("got %s/%q (%v), want %s/%q", rep.Code, rep.Field, err, tc.wantCode, tc.wantField)
			}
			if rep.Code == CodeInvalidField && !errors.Is(err, ErrInvalidField) {
				t.Errorf("errors.Is(err, ErrInvalidField) is false for %v", err)
			}
		})
	}
}

func TestErrorReplyCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		code     string
		field    string
		sentinel error
	}{
		{"field", &FieldError{Field: "trunk", Message: "unknown"}, CodeInvalidField, "trunk", ErrInvalidField},
		{"wrapped field", errWrap(&FieldError{Field: "trunk", Message: "unknown"}), CodeInvalidField, "trunk", ErrInvalidField},
		{"capacity", errWrap(ErrAtCapacity), CodeAtCapacity, "", ErrAtCapacity},
		{"unknown call", errWrap(ErrUnknownCall), CodeUnknownCall, "", ErrUnknownCall},
		{"command", &CommandError{Code: CodeUnsupported, Message: "no"}, CodeUnsupported, "", ErrUnsupported},
		{"other", errors.New("disk on fire"), CodeInternal, "", ErrInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := errorReply("x", tc.err)
			if rep.Code != tc.code || rep.Field != tc.field || rep.ID != "x" || rep.Type != TypeError || rep.V != Version {
				t.Fatalf("reply %+v, want code %s field %q", rep, tc.code, tc.field)
			}
			// The client rebuilds a CommandError; it must match the same sentinel.
			ce := &CommandError{Code: rep.Code, Field: rep.Field, Message: rep.Message}
			if !errors.Is(ce, tc.sentinel) {
				t.Fatalf("client error %v does not match %v", ce, tc.sentinel)
			}
		})
	}
}

func errWrap(err error) error { return &wrapped{err} }

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "handler: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

// FuzzDecodeMessage feeds arbitrary bytes to both decoders: they must never
// panic, a refusal must always map to a wire code, and whatever is accepted
// must survive a re-encode and decode unchanged in type and validity.
func FuzzDecodeMessage(f *testing.F) {
	seeds := []string{
		`{"v":1,"type":"dial","id":"1","target":"sip:a@b","caller":"x"}`,
		`{"v":1,"type":"dial","id":"1","target":"+1","caller":"x","timers":{"decisionTimeoutMs":1},"codecs":["opus"]}`,
		`{"v":1,"type":"hangup","id":"2","callId":"c"}`,
		`{"v":1,"type":"subscribe","id":"3"}`,
		`{"v":1,"type":"subscribe","id":"3","callId":"c","replay":true}`,
		`{"v":1,"type":"subscribe","id":"3","replay":true}`,
		`{"v":1,"type":"ping","id":"4"}`,
		`{"v":1,"type":"webrtc.offer","id":"5","sdp":"v=0"}`,
		`{"v":1,"type":"call.status","callId":"c","status":"answered","timings":{}}`,
		`{"v":1,"type":"amd.event","callId":"c","seq":1,"event":"amd_human_detected"}`,
		`{"v":1,"type":"error","id":"1","code":"invalid_field","field":"target","message":"m"}`,
		`{"v":1,"type":"ack","id":"1","callId":"c"}`,
		`{"v":1,"type":"ack","id":"1","callId":"c","state":{"status":"answered","ended":false,"history":[{"seq":1,"status":{"v":1,"type":"call.status","callId":"c","status":"trying","timings":{}}},{"seq":2,"amd":{"v":1,"type":"amd.event","callId":"c","seq":1,"event":"amd_human_detected"}}]}}`,
		`not json`, `{}`, `{"v":2}`, `[]`, `null`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, env, err := DecodeCommand(data)
		if err != nil {
			rep := errorReply(env.ID, err)
			if rep.Code != CodeBadMessage && rep.Code != CodeInvalidField {
				t.Fatalf("command refusal has code %q: %v", rep.Code, err)
			}
			if len(env.ID) > maxIDLen {
				t.Fatalf("echoed id of %d bytes", len(env.ID))
			}
		} else {
			b, merr := marshal(msg)
			if merr != nil {
				t.Fatalf("re-encode %T: %v", msg, merr)
			}
			msg2, env2, err2 := DecodeCommand(b)
			if err2 != nil || env2.Type != env.Type {
				t.Fatalf("re-decode of %s: %v (type %q→%q)", b, err2, env.Type, env2.Type)
			}
			_ = msg2
		}
		if smsg, _, serr := DecodeServerMessage(data); serr == nil && smsg == nil {
			t.Fatalf("server decoder returned neither message nor error")
		}
	})
}

// BenchmarkDecodeDial measures decoding plus validation of a full dial
// command, the control channel's most expensive message.
func BenchmarkDecodeDial(b *testing.B) {
	msg := []byte(`{"v":1,"type":"dial","id":"2","callId":"abc-1","target":"+15551234567","caller":"bot","trunk":"main","timeoutInMs":30000,
		"metadata":{"k":"v"},"timers":{"noSpeechTimeoutMs":4000,"decisionTimeoutMs":10000},"machineDetection":"disconnect",
		"thresholdWordCount":4,"amdEventsSubscription":["amd_human_detected"],"codecs":["opus","PCMU"]}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		if _, _, err := DecodeCommand(msg); err != nil {
			b.Fatal(err)
		}
	}
}
