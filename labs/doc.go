// Package labs reads kindlab labs: the Lab, Step and Check model, the parser of
// lab.yaml and step markdown (see FORMAT.md), the linter that reports every
// problem with file:line at once, and the built-in catalog embedded in the binary.
//
// A catalog is an fs.FS whose top-level folders are labs; manifests is an fs.FS
// rooted at the repository's manifests/ folder, where the files a lab lists live.
// Problems name files relative to the catalog root (e.g. "services-dns/lab.yaml").
package labs
