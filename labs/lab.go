package labs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// labFile is lab.yaml.
type labFile struct {
	ID        string   `yaml:"id"`
	Title     string   `yaml:"title"`
	Summary   string   `yaml:"summary"`
	Duration  Duration `yaml:"duration"`
	Images    []string `yaml:"images"`
	Files     []string `yaml:"files"`
	Namespace string   `yaml:"namespace"`
	Apps      []App    `yaml:"apps"`
	Setup     []string `yaml:"setup"`
	Steps     []string `yaml:"steps"`
}

// ParseLab reads the lab in folder dir of fsys: lab.yaml and every step it
// lists. It returns every problem found; the Lab holds what could be read. The
// files lab.yaml lists are checked by Lint, which also knows the manifests.
func ParseLab(fsys fs.FS, dir string) (*Lab, []Problem) {
	y, probs := parseLab(fsys, dir)
	if y == nil {
		return nil, probs
	}
	return y.lab, probs
}

// labYAML is a parsed lab.yaml with the lines of its entries.
type labYAML struct {
	lab       *Lab
	idLine    int
	fileLines []int // line of each Files entry
	setupLine int   // line of setup
	stepLines []int // line of each Steps entry
}

func parseLab(fsys fs.FS, dir string) (*labYAML, []Problem) {
	file := path.Join(dir, "lab.yaml")
	src, err := fs.ReadFile(fsys, file)
	if err != nil {
		msg := "cannot read lab.yaml: " + err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			msg = "missing: every folder of the catalog is a lab and needs a lab.yaml"
		}
		return nil, append([]Problem{{File: file, Msg: msg}}, parseAllSteps(fsys, dir)...)
	}
	y, probs := parseLabYAML(file, src)
	if y == nil {
		return nil, append(probs, parseAllSteps(fsys, dir)...)
	}
	lab := y.lab
	if lab.ID != "" && lab.ID != path.Base(dir) {
		probs = append(probs, Problem{file, y.idLine, fmt.Sprintf("id %q does not match the folder name %q", lab.ID, path.Base(dir))})
	}
	listed := map[string]bool{}
	for i, s := range lab.Steps {
		listed[s.File] = true
		src, err := fs.ReadFile(fsys, path.Join(dir, s.File))
		if err != nil {
			msg := "step file " + s.File + " does not exist"
			if !errors.Is(err, fs.ErrNotExist) {
				msg = "cannot read step file " + s.File + ": " + err.Error()
			}
			probs = append(probs, Problem{file, y.stepLines[i], msg})
			continue
		}
		step, p := ParseStep(path.Join(dir, s.File), src)
		probs = append(probs, p...)
		lab.Steps[i] = step
	}
	for _, n := range markdownFiles(fsys, dir) {
		if !listed[n] {
			probs = append(probs, Problem{File: path.Join(dir, n), Msg: "step file is not listed under steps in lab.yaml"})
		}
	}
	return y, probs
}

// markdownFiles lists the step files of a lab folder: *.md except README.md.
func markdownFiles(fsys fs.FS, dir string) []string {
	entries, _ := fs.ReadDir(fsys, dir)
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && strings.HasSuffix(n, ".md") && !strings.EqualFold(n, "README.md") {
			out = append(out, n)
		}
	}
	return out
}

// parseAllSteps lints every step file of a lab whose lab.yaml is unusable, so
// that their problems are reported in the same run.
func parseAllSteps(fsys fs.FS, dir string) []Problem {
	var probs []Problem
	for _, n := range markdownFiles(fsys, dir) {
		if src, err := fs.ReadFile(fsys, path.Join(dir, n)); err == nil {
			_, p := ParseStep(path.Join(dir, n), src)
			probs = append(probs, p...)
		}
	}
	return probs
}

