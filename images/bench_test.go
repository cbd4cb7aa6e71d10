//go:build e2e

package images

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkBuildWarm reports a full `kindlab images build` when every image is
// current: the content tags are found and nothing is built (s/build).
func BenchmarkBuildWarm(b *testing.B) {
	wd, _ := os.Getwd()
	src, err := FindSource(wd)
	if err != nil {
		b.Fatal(err)
	}
	cache, _ := os.UserCacheDir()
	builder := &Builder{Src: src, Cache: filepath.Join(cache, "kindlab"), Out: io.Discard, Run: ExecRunner{}}
	for i := 0; i < b.N; i++ {
		if _, err := builder.Build(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/build")
}

// BenchmarkBuildAppCold reports a cold build of one lab app image (go build of a
// static binary plus a FROM scratch image), forced past its content tag.
func BenchmarkBuildAppCold(b *testing.B) {
	wd, _ := os.Getwd()
	src, err := FindSource(wd)
	if err != nil {
		b.Fatal(err)
	}
	builder := &Builder{Src: src, Cache: b.TempDir(), Out: io.Discard, Run: ExecRunner{}}
	p, err := builder.plan(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if err := p.buildApp(context.Background(), io.Discard, "numbers-api", p.appTags["numbers-api"]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/app-image")
}
