package static

import (
	"io/fs"
	"strings"
	"testing"
)

func TestFS(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		contains []string // strings the file must hold
	}{
		{name: "styles", file: "app.css", contains: []string{".lab-terminal", `[data-status="pass"]`}},
		{name: "client", file: "app.js", contains: []string{"kindlab.term.v1", "window.kindlab", "lastSeq", "EventSource"}},
		{name: "xterm bundle", file: "vendor/xterm.bundle.js", contains: []string{"window.KindlabXterm", "@license MIT"}},
		{name: "xterm styles", file: "vendor/xterm.css", contains: []string{".xterm"}},
		{name: "icon", file: "favicon.svg", contains: []string{"<svg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := fs.ReadFile(FS(), tt.file)
			if err != nil {
				t.Fatalf("ReadFile(%q): %v", tt.file, err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(string(b), s) {
					t.Errorf("%s does not contain %q", tt.file, s)
				}
			}
		})
	}
}

// TestBundleMinified keeps the committed bundle the minified build of
// js-src/build.sh (a readable bundle would be several times larger).
func TestBundleMinified(t *testing.T) {
	b, err := fs.ReadFile(FS(), "vendor/xterm.bundle.js")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines > 200 {
		t.Errorf("vendor/xterm.bundle.js has %d lines; want a minified bundle (run static/js-src/build.sh)", lines)
	}
}

func TestFSHoldsNoSources(t *testing.T) {
	err := fs.WalkDir(FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(path, "js-src") || strings.HasSuffix(path, ".go") {
			t.Errorf("embedded %s; only the served assets belong in FS", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