// parseLabYAML parses lab.yaml; the Steps of the lab hold only File and ID.
func parseLabYAML(file string, src []byte) (*labYAML, []Problem) {
	d := &decoder{file: file}
	root := d.parse(src)
	if root == nil {
		if len(d.probs) == 0 {
			d.errorf(0, "lab.yaml is empty; it needs id, title and steps")
		}
		return nil, d.probs
	}
	var f labFile
	seen := d.mapping(root, &f, "", nil)
	if seen == nil {
		return nil, d.probs
	}
	line := func(key string) int {
		if n := seen[key]; n != nil {
			return n.Line
		}
		return root.Line
	}
	item := func(key string, i int) int {
		if n := seen[key]; n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
			return n.Content[i].Line
		}
		return line(key)
	}
	y := &labYAML{
		lab: &Lab{ID: f.ID, Title: f.Title, Summary: f.Summary, Duration: f.Duration,
			Images: f.Images, Files: f.Files, Namespace: f.Namespace, Apps: f.Apps, Setup: f.Setup},
		idLine: line("id"),
	}
	switch {
	case f.ID == "":
		d.errorf(root.Line, "missing id")
	case !validID.MatchString(f.ID):
		d.errorf(line("id"), "id %q must be lowercase letters, digits and dashes", f.ID)
	}
	if strings.TrimSpace(f.Title) == "" {
		d.errorf(root.Line, "missing title")
	}
	if y.lab.Namespace == "" {
		y.lab.Namespace = DefaultNamespace
	} else if !validID.MatchString(y.lab.Namespace) {
		d.errorf(line("namespace"), "invalid namespace %q", y.lab.Namespace)
	}
	for i, img := range f.Images {
		if strings.TrimSpace(img) == "" || strings.ContainsAny(img, " \t") {
			d.errorf(item("images", i), "images: invalid image %q", img)
		}
	}
	base := map[string]int{}
	for i, p := range f.Files {
		l := item("files", i)
		y.fileLines = append(y.fileLines, l)
		switch {
		case !fs.ValidPath(p) || p == ".":
			d.errorf(l, "files: %q must be a path relative to manifests/, like services-dns/homepage.yaml", p)
		case base[path.Base(p)] != 0:
			d.errorf(l, "files: %s and the file at line %d are both copied to ~/%s", p, base[path.Base(p)], path.Base(p))
		default:
			base[path.Base(p)] = l
		}
	}
	if len(f.Steps) == 0 {
		d.errorf(line("steps"), "no steps; list the step files in order under steps")
	}
	listed := map[string]bool{}
	for i, s := range f.Steps {
		l := item("steps", i)
		switch {
		case !strings.HasSuffix(s, ".md") || strings.Contains(s, "/") || !fs.ValidPath(s):
			d.errorf(l, "steps: %q must be a markdown file name in the lab's folder, like 01-deploy.md", s)
		case listed[s]:
			d.errorf(l, "steps: %s is listed twice", s)
		default:
			listed[s] = true
			y.lab.Steps = append(y.lab.Steps, Step{File: s, ID: strings.TrimSuffix(s, ".md")})
			y.stepLines = append(y.stepLines, l)
		}
	}
	y.setupLine = line("setup")
	for i, a := range f.Apps {
		l := item("apps", i)
		if !validID.MatchString(a.Service) {
			d.errorf(l, "apps: service %q must be the name of a Service (lowercase letters, digits and dashes)", a.Service)
		}
		if a.Port != "" && !validPort(a.Port) {
			d.errorf(l, "apps: port %q must be a number from 1 to 65535 or a port's name", a.Port)
		}
		for _, s := range a.Steps {
			if !listed[s] {
				d.errorf(l, "apps: step %q of %s is not listed under steps", s, a.Service)
			}
		}
	}
	return y, d.probs
}

// validPort reports whether p is a port number or an IANA-style port name.
func validPort(p string) bool {
	if n, err := strconv.Atoi(p); err == nil {
		return n >= 1 && n <= 65535
	}
	return len(p) <= 15 && validID.MatchString(p)
}
