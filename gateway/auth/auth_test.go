package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("jwt-secret")

func TestVerify(t *testing.T) {
	now := time.Now()
	v, err := NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := Mint(secret, "app-1", time.Hour, now)
	expired, _ := Mint(secret, "app-1", time.Minute, now.Add(-time.Hour))
	otherKey, _ := Mint([]byte("other"), "app-1", time.Hour, now)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"appId": "x"}).SignedString(secret)
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}).SignedString(secret)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]

	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"good", good, nil},
		{"expired", expired, ErrExpiredToken},
		{"other key", otherKey, ErrInvalidToken},
		{"no exp", noExp, ErrInvalidToken},
		{"HS512 refused", hs512, ErrInvalidToken},
		{"alg none refused", none, ErrInvalidToken},
		{"tampered payload", tampered, ErrInvalidToken},
		{"garbage", "abc", ErrInvalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(tc.tok)
			if tc.want == nil {
				if err != nil || c.AppID != "app-1" {
					t.Fatalf("Verify = %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTokenFromHeaders(t *testing.T) {
	tests := []struct {
		auth, authorization, want string
		err                       error
	}{
		{"abc", "", "abc", nil},
		{"  abc ", "", "abc", nil},
		{"Bearer abc", "", "abc", nil},
		{"", "Bearer xyz", "xyz", nil},
		{"abc", "Bearer xyz", "abc", nil},
		{"", "", "", ErrMissingToken},
		{"Bearer ", "", "", ErrMissingToken},
		{strings.Repeat("a", maxTokenBytes+1), "", "", ErrInvalidToken},
	}
	for _, tc := range tests {
		got, err := TokenFromHeaders(tc.auth, tc.authorization)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("TokenFromHeaders(%.20q, %q) = %q, %v; want %q, %v", tc.auth, tc.authorization, got, err, tc.want, tc.err)
		}
	}
}

func TestMintRefuses(t *testing.T) {
	if _, err := Mint(nil, "a", time.Hour, time.Now()); !errors.Is(err, ErrNoSecret) {
		t.Fatal(err)
	}
	if _, err := Mint(secret, "a", 0, time.Now()); err == nil {
		t.Fatal("zero ttl accepted")
	}
	if _, err := NewVerifier(nil); !errors.Is(err, ErrNoSecret) {
		t.Fatal(err)
	}
}

// FuzzVerifyHeader: whatever arrives in the headers, extraction and
// verification never panic, and nothing but a token signed with the secret
// is accepted.
func FuzzVerifyHeader(f *testing.F) {
	good, _ := Mint(secret, "app", time.Hour, time.Now())
	f.Add(good, "")
	f.Add("Bearer "+good, "")
	f.Add("", "Bearer "+good)
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.", "")
	f.Add("a.b.c", "x")
	v, _ := NewVerifier(secret)
	f.Fuzz(func(t *testing.T, a, b string) {
		tok, err := TokenFromHeaders(a, b)
		if err != nil {
			return
		}
		c, err := v.Verify(tok)
		if err != nil {
			return
		}
		// Accepted: it must be a real HS256 token signed with secret.
		p, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return secret, nil }, jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
		if err != nil || !p.Valid || c.ExpiresAt == nil {
			t.Fatalf("accepted %q: %v", tok, err)
		}
	})
}
