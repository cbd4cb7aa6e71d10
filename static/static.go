// Package static holds the browser side of kindlab, embedded in the binary:
// app.css, app.js (terminal client, Run and Copy buttons, live checks and
// progress), dashboard.js (the instructor's live dashboard) and the vendored
// xterm.js bundle built from js-src/ (see js-src/build.sh; the bundle is
// committed so that building needs no Node).
package static

import (
	"embed"
	"io/fs"
)

//go:embed app.css app.js dashboard.js favicon.svg vendor/xterm.bundle.js vendor/xterm.css
var files embed.FS

// FS returns the static files, to be served under /static/ (e.g.
// http.StripPrefix("/static/", http.FileServerFS(static.FS()))).
func FS() fs.FS { return files }
