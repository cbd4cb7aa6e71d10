package labs

import (
	"bytes"
	"path"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// frontMatter is the YAML between the --- lines of a step file (checks apart).
type frontMatter struct {
	Title    string   `yaml:"title"`
	Estimate Duration `yaml:"estimate"`
	Manual   bool     `yaml:"manual"`
	Solution []string `yaml:"solution"`
	Setup    []string `yaml:"setup"`
	Hints    []string `yaml:"hints"`
}

// ParseStep parses a step file. file is the path used in problems; the Step's
// File is its base name. Every problem found is returned; the Step holds what
// could be read even when there are problems.
func ParseStep(file string, src []byte) (Step, []Problem) {
	d := &decoder{file: file}
	step := Step{File: path.Base(file), ID: strings.TrimSuffix(path.Base(file), ".md")}
	fm, body, bodyLine, err := splitFrontMatter(src)
	if err != "" {
		d.errorf(1, "%s", err)
		step.Body, step.BodyLine = string(src), 1
		step.Runnable = d.blocks(step.Body, 1)
		return step, d.sorted()
	}
	step.Body, step.BodyLine = body, bodyLine
	step.Runnable = d.blocks(body, bodyLine)

	d.offset = 1 // the front matter starts after the first --- line
	root := d.parse(fm)
	if root == nil {
		if len(d.probs) == 0 {
			d.errorf(0, "front matter is empty; it needs a title, checks and a solution")
		}
		return step, d.sorted()
	}
	var m frontMatter
	seen := d.mapping(root, &m, "", func(k string) bool { return k == "checks" })
	if seen == nil {
		return step, d.sorted()
	}
	step.Title, step.Estimate, step.Manual = m.Title, m.Estimate, m.Manual
	step.Solution, step.Hints, step.Setup = m.Solution, m.Hints, m.Setup

	checksNode := mappingValue(root, "checks")
	step.Checks = d.checks(checksNode)
	checksLine := root.Line
	if k := mappingKey(root, "checks"); k != nil {
		checksLine = k.Line
		if countKeys(root, "checks") > 1 {
			d.errorf(checksLine, "checks is given twice; keep one list")
		}
	}

	if strings.TrimSpace(step.Title) == "" {
		d.errorf(root.Line, "missing title")
	}
	if sol := seen["solution"]; sol != nil && sol.Kind == yaml.SequenceNode {
		for i, item := range sol.Content {
			if item = resolve(item); item.Kind == yaml.ScalarNode && strings.TrimSpace(item.Value) == "" {
				d.errorf(item.Line, "solution: item %d is empty", i+1)
			}
		}
	}
	switch {
	case step.Manual && len(step.Checks) > 0:
		d.errorf(checksLine, "a manual step has no checks: set checks: [] or remove manual: true")
	case !step.Manual:
		if len(step.Checks) == 0 && !hasBrokenCheck(checksNode) {
			d.errorf(checksLine, "step has no checks; add one, or set manual: true with checks: [] for a step that only explains")
		}
		if len(step.Walk()) == 0 {
			d.errorf(root.Line, "step has no Run buttons and no solution; add a ```bash run block, or list the commands a learner types under solution")
		}
	}
	return step, d.sorted()
}

// hasBrokenCheck reports whether checks is a non-empty list (whose items had
// problems of their own), so "no checks" is not reported twice.
func hasBrokenCheck(checks *yaml.Node) bool {
	checks = resolve(checks)
	return checks != nil && checks.Kind == yaml.SequenceNode && len(checks.Content) > 0
}

// mappingValue returns the value of key in mapping m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if i := mappingIndex(m, key); i >= 0 {
		return resolve(resolve(m).Content[i+1])
	}
	return nil
}

// mappingKey returns the node of key in mapping m, or nil.
func mappingKey(m *yaml.Node, key string) *yaml.Node {
	if i := mappingIndex(m, key); i >= 0 {
		return resolve(resolve(m).Content[i])
	}
	return nil
}

