package control

import (
	"os"
	"strings"
	"testing"
)

// TestProtocolDocExamples decodes every ```json block of
// docs/control-protocol.md with the real decoders: commands must validate,
// server messages must decode, so the document cannot drift from the code.
func TestProtocolDocExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/control-protocol.md")
	if err != nil {
		t.Fatalf("read protocol doc: %v", err)
	}
	blocks := jsonBlocks(string(doc))
	if len(blocks) < 20 {
		t.Fatalf("found %d json examples, the document should have one per message and status", len(blocks))
	}
	seen := map[string]bool{}
	for i, b := range blocks {
		msg, env, cerr := DecodeCommand([]byte(b))
		if cerr == nil {
			seen[env.Type] = true
			if msg == nil {
				t.Errorf("example %d: no message", i)
			}
			continue
		}
		smsg, senv, serr := DecodeServerMessage([]byte(b))
		if serr != nil {
			t.Errorf("example %d is neither a valid command (%v) nor a server message (%v):\n%s", i, cerr, serr, b)
			continue
		}
		seen[senv.Type] = true
		switch m := smsg.(type) {
		case *CallStatus:
			if m.CallID == "" || m.Status == "" || m.Leg == "" {
				t.Errorf("example %d: call.status without callId/status/leg", i)
			}
			if m.Status.Final() && m.EndReason == "" {
				t.Errorf("example %d: final status without endReason", i)
			}
		case *AMDEvent:
			if m.CallID == "" || m.Seq < 1 || m.Event.Type == "" || !knownEvent(string(m.Event.Type)) {
				t.Errorf("example %d: amd.event incomplete or unknown event %q", i, m.Event.Type)
			}
		case *Ack:
			if m.State == nil {
				break
			}
			last := 0
			for j, e := range m.State.History {
				if e.Seq <= last || (e.Status == nil) == (e.AMD == nil) {
					t.Errorf("example %d: history entry %d has seq %d after %d, or not exactly one message", i, j, e.Seq, last)
				}
				last = e.Seq
				if e.Status != nil && (e.Status.Type != TypeCallStatus || e.Status.CallID != m.CallID) {
					t.Errorf("example %d: history entry %d is not a call.status of %s", i, j, m.CallID)
				}
				if e.AMD != nil && (e.AMD.Envelope.Type != TypeAMDEvent || e.AMD.CallID != m.CallID || !knownEvent(string(e.AMD.Event.Type))) {
					t.Errorf("example %d: history entry %d is not an amd.event of %s", i, j, m.CallID)
				}
			}
			if n := len(m.State.History); n > 0 && m.State.History[n-1].Status != nil && m.State.History[n-1].Status.Status.Final() != m.State.Ended {
				t.Errorf("example %d: ended %v disagrees with the last status", i, m.State.Ended)
			}
		case *Error:
			if _, ok := codeSentinels[m.Code]; !ok {
				t.Errorf("example %d: unknown error code %q", i, m.Code)
			}
		}
	}
	for _, typ := range []string{TypeDial, TypeHangup, TypeAMDStop, TypeSubscribe, TypePing, TypeWebRTCOffer,
		TypeAck, TypeError, TypePong, TypeWebRTCAnswer, TypeCallStatus, TypeAMDEvent} {
		if !seen[typ] {
			t.Errorf("no example for message type %q", typ)
		}
	}
}

func jsonBlocks(doc string) []string {
	var out []string
	for {
		i := strings.Index(doc, "```json\n")
		if i < 0 {
			return out
		}
		doc = doc[i+len("```json\n"):]
		j := strings.Index(doc, "```")
		if j < 0 {
			return out
		}
		out = append(out, doc[:j])
		doc = doc[j+3:]
	}
}
