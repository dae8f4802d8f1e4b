package gateway

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// chromiumPath finds Debian's chromium.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (make deps installs it)")
	return ""
}

// dumpDOM renders url in headless Chromium and returns the DOM after load.
func dumpDOM(t *testing.T, url string) string {
	t.Helper()
	bin := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--dump-dom", url)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("chromium: %v\n%s", err, stderr)
	}
	return string(out)
}

type pageCall struct {
	id, status string
	events     []string
	cells      []string
}

// parseRows reads the interactions table's rows from a DOM.
func parseRows(t *testing.T, dom string) map[string]pageCall {
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	attr := func(n *html.Node, k string) string {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val
			}
		}
		return ""
	}
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	rows := map[string]pageCall{}
	var walk func(n *html.Node, cur *pageCall)
	walk = func(n *html.Node, cur *pageCall) {
		if n.Type == html.ElementNode {
			switch {
			case n.Data == "tr" && attr(n, "class") == "call":
				pc := pageCall{id: attr(n, "data-call-id")}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c, &pc)
				}
				rows[pc.id] = pc
				return
			case n.Data == "td" && cur != nil:
				cur.cells = append(cur.cells, strings.TrimSpace(text(n)))
				if strings.Contains(attr(n, "class"), "status") {
					cur.status = strings.TrimSpace(text(n))
				}
			case n.Data == "span" && attr(n, "class") == "amd-event" && cur != nil:
				cur.events = append(cur.events, text(n))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	return rows
}

// TestInteractionsPageInChromium renders /interactions in headless Chromium
// and reads the Status column and the AMD events back from the DOM.
func TestInteractionsPageInChromium(t *testing.T) {
	chromiumPath(t)
	eng := newFakeEngine(t)
	snk := newSink(t)
	h := startGateway(t, testConfig(eng.url()), "")
	h.waitEngines(1)
	want := map[string]struct {
		status string
		events string
	}{}
	for _, tc := range []struct{ target, mode, status, events string }{
		{"sip:human@x.y", "detect", "completed", "amd_human_detected amd_stopped"},
		{"sip:busy@x.y", "detect", "Failed", ""},
		{"sip:machine@x.y", "disconnect", "machineDetected", "amd_machine_detected"},
	} {
		b := dialBody(tc.target, snk.srv.URL)
		b["machineDetection"] = tc.mode
		code, res := h.dialout(b)
		if code != 200 {
			t.Fatalf("dialout %d %v", code, res)
		}
		want[res["callId"].(string)] = struct{ status, events string }{tc.status, tc.events}
	}
	waitUntil(t, "calls final", 10*time.Second, func() bool {
		open, _ := h.st.OpenCalls(context.Background())
		return len(open) == 0
	})

	// Without a token the page refuses.
	resp, err := http.Get(h.api.URL + "/interactions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("page without token: %d", resp.StatusCode)
	}

	rows := parseRows(t, dumpDOM(t, h.api.URL+"/interactions?token="+h.token))
	if len(rows) != len(want) {
		t.Fatalf("page shows %d calls, want %d", len(rows), len(want))
	}
	for id, w := range want {
		r, ok := rows[id]
		if !ok {
			t.Fatalf("call %s not on the page", id)
		}
		if r.status != w.status {
			t.Errorf("%s: Status %q, want %q", id, r.status, w.status)
		}
		if got := strings.Join(r.events, " "); got != w.events {
			t.Errorf("%s: AMD events %q, want %q", id, got, w.events)
		}
	}
	// The Status filter, through the browser too.
	rows = parseRows(t, dumpDOM(t, h.api.URL+"/interactions?status=Failed&token="+h.token))
	if len(rows) != 1 {
		t.Fatalf("status=Failed shows %d calls", len(rows))
	}
	for _, r := range rows {
		if r.status != "Failed" {
			t.Fatalf("filtered row status %q", r.status)
		}
	}
}
