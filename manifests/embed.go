// Package manifests embeds the repository's manifests/ folder: the files labs
// copy into the learner's workstation and the platform's own objects.
package manifests

import (
	"embed"
	"io/fs"
	"strings"
)

// The pattern is "*" rather than "*/*.yaml": labs also list scripts and text
// files, and "*" still matches (this file) while the folders are empty. Files
// whose names start with "." or "_" inside folders are left out, as always.
//
//go:embed *
var files embed.FS

// FS returns the manifests folder; lab files are at "<lab-id>/<file>".
func FS() fs.FS { return files }

// WithPlatform returns an author's manifests folder (lab files at
// "<lab-id>/<file>") with kindlab's own platform objects under "platform/", so
// a folder holding only its labs' files serves and validates like the
// built-in catalog. The author's folder cannot replace the platform.
func WithPlatform(labFiles fs.FS) fs.FS { return withPlatform{labFiles} }

type withPlatform struct{ labFiles fs.FS }

func (w withPlatform) Open(name string) (fs.File, error) {
	if name == "platform" || strings.HasPrefix(name, "platform/") {
		return files.Open(name)
	}
	return w.labFiles.Open(name)
}
