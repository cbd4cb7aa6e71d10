package platform

import (
	"bytes"
	"maps"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kindlab/kindlab/labs"
)

func TestCatalogFiles(t *testing.T) {
	manifests := fstest.MapFS{
		"a/web.yaml":   {Data: []byte("web")},
		"a/api.yaml":   {Data: []byte("api")},
		"b/web.yaml":   {Data: []byte("other web")},
		"c/bad name":   {Data: []byte("x")},
		"d/large.yaml": {Data: bytes.Repeat([]byte("x"), maxCatalogBytes)},
	}
	all := []*labs.Lab{
		{ID: "a", Files: []string{"a/web.yaml", "a/api.yaml"}},
		{ID: "b", Files: []string{"b/web.yaml"}},
		{ID: "c", Files: []string{"c/bad name"}},   // no ConfigMap key: CopyFiles serves it
		{ID: "d", Files: []string{"d/large.yaml"}}, // beyond the ConfigMap's budget
		{ID: "e"}, // no files
	}
	got, err := CatalogFiles(manifests, all)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"a_web.yaml": []byte("web"), "a_api.yaml": []byte("api"), "b_web.yaml": []byte("other web")}
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("CatalogFiles = %q; want %q", got, want)
	}
	all = append(all, &labs.Lab{ID: "f", Files: []string{"f/missing.yaml"}})
	if _, err := CatalogFiles(manifests, all); err == nil || !strings.Contains(err.Error(), "f/missing.yaml") {
		t.Errorf("CatalogFiles with a missing file = %v; want an error naming it", err)
	}
}
