// Package auth owns the dialout API's JSON Web Tokens: HS256 tokens carried
// in the "auth" header (the Kore.ai Voice Gateway's convention), their
// verification by amdgw and their minting by `amdctl token`. It is kept apart
// from the gateway so the CLI can mint tokens without linking the server.
package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Header is the request header that carries the token.
const Header = "auth"

// Leeway absorbs clock skew between the token's minter and the gateway.
const Leeway = 30 * time.Second

// maxTokenBytes bounds what is handed to the JWT parser; real tokens are a
// few hundred bytes.
const maxTokenBytes = 8 << 10

// Sentinel errors; every verification error wraps one of them.
var (
	ErrMissingToken = errors.New("missing token")
	ErrInvalidToken = errors.New("invalid token")
	ErrExpiredToken = errors.New("expired token")
	ErrNoSecret     = errors.New("no signing secret")
)

// Claims are the token's claims: Kore tokens carry the app id as "appId".
type Claims struct {
	AppID string `json:"appId,omitempty"`
	jwt.RegisteredClaims
}

// TokenFromHeaders extracts the token from the "auth" header, or from
// "Authorization: Bearer" for clients that only know that one. A "Bearer "
// prefix on "auth" is tolerated.
func TokenFromHeaders(auth, authorization string) (string, error) {
	tok := strings.TrimSpace(auth)
	if tok == "" {
		tok = strings.TrimSpace(authorization)
		if tok == "" {
			return "", ErrMissingToken
		}
	}
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	if tok == "" || strings.EqualFold(tok, "bearer") {
		return "", ErrMissingToken
	}
	if len(tok) > maxTokenBytes {
		return "", fmt.Errorf("%w: %d bytes", ErrInvalidToken, len(tok))
	}
	return tok, nil
}

// Verifier checks tokens against one secret.
type Verifier struct {
	secret []byte
	now    func() time.Time
}

// NewVerifier returns a Verifier for secret.
func NewVerifier(secret []byte) (*Verifier, error) {
	if len(secret) == 0 {
		return nil, ErrNoSecret
	}
	return &Verifier{secret: secret, now: time.Now}, nil
}

// Verify parses and checks tok: HS256 only (an "alg: none" or RSA token is
// refused before its signature is looked at), a valid signature and an
// expiry in the future. A token without "exp" is refused: a leaked
// never-expiring token would be a permanent key to the dialer.
func (v *Verifier) Verify(tok string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return v.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(v.now),
	)
	switch {
	case err == nil:
		return &c, nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: %v", ErrExpiredToken, err)
	default:
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
}

// Mint returns an HS256 token for appID valid for ttl.
func Mint(secret []byte, appID string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", ErrNoSecret
	}
	if ttl <= 0 {
		return "", fmt.Errorf("ttl %s: must be positive", ttl)
	}
	c := Claims{AppID: appID, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		Subject:   appID,
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}