// countKeys counts the occurrences of key in mapping m.
func countKeys(m *yaml.Node, key string) int {
	n := 0
	for m = resolve(m); m != nil && m.Kind == yaml.MappingNode; {
		i := mappingIndex(m, key)
		if i < 0 {
			break
		}
		n++
		m = &yaml.Node{Kind: yaml.MappingNode, Content: m.Content[i+2:]}
	}
	return n
}

func mappingIndex(m *yaml.Node, key string) int {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := resolve(m.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == key {
			return i
		}
	}
	return -1
}

// splitFrontMatter splits a step file into its front matter and body. bodyLine
// is the 1-based line where the body starts; problem is set when there is no
// front matter.
func splitFrontMatter(src []byte) (fm []byte, body string, bodyLine int, problem string) {
	src = bytes.TrimPrefix(src, []byte("\ufeff"))
	text := strings.ReplaceAll(string(src), "\r\n", "\n")
	first, rest, _ := strings.Cut(text, "\n")
	if strings.TrimRight(first, " \t") != "---" {
		return nil, "", 0, "a step file starts with front matter between --- lines (title, checks, solution)"
	}
	line := 2
	var b strings.Builder
	for rest != "" {
		l, r, _ := strings.Cut(rest, "\n")
		if strings.TrimRight(l, " \t") == "---" {
			return []byte(b.String()), r, line + 1, ""
		}
		b.WriteString(l)
		b.WriteByte('\n')
		rest = r
		line++
	}
	return nil, "", 0, "the front matter is never closed: end it with a --- line"
}

// blocks finds the runnable fenced blocks of a markdown body starting at line
// first of the file, reporting empty and unclosed ones.
func (d *decoder) blocks(body string, first int) []RunnableBlock {
	lines := strings.Split(body, "\n")
	var out []RunnableBlock
	for i := 0; i < len(lines); i++ {
		indent, fence, info, ok := openFence(lines[i])
		if !ok {
			continue
		}
		start := i
		var content []string
		closed := false
		for i++; i < len(lines); i++ {
			if isCloseFence(lines[i], fence) {
				closed = true
				break
			}
			content = append(content, trimIndent(lines[i], indent))
		}
		line := first + start
		if !closed {
			d.errorf(line, "code fence %s is never closed", fence)
		}
		words := strings.Fields(info)
		if len(words) < 2 || (words[1] != "run" && words[1] != "run-interrupt") {
			continue
		}
		if words[0] != "bash" {
			d.errorf(line, "runnable blocks are marked ```bash %s, not ```%s", words[1], info)
			continue
		}
		cmd := strings.Trim(strings.Join(content, "\n"), "\n")
		switch n := countCommands(cmd); {
		case n == 0:
			d.errorf(line, "runnable block is empty; put the command to run in it")
		case n > 1:
			d.errorf(line, "runnable block holds %d commands; put one command per block (continue long lines with a trailing \\)", n)
		}
		out = append(out, RunnableBlock{Command: cmd, Interrupt: words[1] == "run-interrupt", Line: line})
	}
	return out
}

// openFence recognises a CommonMark fence opening (``` or ~~~, 3 or more).
// Fences nested in list items are indented, so any indentation is accepted.
func openFence(l string) (indent int, fence, info string, ok bool) {
	t := strings.TrimLeft(l, " \t")
	indent = len(l) - len(t)
	if len(t) < 3 || (t[0] != '`' && t[0] != '~') {
		return 0, "", "", false
	}
	n := 0
	for n < len(t) && t[n] == t[0] {
		n++
	}
	if n < 3 {
		return 0, "", "", false
	}
	info = strings.TrimSpace(t[n:])
	if t[0] == '`' && strings.Contains(info, "`") {
		return 0, "", "", false
	}
	return indent, t[:n], info, true
}

