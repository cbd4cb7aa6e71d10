package labs

import (
	"errors"
	"testing"

	"github.com/kindlab/kindlab/manifests"
)

// TestBuiltinCatalog lints the labs embedded in the binary. It fails, listing
// every problem, until labs/catalog holds lint-clean labs.
func TestBuiltinCatalog(t *testing.T) {
	cat, err := LoadCatalog(Builtin(), manifests.FS())
	var le *LintError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			t.Errorf("labs/catalog/%s", p)
		}
		t.FailNow()
	}
	if err != nil {
		t.Fatalf("LoadCatalog: %v", err)
	}
	if len(cat.Labs) == 0 {
		t.Fatal("labs/catalog holds no labs")
	}
}
