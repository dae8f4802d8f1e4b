package sip

import (
	"fmt"
	"strconv"
	"strings"

	ssip "github.com/emiago/sipgo/sip"
)

// resolveTarget turns a dial target into the Request-URI and the trunk
// whose credentials answer challenges. `sip:user@host[:port]` goes straight
// there; `tel:+E164` or bare digits go to the named (or first) trunk.
func resolveTarget(target, trunkName string, trunks []Trunk) (ssip.Uri, *Trunk, error) {
	trunk, terr := findTrunk(trunkName, trunks)
	t := strings.TrimSpace(target)
	lower := strings.ToLower(t)
	if strings.HasPrefix(lower, "sip:") {
		var u ssip.Uri
		if err := ssip.ParseUri(t, &u); err != nil || u.Host == "" || u.User == "" {
			return ssip.Uri{}, nil, fmt.Errorf("%w: %q: want sip:user@host[:port]", ErrBadTarget, target)
		}
		// A direct target uses the trunk's credentials only when one was named.
		if trunkName == "" {
			trunk = nil
		} else if terr != nil {
			return ssip.Uri{}, nil, terr
		}
		return u, trunk, nil
	}
	num := t
	if strings.HasPrefix(lower, "tel:") {
		num = t[4:]
		if i := strings.IndexByte(num, ';'); i >= 0 {
			num = num[:i] // tel: parameters (phone-context) are not dialled
		}
	}
	num = strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '.' || r == '(' || r == ')' {
			return -1 // visual separators allowed by RFC 3966
		}
		return r
	}, num)
	digits := strings.TrimPrefix(num, "+")
	if digits == "" || len(digits) > 20 {
		return ssip.Uri{}, nil, fmt.Errorf("%w: %q", ErrBadTarget, target)
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return ssip.Uri{}, nil, fmt.Errorf("%w: %q: want sip:user@host, tel:+E164 or digits", ErrBadTarget, target)
		}
	}
	if terr != nil {
		return ssip.Uri{}, nil, terr
	}
	u := ssip.Uri{Scheme: "sip", User: num, Host: trunk.Host, Port: trunk.Port}
	return u, trunk, nil
}

func findTrunk(name string, trunks []Trunk) (*Trunk, error) {
	if len(trunks) == 0 {
		return nil, fmt.Errorf("%w: no trunk configured", ErrUnknownTrunk)
	}
	if name == "" {
		return &trunks[0], nil
	}
	for i := range trunks {
		if trunks[i].Name == name {
			return &trunks[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownTrunk, name)
}

// uriString renders a Request-URI for logs without parameters.
func uriString(u ssip.Uri) string {
	s := "sip:" + u.User + "@" + u.Host
	if u.Port != 0 {
		s += ":" + strconv.Itoa(u.Port)
	}
	return s
}