func isCloseFence(l, fence string) bool {
	t := strings.TrimSpace(l)
	return len(t) >= len(fence) && strings.Trim(t, fence[:1]) == "" && t[0] == fence[0]
}

func trimIndent(l string, indent int) string {
	for i := 0; i < indent && l != "" && (l[0] == ' ' || l[0] == '\t'); i++ {
		l = l[1:]
	}
	return l
}

// countCommands counts the command lines of a runnable block: blank lines and
// comments do not count, and a line ending in \, |, && or || continues.
func countCommands(cmd string) int {
	n, cont := 0, false
	for l := range strings.SplitSeq(cmd, "\n") {
		t := strings.TrimSpace(l)
		if !cont && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if !cont {
			n++
		}
		cont = strings.HasSuffix(t, `\`) || strings.HasSuffix(t, "|") || strings.HasSuffix(t, "&&")
	}
	return n
}

// checks decodes the checks list of a step.
func (d *decoder) checks(n *yaml.Node) []Check {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, "checks: expected a list of checks, found %s", describe(n))
		return nil
	}
	var out []Check
	ids := map[string]int{}
	for _, item := range n.Content {
		item = resolve(item)
		c, ok := d.check(item)
		if !ok {
			continue
		}
		if c.ID != "" {
			if first, dup := ids[c.ID]; dup {
				d.errorf(item.Line, "check %s: id repeated (first at line %d)", c.ID, first)
				continue
			}
			ids[c.ID] = c.Line
		}
		out = append(out, c)
	}
	return out
}

// commonCheck holds the fields every check has.
type commonCheck struct {
	ID        string   `yaml:"id"`
	Kind      string   `yaml:"kind"`
	Namespace string   `yaml:"namespace"`
	Timeout   Duration `yaml:"timeout"`
}

// check decodes and validates one check; ok is false when it is unusable.
func (d *decoder) check(n *yaml.Node) (Check, bool) {
	var cc commonCheck
	common := structFields(reflect.TypeFor[commonCheck]())
	isCommon := func(k string) bool { _, ok := common[k]; return ok }
	where := "check"
	if id := mappingValue(n, "id"); id != nil && id.Kind == yaml.ScalarNode && id.Value != "" {
		where += " " + id.Value
	}
	seen := d.mapping(n, &cc, where, func(k string) bool { return !isCommon(k) })
	if seen == nil {
		return Check{}, false
	}
	c := Check{ID: cc.ID, Kind: Kind(cc.Kind), Namespace: cc.Namespace, Timeout: cc.Timeout, Line: n.Line + d.offset}
	if c.Timeout == 0 {
		c.Timeout = DefaultCheckTimeout
	}
	name := "check " + c.ID
	if c.ID == "" {
		name = "check"
		d.errorf(n.Line, "check: missing id")
	} else if !validID.MatchString(c.ID) {
		d.errorf(seen["id"].Line, "check %s: id must be lowercase letters, digits and dashes", c.ID)
	}
	if c.Namespace != "" && !validID.MatchString(c.Namespace) {
		d.errorf(seen["namespace"].Line, "%s: invalid namespace %q", name, c.Namespace)
	}
	switch c.Kind {
	case "history":
		d.errorf(seen["kind"].Line, "%s: history checks are gone; use kind: command, which judges the commands run since the step began (see labs/FORMAT.md)", name)
		return c, false
	case "":
		d.errorf(n.Line, "%s: missing kind; use one of %s", name, kindList())
		return c, false
	}
	spec := c.newSpec()
	if spec == nil {
		d.errorf(seen["kind"].Line, "%s: unknown kind %q; use one of %s", name, c.Kind, kindList())
		return c, false
	}
	fields := d.mapping(n, spec, name, isCommon)
	spec.validate(validator{d: d, name: name, kind: c.Kind, line: n.Line, fields: fields})
	return c, true
}

func kindList() string {
	var s []string
	for _, k := range Kinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}
