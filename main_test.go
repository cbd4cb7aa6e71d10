package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpExitsZero: asking for help is not an error, for the CLI or any command.
func TestHelpExitsZero(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string // in stdout or stderr
	}{
		{args: []string{"help"}, wantOut: "usage:"},
		{args: []string{"--help"}, wantOut: "usage:"},
		{args: []string{"serve", "-h"}, wantOut: "-addr"},
		{args: []string{"validate", "--help"}, wantOut: "-parallel"},
		{args: []string{"lint", "-h"}},
		{args: []string{"doctor", "-h"}},
		{args: []string{"images", "build", "-h"}},
		{args: []string{"cluster", "create", "-h"}},
		{args: []string{}, wantCode: 2, wantOut: "usage:"},
		{args: []string{"frobnicate"}, wantCode: 2, wantOut: `unknown command "frobnicate"`},
		{args: []string{"serve", "--no-such-flag"}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) {
				t.Errorf("exit %d, output %q; want exit %d with %q", code, out, tt.wantCode, tt.wantOut)
			}
			if tt.wantCode == 0 && strings.Contains(out, "help requested") {
				t.Errorf("help printed an error: %q", out)
			}
		})
	}
}
