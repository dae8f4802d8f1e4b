package testphone

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	amdsip "github.com/amd-engine/amd/sip"
)

// Behaviour is what the phone does with one call. It is chosen per call
// from the Request-URI so one phone serves many tests:
//
//	sip:reject-486@host            reject with 486 Busy Here (any 4xx-6xx)
//	sip:noanswer@host              180 Ringing forever (until CANCEL)
//	sip:<name>@host                answer, play <name>.wav (.opus, .pcap) from the audio dir
//	                               (searched recursively, so a labelled corpus
//	                               works as is) or the single configured file,
//	                               then keep sending silence until BYE
//
// URI parameters refine it: ;ring-ms=N (delay between 180 and 200),
// ;codec=pcmu|pcma|opus (our preference), ;bye-after=N (BYE N ms after
// the answer), ;bye=end (BYE when the file ends), ;early=1 (183 with SDP
// and the file as early media before answering), ;reject=CODE with
// ;early=1 (play the file as early media, then fail: SIT + 404 style),
// ;dtmf=DIGITS (RFC 4733 digits after the file), ;rtp=none (answer but
// send no RTP at all), ;loss=PCT and ;reorder=PCT (drop, or swap with the
// next, that share of RTP packets), ;ptime=10|20|30|40|60 (G.711 packet
// duration).
type Behaviour struct {
	Audio     string // file name without .wav; empty with Reject/NoAnswer
	Reject    int
	NoAnswer  bool
	RingDelay time.Duration
	Codecs    []amdsip.Codec
	ByeAfter  time.Duration
	ByeAtEnd  bool
	Early     bool
	DTMF      string
	// NoRTP answers but never sends RTP (media-timeout tests).
	NoRTP bool
	// LossPct drops, ReorderPct swaps with the next packet, that share of
	// RTP packets (network impairment for receiver tests).
	LossPct, ReorderPct int
	// PtimeMs is the G.711 packet duration (10, 20, 30, 40 or 60; 0 = 20).
	PtimeMs int
}

// ParseBehaviour reads the user part and URI parameters. defaults carries
// the phone-wide settings (ring delay, codec preference, reject code).
func ParseBehaviour(user string, params map[string]string, defaults Behaviour) (Behaviour, error) {
	b := defaults
	b.Audio = user
	switch {
	case strings.HasPrefix(user, "reject-"):
		code, err := strconv.Atoi(strings.TrimPrefix(user, "reject-"))
		if err != nil || code < 400 || code > 699 {
			return b, fmt.Errorf("testphone: %q: want reject-<400..699>", user)
		}
		b.Reject, b.Audio = code, ""
	case user == "noanswer":
		b.NoAnswer, b.Audio = true, ""
	case user == "" || strings.ContainsAny(user, "/\\") || strings.HasPrefix(user, "."):
		// The name picks a file in the audio dir; never let it leave it.
		return b, fmt.Errorf("testphone: bad audio name %q", user)
	}
	for k, v := range params {
		// '#' must travel %-escaped in a URI (dtmf=12%23).
		v, err := url.PathUnescape(v)
		if err != nil {
			return b, fmt.Errorf("testphone: ;%s: %v", k, err)
		}
		switch k {
		case "ring-ms":
			b.RingDelay, err = parseMs(v)
		case "bye-after":
			b.ByeAfter, err = parseMs(v)
		case "bye":
			if v != "end" {
				err = fmt.Errorf("want bye=end")
			}
			b.ByeAtEnd = true
		case "codec":
			b.Codecs, err = amdsip.ParseCodecs(v)
		case "early":
			b.Early = v == "1" || v == "true" || v == ""
		case "reject":
			b.Reject, err = strconv.Atoi(v)
			if err == nil && (b.Reject < 400 || b.Reject > 699) {
				err = fmt.Errorf("want 400..699")
			}
		case "dtmf":
			for _, r := range v {
				if !strings.ContainsRune("0123456789*#ABCD", r) {
					err = fmt.Errorf("digit %q", r)
				}
			}
			b.DTMF = v
		case "loss", "reorder":
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 0 || n > 50 {
				err = fmt.Errorf("want percent 0..50")
			} else if k == "loss" {
				b.LossPct = n
			} else {
				b.ReorderPct = n
			}
		case "ptime":
			n, perr := strconv.Atoi(v)
			if perr != nil || (n != 10 && n != 20 && n != 30 && n != 40 && n != 60) {
				err = fmt.Errorf("want 10, 20, 30, 40 or 60")
			}
			b.PtimeMs = n
		case "rtp":
			if v != "none" {
				err = fmt.Errorf("want rtp=none")
			}
			b.NoRTP = true
		case "transport", "user", "lr":
			// standard URI parameters, not ours
		default:
			err = fmt.Errorf("unknown parameter")
		}
		if err != nil {
			return b, fmt.Errorf("testphone: ;%s=%s: %v", k, v, err)
		}
	}
	return b, nil
}

func parseMs(v string) (time.Duration, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 3600_000 {
		return 0, fmt.Errorf("want milliseconds 0..3600000")
	}
	return time.Duration(n) * time.Millisecond, nil
}
