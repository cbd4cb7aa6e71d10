package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// An asset is one file as served: its bytes, the same gzipped (nil when that
// does not save much), its content type and its version (a hash of its bytes).
type asset struct {
	body, gz       []byte
	ctype, version string
}

// assets reads, hashes and compresses the embedded files once; they never
// change while the binary runs.
var assets = sync.OnceValue(func() map[string]*asset {
	all := map[string]*asset{}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, ctype: mime.TypeByExtension(path.Ext(name)), version: hex.EncodeToString(sum[:6])}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		if gz.Len() < len(body)*9/10 {
			a.gz = gz.Bytes()
		}
		all[name] = a
		return nil
	})
	if err != nil {
		panic("static: reading the embedded files: " + err.Error()) // cannot happen with embed.FS
	}
	return all
})

// URL is the path of file name under /static/, with its version: browsers
// keep it for a year, and a new binary with a changed file gives a new URL.
func URL(name string) string {
	if a, ok := assets()[name]; ok {
		return "/static/" + name + "?v=" + a.version
	}
	return "/static/" + name
}

// Handler serves the files (mount it with http.StripPrefix("/static/", ...)).
// A request with the file's current version (as URL makes it) may be cached
// for a year, immutable; any other must revalidate (ETag). Text files go
// gzipped to browsers that accept it.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets()[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		if r.URL.Query().Get("v") == a.version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		body, etag := a.body, a.version
		if a.gz != nil {
			h.Add("Vary", "Accept-Encoding")
			if acceptsGzip(r.Header.Get("Accept-Encoding")) {
				h.Set("Content-Encoding", "gzip")
				body, etag = a.gz, a.version+"-gzip"
			}
		}
		h.Set("ETag", `"`+etag+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
