package gateway

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/gateway/store"
)

func TestDecodeDialoutAccepts(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r *DialoutRequest)
	}{
		{"minimal with defaults", `{"target":"tel:+15551234567","caller":"+15550001"}`, func(t *testing.T, r *DialoutRequest) {
			if r.TimeoutInMs != DefaultTimeoutInMs || r.MachineDetection != engine.ModeDetect || r.ThresholdWordCount != engine.DefaultThresholdWordCount ||
				r.Timers.DecisionTimeoutMs != engine.DefaultDecisionTimeoutMs || r.AMDEventsSubscription != nil || r.NotifyURL != "" {
				t.Fatalf("defaults: %+v", r)
			}
		}},
		{"notifyUrl camel case", `{"target":"sip:a@b.c","caller":"1","notifyUrl":"https://x.y/hook"}`, func(t *testing.T, r *DialoutRequest) {
			if r.NotifyURL != "https://x.y/hook" {
				t.Fatal(r.NotifyURL)
			}
		}},
		{"machinedetection lower case, bool", `{"target":"sip:a@b.c","caller":"1","machinedetection":false}`, func(t *testing.T, r *DialoutRequest) {
			if r.MachineDetection != engine.ModeDisabled {
				t.Fatal(r.MachineDetection)
			}
		}},
		{"everything", `{"target":"sip:+1555@trunk.example.com:5060;transport=udp","caller":"Alice","notifyurl":"http://127.0.0.1:9090/n",
			"notifyHeaders":{"Authorization":"Bearer x"},"timeoutInMs":"30000","trunk":"t1","metadata":{"a":"b","n":[1,2]},
			"timers":{"noSpeechTimeoutMs":4000,"decisionTimeoutMs":12000,"toneTimeoutMs":30000,"greetingCompletionTimeoutMs":1500},
			"machineDetection":"Disconnect","thresholdWordCount":7,"amdEventsSubscription":["amd_machine_detected","amd_machine_detected","amd_tone_detected"],
			"bot":{"id":"st-1"}}`, func(t *testing.T, r *DialoutRequest) {
			if r.TimeoutInMs != 30000 || r.Trunk != "t1" || r.MachineDetection != engine.ModeDisconnect || r.ThresholdWordCount != 7 ||
				r.Timers != (engine.Timers{NoSpeechTimeoutMs: 4000, DecisionTimeoutMs: 12000, ToneTimeoutMs: 30000, GreetingCompletionTimeoutMs: 1500}) ||
				len(r.AMDEventsSubscription) != 2 || r.NotifyHeaders["Authorization"] != "Bearer x" || string(r.Bot) != `{"id":"st-1"}` {
				t.Fatalf("%+v", r)
			}
			if m := r.FlatMetadata(); m["a"] != "b" || m["n"] != "[1,2]" {
				t.Fatalf("flat metadata %v", m)
			}
			if !r.Subscribed(engine.EventToneDetected) || r.Subscribed(engine.EventHumanDetected) {
				t.Fatal("Subscribed")
			}
		}},
		{"empty subscription means none", `{"target":"sip:b.c","caller":"1","amdEventsSubscription":[]}`, func(t *testing.T, r *DialoutRequest) {
			if r.AMDEventsSubscription == nil || len(r.AMDEventsSubscription) != 0 || r.Subscribed(engine.EventHumanDetected) {
				t.Fatalf("%#v", r.AMDEventsSubscription)
			}
		}},
		{"nulls are absent", `{"target":"sip:a@b.c","caller":"1","notifyurl":null,"timers":null,"metadata":null,"amdEventsSubscription":null}`, func(t *testing.T, r *DialoutRequest) {
			if r.AMDEventsSubscription != nil || r.Metadata != nil {
				t.Fatalf("%+v", r)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeDialout(strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

func TestDecodeDialoutRejects(t *testing.T) {
	base := `"target":"sip:a@b.c","caller":"1"`
	tests := []struct{ name, body, field string }{
		{"empty body", ``, ""},
		{"array", `[]`, ""},
		{"trailing data", `{` + base + `} {}`, ""},
		{"truncated", `{` + base, ""},
		{"target missing", `{"caller":"1"}`, "target"},
		{"target number", `{"target":5,"caller":"1"}`, "target"},
		{"target scheme", `{"target":"mailto:a@b","caller":"1"}`, "target"},
		{"target tel letters", `{"target":"tel:abc","caller":"1"}`, "target"},
		{"caller blank", `{"target":"sip:a@b.c","caller":"  "}`, "caller"},
		{"caller CRLF", `{"target":"sip:a@b.c","caller":"a\r\nVia: x"}`, "caller"},
		{"timeoutInMs abc", `{` + base + `,"timeoutInMs":"abc"}`, "timeoutInMs"},
		{"timeoutInMs float", `{` + base + `,"timeoutInMs":1.5}`, "timeoutInMs"},
		{"timeoutInMs too big", `{` + base + `,"timeoutInMs":99999999}`, "timeoutInMs"},
		{"timeoutInMs negative", `{` + base + `,"timeoutInMs":-1}`, "timeoutInMs"},
		{"timers array", `{` + base + `,"timers":[]}`, "timers"},
		{"timers unknown", `{` + base + `,"timers":{"fooMs":1}}`, "timers.fooMs"},
		{"timers too long", `{` + base + `,"timers":{"decisionTimeoutMs":99999999}}`, "timers.decisionTimeoutMs"},
		{"thresholdWordCount", `{` + base + `,"thresholdWordCount":-3}`, "thresholdWordCount"},
		{"thresholdWordCount type", `{` + base + `,"thresholdWordCount":{}}`, "thresholdWordCount"},
		{"machineDetection number", `{` + base + `,"machineDetection":3}`, "machineDetection"},
		{"subscription string", `{` + base + `,"amdEventsSubscription":"amd_human_detected"}`, "amdEventsSubscription"},
		{"notifyHeaders array", `{` + base + `,"notifyHeaders":["a"]}`, "notifyHeaders"},
		{"notifyHeaders value type", `{` + base + `,"notifyHeaders":{"X":1}}`, "notifyHeaders.X"},
		{"notifyHeaders bad name", `{` + base + `,"notifyHeaders":{"X Y":"1"}}`, "notifyHeaders.X Y"},
		{"notifyHeaders CRLF", `{` + base + `,"notifyHeaders":{"X":"a\r\nB: c"}}`, "notifyHeaders.X"},
		{"notifyHeaders reserved", `{` + base + `,"notifyHeaders":{"idempotency-key":"k"}}`, "notifyHeaders.idempotency-key"},
		{"notifyurl relative", `{` + base + `,"notifyurl":"/hook"}`, "notifyurl"},
		{"notifyurl number", `{` + base + `,"notifyurl":7}`, "notifyurl"},
		{"metadata string", `{` + base + `,"metadata":"x"}`, "metadata"},
		{"bot number", `{` + base + `,"bot":1}`, "bot"},
		{"trunk type", `{` + base + `,"trunk":[]}`, "trunk"},
		{"unknown field", `{` + base + `,"machineDetectionMode":"x"}`, "machineDetectionMode"},
		{"duplicate spellings", `{` + base + `,"notifyurl":"http://a/","notifyUrl":"http://b/"}`, "notifyurl"},
		{"too large", `{` + base + `,"metadata":{"a":"` + strings.Repeat("x", MaxDialoutBody) + `"}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeDialout(strings.NewReader(tc.body))
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v, want a FieldError", err)
			}
			if fe.Field != tc.field {
				t.Fatalf("field %q, want %q (%v)", fe.Field, tc.field, err)
			}
			if fe.Error() == "" {
				t.Fatal("empty message")
			}
		})
	}
}

// FuzzDecodeDialout: no input panics; every accepted request satisfies the
// invariants the gateway relies on, and re-encoding it decodes to the same.
func FuzzDecodeDialout(f *testing.F) {
	seeds := []string{
		`{"target":"tel:+15551234567","caller":"+15550001"}`,
		`{"target":"sip:a@b.c","caller":"1","notifyUrl":"https://x.y/hook","timers":{"decisionTimeoutMs":"9000"},"amdEventsSubscription":[]}`,
		`{"target":"sip:a@b.c","caller":"1","machinedetection":true,"metadata":{"a":{"b":[1]}}}`,
		`{"target":"sip:a@b.c","caller":"1","timeoutInMs":"abc"}`,
		`{"TARGET":"sip:x","Caller":"y","notifyHeaders":{"X-A":"b"}}`,
		`[`, `{}`, `null`, `{"target":"sip:a@b.c","caller":"1"}{}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeDialout(strings.NewReader(string(body)))
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %v", err)
			}
			return
		}
		if r.Target == "" || strings.TrimSpace(r.Caller) == "" || r.TimeoutInMs <= 0 || r.TimeoutInMs > MaxTimeoutInMs {
			t.Fatalf("accepted invalid request %+v", r)
		}
		if (engine.Config{Mode: r.MachineDetection, ThresholdWordCount: r.ThresholdWordCount, Timers: r.Timers}).Validate() != nil {
			t.Fatalf("accepted invalid AMD config %+v", r)
		}
		for k, v := range r.NotifyHeaders {
			if strings.ContainsAny(k+v, "\r\n") {
				t.Fatalf("header injection accepted: %q: %q", k, v)
			}
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeDialout(strings.NewReader(string(again)))
		if err != nil {
			t.Fatalf("re-decode of %s: %v", again, err)
		}
		if r2.Target != r.Target || r2.TimeoutInMs != r.TimeoutInMs || r2.Timers != r.Timers || len(r2.AMDEventsSubscription) != len(r.AMDEventsSubscription) {
			t.Fatalf("round trip changed the request: %+v vs %+v", r, r2)
		}
	})
}

// BenchmarkDecodeDialout: the decoder runs once per API request; this keeps
// an eye on its cost (it is not a per-frame path).
func BenchmarkDecodeDialout(b *testing.B) {
	body := `{"target":"sip:+1555@trunk.example.com","caller":"Alice","notifyurl":"http://127.0.0.1:9090/n","notifyHeaders":{"Authorization":"Bearer x"},
		"timeoutInMs":30000,"metadata":{"a":"b"},"timers":{"decisionTimeoutMs":12000},"machineDetection":"detect","amdEventsSubscription":["amd_machine_detected"]}`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeDialout(strings.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseFilter: the interactions query parser never panics, and what it
// accepts is within bounds.
func FuzzParseFilter(f *testing.F) {
	f.Add("Failed,Answered", "2026-11-25T09:00:00Z", "1764061200000", "10", "abc")
	f.Add("", "", "", "", "")
	f.Add(",,", "x", "-1", "501", "")
	f.Fuzz(func(t *testing.T, status, from, to, limit, cursor string) {
		q := map[string][]string{"status": {status}, "from": {from}, "to": {to}, "limit": {limit}, "cursor": {cursor}}
		fl, fe := parseFilter(q)
		if fe != nil {
			if fe.Field == "" {
				t.Fatalf("error without field: %v", fe)
			}
			return
		}
		if fl.Limit < 1 || fl.Limit > store.MaxPage {
			t.Fatalf("limit %d accepted", fl.Limit)
		}
		for _, s := range fl.Status {
			if s == "" || strings.TrimSpace(s) != s {
				t.Fatalf("status %q accepted", s)
			}
		}
	})
}
