package webrtcleg

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test here starts pion goroutines (ICE agents, DTLS, the UDP mux)
// or track readers; none may outlive its test run.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
