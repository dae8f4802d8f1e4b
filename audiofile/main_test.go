package audiofile

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: the
// package starts none, and the external tools the tests run are waited for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
