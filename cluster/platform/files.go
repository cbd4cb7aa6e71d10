package platform

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/workstation"
)

// maxCatalogBytes keeps the catalog's ConfigMap well under the API server's
// 1 MiB limit; labs beyond it are copied with workstation.Conn.CopyFiles.
const maxCatalogBytes = 768 << 10

// LabFiles reads the files a lab copies into the workstation (lab.yaml's files,
// paths in manifests), by base name.
func LabFiles(manifests fs.FS, lab *labs.Lab) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, f := range lab.Files {
		data, err := fs.ReadFile(manifests, f)
		if err != nil {
			return nil, fmt.Errorf("lab %s: file %s: %w", lab.ID, f, err)
		}
		base := path.Base(f)
		if _, dup := files[base]; dup {
			return nil, fmt.Errorf("lab %s: two files named %s", lab.ID, base)
		}
		files[base] = data
	}
	return files, nil
}

// validKey is what a ConfigMap accepts as a key.
var validKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// CatalogFiles gathers the files of every lab for workstation.CatalogConfigMap,
// keyed by workstation.CatalogKey, in the catalog's order while they fit; a lab with a file name a
// ConfigMap cannot hold is left out (CopyFiles serves it).
func CatalogFiles(manifests fs.FS, all []*labs.Lab) (map[string][]byte, error) {
	out := map[string][]byte{}
	size := 0
	for _, lab := range all {
		files, err := LabFiles(manifests, lab)
		if err != nil {
			return nil, err
		}
		n, fits := 0, true
		for name, data := range files {
			n += len(name) + len(data)
			fits = fits && validKey.MatchString(name)
		}
		if !fits || size+n > maxCatalogBytes {
			continue
		}
		size += n
		for name, data := range files {
			out[workstation.CatalogKey(lab.ID, name)] = data
		}
	}
	return out, nil
}
