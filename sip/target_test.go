package sip

import (
	"errors"
	"testing"
)

func TestResolveTarget(t *testing.T) {
	t.Parallel()
	trunks := []Trunk{{Name: "main", Host: "sbc.example", Port: 5080, Username: "u", Password: "p"}, {Name: "backup", Host: "10.0.0.9", Port: 5060}}
	tests := []struct {
		target, trunk string
		want          string
		wantTrunk     string
		err           error
	}{
		{"sip:alice@192.0.2.10:5070", "", "sip:alice@192.0.2.10:5070", "", nil},
		{"sip:alice@192.0.2.10", "backup", "sip:alice@192.0.2.10", "backup", nil},
		{"tel:+4930123456", "", "sip:+4930123456@sbc.example:5080", "main", nil},
		{"tel:+1-202-555-0100;phone-context=x", "", "sip:+12025550100@sbc.example:5080", "main", nil},
		{"4930123456", "backup", "sip:4930123456@10.0.0.9:5060", "backup", nil},
		{"+49 (30) 123.456", "", "sip:+4930123456@sbc.example:5080", "main", nil},
		{"tel:+4930", "nope", "", "", ErrUnknownTrunk},
		{"sip:@host", "", "", "", ErrBadTarget},
		{"sip:bob", "", "", "", ErrBadTarget},
		{"mailto:x@y", "", "", "", ErrBadTarget},
		{"12ab", "", "", "", ErrBadTarget},
		{"", "", "", "", ErrBadTarget},
		{"+123456789012345678901", "", "", "", ErrBadTarget},
	}
	for _, tc := range tests {
		u, tr, err := resolveTarget(tc.target, tc.trunk, trunks)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%q: err %v, want %v", tc.target, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.target, err)
			continue
		}
		if got := uriString(u); got != tc.want {
			t.Errorf("%q: uri %s, want %s", tc.target, got, tc.want)
		}
		if (tr == nil) != (tc.wantTrunk == "") || (tr != nil && tr.Name != tc.wantTrunk) {
			t.Errorf("%q: trunk %+v, want %q", tc.target, tr, tc.wantTrunk)
		}
	}
	if _, _, err := resolveTarget("+4930", "", nil); !errors.Is(err, ErrUnknownTrunk) {
		t.Errorf("no trunks: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := Config{MediaIP: "127.0.0.1", Trunks: []Trunk{{Name: "a", Host: "h"}}}.WithDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if good.Trunks[0].Port != 5060 || good.ContactHost != "127.0.0.1" || good.RTPPortMin != DefaultRTPPortMin {
		t.Errorf("defaults %+v", good)
	}
	for name, mut := range map[string]func(*Config){
		"listen":      func(c *Config) { c.ListenAddr = "nohost" },
		"media ip":    func(c *Config) { c.MediaIP = "0.0.0.0" },
		"ports":       func(c *Config) { c.RTPPortMin, c.RTPPortMax = 40000, 30000 },
		"trunk name":  func(c *Config) { c.Trunks = append(c.Trunks, Trunk{Host: "x"}) },
		"trunk dup":   func(c *Config) { c.Trunks = append(c.Trunks, Trunk{Name: "a", Host: "x"}) },
		"trunk host":  func(c *Config) { c.Trunks[0].Host = "a b" },
		"neg timeout": func(c *Config) { c.MediaTimeout = -1 },
	} {
		c := good
		c.Trunks = append([]Trunk(nil), good.Trunks...)
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFailureReasonAndEndReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err          error
		reason, code string
	}{
		{&FinalResponseError{486, "Busy Here"}, "486 Busy Here", "Busy Here"},
		{ErrNoAnswer, "No Answer", "No Answer"},
		{ErrNoCodec, "488 Not Acceptable Here", "Not Acceptable Here"},
		{ErrTransport, "408 Request Timeout", "Request Timeout"},
		{nil, "", ""},
	} {
		r, c := FailureReason(tc.err)
		if r != tc.reason || c != tc.code {
			t.Errorf("%v: %q %q", tc.err, r, c)
		}
	}
	if (Progress{Kind: ProgressRemoteBye}).EndReason() != "Caller-disconnected" || (Progress{Kind: ProgressFailed}).EndReason() != "Failed" {
		t.Error("end reasons")
	}
}

func FuzzResolveTarget(f *testing.F) {
	for _, s := range []string{"sip:alice@192.0.2.10:5070", "tel:+4930123456;phone-context=x", "+49 (30) 123", "sip:@", "sip:a@b;transport=tcp"} {
		f.Add(s)
	}
	trunks := []Trunk{{Name: "main", Host: "sbc.example", Port: 5080}}
	f.Fuzz(func(t *testing.T, target string) {
		u, tr, err := resolveTarget(target, "", trunks)
		if err != nil {
			if !errors.Is(err, ErrBadTarget) && !errors.Is(err, ErrUnknownTrunk) {
				t.Fatalf("error class: %v", err)
			}
			return
		}
		if u.Host == "" || u.User == "" {
			t.Fatalf("accepted %q as %+v", target, u)
		}
		if tr != nil && u.Host != tr.Host {
			t.Fatalf("number %q not sent to the trunk: %+v", target, u)
		}
	})
}
