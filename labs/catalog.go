package labs

import (
	"embed"
	"io/fs"
)

//go:embed catalog
var builtin embed.FS

// Builtin returns the catalog embedded in the binary: labs/catalog, with one
// folder per lab at its root.
func Builtin() fs.FS {
	sub, err := fs.Sub(builtin, "catalog")
	if err != nil {
		panic(err) // "catalog" is a valid path; fs.Sub cannot fail
	}
	return sub
}
