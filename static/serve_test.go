package static

import (
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestURLNamesTheFilesVersion(t *testing.T) {
	app, bundle := URL("app.js"), URL("vendor/xterm.bundle.js")
	if !strings.HasPrefix(app, "/static/app.js?v=") || !strings.HasPrefix(bundle, "/static/vendor/xterm.bundle.js?v=") {
		t.Fatalf("URL = %q, %q; want the path with ?v=", app, bundle)
	}
	if app[strings.Index(app, "?"):] == bundle[strings.Index(bundle, "?"):] {
		t.Errorf("two different files have the same version: %q, %q", app, bundle)
	}
	if got := URL("nope.js"); got != "/static/nope.js" {
		t.Errorf("URL of a missing file = %q", got)
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(http.StripPrefix("/static/", Handler()))
	defer srv.Close()
	want, err := fs.ReadFile(FS(), "app.js")
	if err != nil {
		t.Fatal(err)
	}
	versioned := srv.URL + URL("app.js")
	tr := &http.Transport{DisableCompression: true} // to see the encoding as sent
	get := func(method, url string, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	body := func(resp *http.Response) string {
		r := resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		b, _ := io.ReadAll(r)
		return string(b)
	}

	tests := []struct {
		name, method, url  string
		header             []string
		status             int
		cache, encoding    string
		wantBody, notBytes bool
	}{
		{name: "current version", method: "GET", url: versioned, status: 200, cache: "public, max-age=31536000, immutable", wantBody: true},
		{name: "gzip when accepted", method: "GET", url: versioned, header: []string{"Accept-Encoding", "br, gzip"}, status: 200, cache: "public, max-age=31536000, immutable", encoding: "gzip", wantBody: true},
		{name: "not when refused", method: "GET", url: versioned, header: []string{"Accept-Encoding", "gzip;q=0"}, status: 200, cache: "public, max-age=31536000, immutable", wantBody: true},
		{name: "no version: revalidate", method: "GET", url: srv.URL + "/static/app.js", status: 200, cache: "no-cache", wantBody: true},
		{name: "an old page's version: the current file, revalidated", method: "GET", url: srv.URL + "/static/app.js?v=000000000000", status: 200, cache: "no-cache", wantBody: true},
		{name: "missing", method: "GET", url: srv.URL + "/static/nope.js", status: 404},
		{name: "directory", method: "GET", url: srv.URL + "/static/vendor/", status: 404},
		{name: "POST", method: "POST", url: versioned, status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(tt.method, tt.url, tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q; want %q", got, tt.cache)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tt.encoding {
				t.Errorf("Content-Encoding %q; want %q", got, tt.encoding)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
				t.Errorf("Content-Type %q", ct)
			}
			if got := body(resp); got != string(want) {
				t.Errorf("body is not app.js (%d bytes, want %d)", len(got), len(want))
			}
		})
	}

	t.Run("revalidation", func(t *testing.T) {
		for _, enc := range []string{"", "gzip"} {
			first := get("GET", versioned, "Accept-Encoding", enc)
			etag := first.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			if again := get("GET", versioned, "Accept-Encoding", enc, "If-None-Match", etag); again.StatusCode != http.StatusNotModified {
				t.Errorf("%q: If-None-Match %s: status %d; want 304", enc, etag, again.StatusCode)
			}
		}
		plain, gz := get("GET", versioned).Header.Get("ETag"), get("GET", versioned, "Accept-Encoding", "gzip").Header.Get("ETag")
		if plain == gz {
			t.Errorf("the gzipped and plain bodies share the ETag %s", plain)
		}
	})

	t.Run("the bundle is sent compressed", func(t *testing.T) {
		raw, _ := fs.ReadFile(FS(), "vendor/xterm.bundle.js")
		resp := get("GET", srv.URL+URL("vendor/xterm.bundle.js"), "Accept-Encoding", "gzip")
		n, _ := io.Copy(io.Discard, resp.Body)
		if resp.Header.Get("Content-Encoding") != "gzip" || n >= int64(len(raw))/2 {
			t.Errorf("xterm bundle: %d bytes sent (%q) for %d; want gzip under half", n, resp.Header.Get("Content-Encoding"), len(raw))
		}
		t.Logf("xterm bundle: %d bytes, %d gzipped", len(raw), n)
	})
}
