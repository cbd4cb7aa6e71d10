//go:build e2e

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestE2EValidateAuthorFolder: a lab written in a folder of its own (labs/<id> and
// manifests/<id>, no platform objects) validates on a fresh cluster with --dir,
// the way its author runs it; its lab and step setup put broken state in that
// its second step's Run buttons fix.
func TestE2EValidateAuthorFolder(t *testing.T) {
	dir := writeAuthorLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"validate", "--dir", dir, "--parallel", "1"}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "PASS hello-cm") {
		t.Fatalf("validate --dir = %d\nstdout:\n%s\nstderr (tail):\n%s", code, stdout.String(), tail(stderr.String(), 2000))
	}
	t.Logf("validate --dir of an author's folder:\n%s", stdout.String())
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
