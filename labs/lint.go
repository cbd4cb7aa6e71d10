package labs

import (
	"cmp"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Problem is one lint finding. Line is 0 when it concerns the whole file.
type Problem struct {
	File string // relative to the catalog root, e.g. "services-dns/lab.yaml"
	Line int
	Msg  string
}

// String returns "file:line: msg" ("file: msg" when Line is 0).
func (p Problem) String() string {
	if p.Line <= 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// Lint reads every lab of the catalog fsys (one folder per lab) and returns
// all problems, sorted by file and line. manifests is the root of the files
// labs list in lab.yaml.
func Lint(fsys, manifests fs.FS) []Problem {
	_, probs := load(fsys, manifests)
	return probs
}

// load parses and lints every lab of fsys.
func load(fsys, manifests fs.FS) ([]*Lab, []Problem) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, []Problem{{File: ".", Msg: "cannot read the catalog: " + err.Error()}}
	}
	var labs []*Lab
	var probs []Problem
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		y, p := parseLab(fsys, e.Name())
		probs = append(probs, p...)
		if y == nil {
			continue
		}
		for i, f := range y.lab.Files {
			if !fs.ValidPath(f) {
				continue // reported by parseLab
			}
			if st, err := fs.Stat(manifests, f); err != nil {
				probs = append(probs, Problem{path.Join(e.Name(), "lab.yaml"), y.fileLines[i], fmt.Sprintf("files: %s does not exist under manifests/", f)})
			} else if st.IsDir() {
				probs = append(probs, Problem{path.Join(e.Name(), "lab.yaml"), y.fileLines[i], fmt.Sprintf("files: %s is a folder; list files", f)})
			}
		}
		lintSetup := func(file string, line int, paths []string) {
			for _, f := range paths {
				if st, err := fs.Stat(manifests, f); !fs.ValidPath(f) || err != nil || st.IsDir() {
					probs = append(probs, Problem{path.Join(e.Name(), file), line, fmt.Sprintf("setup: %s is not a file under manifests/", f)})
				}
			}
		}
		lintSetup("lab.yaml", y.setupLine, y.lab.Setup)
		for _, s := range y.lab.Steps {
			lintSetup(s.File, 1, s.Setup)
		}
		labs = append(labs, y.lab)
	}
	slices.SortStableFunc(probs, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	slices.SortFunc(labs, func(a, b *Lab) int { return cmp.Compare(a.ID, b.ID) })
	return labs, probs
}

// LintError is returned by LoadCatalog when the catalog has problems.
type LintError struct {
	Problems []Problem
}

func (e *LintError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lab catalog has %d problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	return b.String()
}

// Catalog is a loaded, lint-clean set of labs.
type Catalog struct {
	Labs []*Lab // ordered by ID
}

// Lab returns the lab with the given id.
func (c *Catalog) Lab(id string) (*Lab, bool) {
	i, ok := slices.BinarySearchFunc(c.Labs, id, func(l *Lab, id string) int { return cmp.Compare(l.ID, id) })
	if !ok {
		return nil, false
	}
	return c.Labs[i], true
}

// LoadCatalog loads every lab of fsys. It fails with a *LintError holding all
// problems when Lint finds any.
func LoadCatalog(fsys, manifests fs.FS) (*Catalog, error) {
	labs, probs := load(fsys, manifests)
	if len(probs) > 0 {
		return nil, &LintError{Problems: probs}
	}
	return &Catalog{Labs: labs}, nil
}
