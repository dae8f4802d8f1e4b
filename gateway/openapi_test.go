package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/amd-engine/amd/docs"
	"github.com/amd-engine/amd/gateway/store"
)

// TestOpenAPIDocument: docs/openapi.yaml is valid YAML, describes exactly
// the paths the gateway serves, its dialout examples pass the real
// decoder/validator and its invalid examples fail on the field it names.
func TestOpenAPIDocument(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml is not valid YAML: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi version %q", v)
	}
	paths, _ := doc["paths"].(map[string]any)
	var got []string
	for p := range paths {
		got = append(got, p)
	}
	sort.Strings(got)
	want := []string{PathDialout, PathInteractions, PathInteraction, PathPage, PathOpenAPI, PathMetrics, PathHealth}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("documented paths %v, served %v", got, want)
	}
	// Every $ref resolves.
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, vv := range x {
				if k == "$ref" {
					refs = append(refs, vv.(string))
				}
				walk(vv)
			}
		case []any:
			for _, vv := range x {
				walk(vv)
			}
		}
	}
	walk(doc)
	for _, r := range refs {
		var node any = doc
		for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
			m, ok := node.(map[string]any)
			if !ok || m[part] == nil {
				t.Fatalf("$ref %s does not resolve", r)
			}
			node = m[part]
		}
	}

	post := paths[PathDialout].(map[string]any)["post"].(map[string]any)
	examples := post["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["examples"].(map[string]any)
	if len(examples) < 3 {
		t.Fatalf("only %d examples", len(examples))
	}
	for name, ex := range examples {
		body, err := json.Marshal(ex.(map[string]any)["value"])
		if err != nil {
			t.Fatalf("example %s: %v", name, err)
		}
		if _, err := DecodeDialout(bytes.NewReader(body)); err != nil {
			t.Errorf("example %s refused by the decoder: %v", name, err)
		}
	}
	invalid := post["x-invalid-examples"].(map[string]any)
	for name, ex := range invalid {
		m := ex.(map[string]any)
		body, _ := json.Marshal(m["value"])
		_, err := DecodeDialout(bytes.NewReader(body))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != m["field"] {
			t.Errorf("invalid example %s: err %v, want field %v", name, err, m["field"])
		}
	}
	// The decoder accepts exactly the documented properties.
	props := doc["components"].(map[string]any)["schemas"].(map[string]any)["DialoutRequest"].(map[string]any)["properties"].(map[string]any)
	for _, canon := range dialoutFields {
		if props[canon] == nil {
			t.Errorf("decoder field %s is not documented", canon)
		}
	}
	if len(props) != len(dialoutFields) {
		t.Errorf("documented %d properties, decoder knows %d", len(props), len(dialoutFields))
	}
}

func TestOpenAPIServed(t *testing.T) {
	eng := newFakeEngine(t)
	h := startGateway(t, testConfig(eng.url()), "")
	resp, err := http.Get(h.api.URL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(b, docs.OpenAPI) || len(b) < 1000 {
		t.Fatalf("served %d, %d bytes", resp.StatusCode, len(b))
	}
}

// TestOpenAPISchemasMatchJSON: every key the gateway writes in an
// interaction and in a notification is documented.
func TestOpenAPISchemasMatchJSON(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	now := time.Now()
	secs := int64(1)
	cases := map[string]any{
		"Interaction": InteractionView{Call: store.Call{CallID: "c", SID: "s", BotID: "b", AppID: "a", Target: "t", Caller: "c", Trunk: "t",
			NotifyURL: "u", NotifyHeaders: map[string]string{"a": "b"}, Subscription: []string{}, MachineDetection: "detect",
			Metadata: json.RawMessage(`{}`), EngineURL: "e", Status: "completed", EndReason: "e", Reason: "r", ReasonCode: "r",
			CreatedAt: now, UpdatedAt: now, ConnectAt: now, DisconnectAt: now, RingDurationMs: 1, ConnectDurationMs: 1, CallDurationMs: 1},
			Notifications: []NotificationView{{Seq: 1}}},
		"Notification": Notification{ConversationID: "c", SID: "s", Status: "x", Reason: "r", ReasonCode: "r", CallConnectTime: "t",
			RingDurationInMS: 1, ConnectDurationInMS: 1, CallDuration: &secs, CallDisconnectTime: "t", EndReason: "e",
			MachineDetection: json.RawMessage(`{}`), Target: "t", Caller: "c", BotID: "b", Metadata: json.RawMessage(`{}`), Timestamp: "t"},
		"DialoutResponse": DialResult{SID: "s", CallID: "c"},
	}
	for name, v := range cases {
		props := schemas[name].(map[string]any)["properties"].(map[string]any)
		raw, _ := json.Marshal(v)
		var keys map[string]any
		_ = json.Unmarshal(raw, &keys)
		for k := range keys {
			if props[k] == nil {
				t.Errorf("schema %s does not document %q", name, k)
			}
		}
	}
}
