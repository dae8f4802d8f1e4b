package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/amd-engine/amd/gateway/auth"
)

func init() {
	register("token", "print a JWT the dialout gateway (amdgw) accepts", runToken)
}

// runToken mints an HS256 token with the gateway's claims: the dev
// counterpart of the token a Kore.ai app would mint with its client secret.
func runToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("amdctl token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", os.Getenv("AMD_JWT_SECRET"), "HS256 secret, the gateway's --jwt-secret (default $AMD_JWT_SECRET)")
	ttl := fs.Duration("ttl", time.Hour, "validity")
	appID := fs.String("app-id", "amdctl", "appId claim")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "amdctl token: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *secret == "" {
		fmt.Fprintln(stderr, "amdctl token: --secret (or AMD_JWT_SECRET) is required")
		return 2
	}
	tok, err := auth.Mint([]byte(*secret), *appID, *ttl, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "amdctl token: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
