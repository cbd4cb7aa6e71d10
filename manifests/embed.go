// Package manifests embeds the repository's manifests/ folder: the files labs
// copy into the learner's workstation and the platform's own objects.
package manifests

import (
	"embed"
	"io/fs"
)

// The pattern is "*" rather than "*/*.yaml": labs also list scripts and text
// files, and "*" still matches (this file) while the folders are empty. Files
// whose names start with "." or "_" inside folders are left out, as always.
//
//go:embed *
var files embed.FS

// FS returns the manifests folder; lab files are at "<lab-id>/<file>".
func FS() fs.FS { return files }
