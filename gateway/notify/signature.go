// Package notify delivers the gateway's notifications: it signs each POST
// (SAVG-Signature, HMAC-SHA256), and its Dispatcher drains the durable outbox
// in order per call, retrying with exponential backoff and jitter until the
// receiver accepts, refuses for good, or 24 hours pass.
package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a notification POST.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>" where
	// the MAC is over "<t>.<raw body>" keyed by the signing secret.
	SignatureHeader = "SAVG-Signature"
	// IdempotencyHeader carries a key unique per notification and stable
	// across retries: a receiver that sees a key twice has seen a retry.
	IdempotencyHeader = "Idempotency-Key"
	// SequenceHeader carries the notification's position in its call (1, 2, …).
	SequenceHeader = "X-AMD-Notification-Seq"
)

// DefaultTolerance is how old a signature Verify accepts by default; it
// bounds the replay window of a captured notification.
const DefaultTolerance = 5 * time.Minute

// Signature errors.
var (
	ErrBadSignatureHeader = errors.New("malformed signature header")
	ErrSignatureMismatch  = errors.New("signature mismatch")
	ErrSignatureExpired   = errors.New("signature timestamp outside tolerance")
)

// Sign returns the SignatureHeader value for body at time t. It runs once
// per delivery attempt; the buffers live on the stack.
func Sign(secret []byte, t time.Time, body []byte) string {
	var tsBuf [20]byte
	ts := strconv.AppendInt(tsBuf[:0], t.Unix(), 10)
	var sum [sha256.Size]byte
	m := hmac.New(sha256.New, secret)
	m.Write(ts)
	m.Write([]byte{'.'})
	m.Write(body)
	m.Sum(sum[:0])
	var out [2 + 20 + 4 + 2*sha256.Size]byte
	b := append(out[:0], "t="...)
	b = append(b, ts...)
	b = append(b, ",v1="...)
	b = hex.AppendEncode(b, sum[:])
	return string(b)
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ParsedSignature is a decoded SignatureHeader.
type ParsedSignature struct {
	Timestamp int64
	// V1 holds every v1 MAC present (more than one during secret rotation).
	V1 [][]byte
}

// maxSignatureHeader bounds what ParseSignature reads; a real header is ~80 bytes.
const maxSignatureHeader = 4096

// ParseSignature decodes "t=<unix>,v1=<hex>[,v1=<hex>…]". Unknown schemes
// (v0, v2 …) are ignored so a sender can add one without breaking receivers.
func ParseSignature(h string) (ParsedSignature, error) {
	var p ParsedSignature
	if len(h) > maxSignatureHeader {
		return p, fmt.Errorf("%w: %d bytes", ErrBadSignatureHeader, len(h))
	}
	haveT := false
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return p, fmt.Errorf("%w: %q has no '='", ErrBadSignatureHeader, part)
		}
		switch k {
		case "t":
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ts <= 0 || haveT {
				return p, fmt.Errorf("%w: bad t %q", ErrBadSignatureHeader, v)
			}
			p.Timestamp, haveT = ts, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return p, fmt.Errorf("%w: bad v1 %q", ErrBadSignatureHeader, v)
			}
			p.V1 = append(p.V1, b)
		}
	}
	if !haveT {
		return p, fmt.Errorf("%w: no t", ErrBadSignatureHeader)
	}
	if len(p.V1) == 0 {
		return p, fmt.Errorf("%w: no v1", ErrBadSignatureHeader)
	}
	return p, nil
}

// Verify checks header against body and secret, and that the timestamp is
// within tolerance of now (tolerance <= 0 skips the age check).
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	p, err := ParseSignature(header)
	if err != nil {
		return err
	}
	if tolerance > 0 {
		age := now.Sub(time.Unix(p.Timestamp, 0))
		if age > tolerance || age < -tolerance {
			return fmt.Errorf("%w: %s", ErrSignatureExpired, age)
		}
	}
	want := mac(secret, strconv.FormatInt(p.Timestamp, 10), body)
	for _, got := range p.V1 {
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
