package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"

	"github.com/amd-engine/amd/gateway/auth"
	"github.com/amd-engine/amd/gateway/store"
)

// The interactions page is server-rendered HTML with no script, so it reads
// the same in a browser, in curl and in headless Chromium's --dump-dom. It
// takes the JWT from the "auth" header or, for a browser address bar, the
// "token" query parameter.

type pageRow struct {
	store.Call
	Events    []pageEvent
	Delivered int
	Queued    int
}

type pageEvent struct {
	Event      string  `json:"event"`
	AtMs       int64   `json:"atMs"`
	Reason     string  `json:"reason"`
	Confidence float64 `json:"confidence"`
	WordCount  int     `json:"wordCount"`
	ToneKind   string  `json:"toneKind"`
	Message    string  `json:"message"`
}

type pageData struct {
	Rows     []pageRow
	Bot      string
	Status   string
	Token    string
	Next     string
	Statuses []string
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"ms": func(v int64) string {
		if v == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f s", float64(v)/1000)
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>amdgw interactions</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f3f3f3}
.st-Answered{color:#06c}.st-completed{color:#080}.st-Failed{color:#c00}.st-machineDetected{color:#a50}
ul{margin:0;padding-left:1.1em}code{font-size:12px}
</style></head><body>
<h1>Interactions</h1>
<form method="get" action="/interactions">
<label>Bot <input name="bot" value="{{.Bot}}"></label>
<label>Status <select name="status"><option value="">any</option>{{range .Statuses}}<option{{if eq . $.Status}} selected{{end}}>{{.}}</option>{{end}}</select></label>
{{if .Token}}<input type="hidden" name="token" value="{{.Token}}">{{end}}
<button>Filter</button></form>
<table id="interactions">
<thead><tr><th>Created</th><th>Call ID</th><th>Bot</th><th>Target</th><th>Caller</th><th>Status</th><th>End reason</th><th>Reason</th>
<th>Ring</th><th>Connected at</th><th>Duration</th><th>AMD events</th><th>AMD reason</th><th>Notifications</th></tr></thead>
<tbody>
{{range .Rows}}<tr class="call" data-call-id="{{.CallID}}">
<td>{{.CreatedAt.Format "2006-01-02 15:04:05"}}</td><td><code>{{.CallID}}</code></td><td>{{.BotID}}</td><td>{{.Target}}</td><td>{{.Caller}}</td>
<td class="status st-{{.Status}}">{{.Status}}</td><td>{{.EndReason}}</td><td>{{.Reason}}</td>
<td>{{ms .RingDurationMs}}</td><td>{{if not .ConnectAt.IsZero}}{{.ConnectAt.Format "15:04:05.000"}}{{else}}–{{end}}</td><td>{{ms .CallDurationMs}}</td>
<td class="amd-events"><ul>{{range .Events}}<li><span class="amd-event">{{.Event}}</span> @ {{.AtMs}} ms{{if .Reason}} ({{.Reason}}{{if .WordCount}}, {{.WordCount}} words{{end}}{{if .ToneKind}}, {{.ToneKind}}{{end}}){{end}}{{if .Message}}: {{.Message}}{{end}}</li>{{end}}</ul></td>
<td>{{.AMD.AMDReason}}</td><td>{{.Delivered}}/{{.Queued}} delivered</td>
</tr>
{{else}}<tr><td colspan="14">No interactions.</td></tr>{{end}}
</tbody></table>
{{if .Next}}<p><a id="next" href="{{.Next}}">Older →</a></p>{{end}}
</body></html>
`))

// pageStatuses is the Status filter's choice list.
var pageStatuses = []string{store.StatusQueued, store.StatusTrying, store.StatusRinging, store.StatusAnswered,
	store.StatusCompleted, store.StatusFailed, store.StatusMachineDetected}

func (g *Gateway) handlePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hdr := r.Header.Get(auth.Header)
	if hdr == "" {
		hdr = q.Get("token")
	}
	tok, err := auth.TokenFromHeaders(hdr, r.Header.Get("Authorization"))
	if err == nil {
		_, err = g.verifier.Verify(tok)
	}
	if err != nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`<!doctype html><title>amdgw</title><p>A JWT is required: open /interactions?token=&lt;JWT&gt; (mint one with <code>amdctl token</code>).</p>`))
		return
	}
	f, fe := parseFilter(q)
	if fe != nil {
		http.Error(w, fe.Error(), http.StatusBadRequest)
		return
	}
	f.BotID = q.Get("bot")
	calls, next, err := g.store.ListCalls(r.Context(), f)
	if errors.Is(err, store.ErrBadCursor) {
		http.Error(w, "bad cursor", http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	data := pageData{Bot: f.BotID, Status: q.Get("status"), Token: q.Get("token"), Statuses: pageStatuses}
	for _, c := range calls {
		row := pageRow{Call: c}
		for _, raw := range c.AMD.AMDEvents {
			var ev pageEvent
			if json.Unmarshal(raw, &ev) == nil {
				row.Events = append(row.Events, ev)
			}
		}
		if notes, err := g.store.Notifications(r.Context(), c.CallID); err == nil {
			row.Queued = len(notes)
			for _, n := range notes {
				if n.State == store.DeliveryDelivered {
					row.Delivered++
				}
			}
		}
		data.Rows = append(data.Rows, row)
	}
	if next != "" {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("cursor", next)
		data.Next = PathPage + "?" + nq.Encode()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTmpl.Execute(w, data); err != nil {
		g.log.Error().Err(err).Msg("render interactions page")
	}
}
