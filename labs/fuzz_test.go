package labs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// seeds adds every file under testdata matching pattern to the corpus.
func seeds(f *testing.F, pattern string) {
	f.Helper()
	for _, glob := range []string{"testdata/valid/catalog/*/" + pattern, "testdata/broken/*/*/" + pattern} {
		files, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// checkLines fails when a problem points outside src.
func checkLines(t *testing.T, src []byte, probs []Problem) {
	t.Helper()
	lines := bytes.Count(src, []byte("\n")) + 1
	for _, p := range probs {
		if p.Line < 0 || p.Line > lines+1 || p.Msg == "" {
			t.Errorf("problem %q outside a %d-line file", p, lines)
		}
	}
}

func FuzzParseStep(f *testing.F) {
	seeds(f, "*.md")
	f.Fuzz(func(t *testing.T, src []byte) {
		step, probs := ParseStep("lab/01-step.md", src)
		checkLines(t, src, probs)
		for _, b := range step.Runnable {
			if b.Line < 1 {
				t.Errorf("runnable block at line %d", b.Line)
			}
		}
	})
}

func FuzzParseLab(f *testing.F) {
	seeds(f, "lab.yaml")
	step, err := os.ReadFile("testdata/valid/catalog/services-dns/01-deploy.md")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{
			"demo/lab.yaml":     {Data: src},
			"demo/01-deploy.md": {Data: step},
		}
		_, probs := ParseLab(fsys, "demo")
		checkLines(t, append(src, step...), probs)
		Lint(fsys, fstest.MapFS{"services-dns/homepage.yaml": {}})
	})
}
