package labs

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder decodes yaml.v3 nodes into structs key by key, so that every unknown
// key, repeated key and wrongly typed value becomes a Problem with its line.
type decoder struct {
	file   string
	offset int // added to node lines (front matter starts on line 2)
	probs  []Problem
}

func (d *decoder) errorf(line int, format string, args ...any) {
	if line > 0 {
		line += d.offset
	}
	d.probs = append(d.probs, Problem{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// sorted returns the problems ordered by line.
func (d *decoder) sorted() []Problem {
	slices.SortStableFunc(d.probs, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return d.probs
}

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse parses src as one YAML document and returns its root content node, or
// nil when src is empty or broken (the problem is recorded).
func (d *decoder) parse(src []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		d.yamlError(src, err)
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		d.errorf(next.Line, "more than one YAML document; remove the extra ---")
	} else if !errors.Is(err, io.EOF) {
		d.yamlError(src, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// yamlError records a syntax error. yaml.v3 reports the line where the
// enclosing block starts, not where the error is, so the line is found again:
// it is the one after the longest prefix of src that still parses.
func (d *decoder) yamlError(src []byte, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlErrLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	if len(lines) <= maxReparseLines {
		for k := len(lines) - 1; k >= 0; k-- {
			if parses(bytes.Join(lines[:k], nil)) {
				line = k + 1
				break
			}
		}
	}
	d.errorf(line, "invalid YAML: %s", msg)
}

// maxReparseLines bounds the quadratic search for a syntax error's line.
const maxReparseLines = 500

func parses(src []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// mapping decodes the mapping n into the struct that out points to. Keys for
// which skip returns true are left alone; other keys without a field are
// reported as unknown in where. It returns the value node of every key it
// decoded, or nil when n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, out any, where string, skip func(string) bool) map[string]*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		if n != nil {
			d.errorf(n.Line, "%sexpected a mapping of keys, found %s", prefix(where), describe(n))
		}
		return nil
	}
	rv := reflect.ValueOf(out).Elem()
	byName := structFields(rv.Type())
	seen := map[string]*yaml.Node{}
	keyLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || v == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, "%skeys must be plain words, found %s", prefix(where), describe(k))
			continue
		}
		if skip != nil && skip(k.Value) {
			continue
		}
		if first, dup := keyLine[k.Value]; dup {
			d.errorf(k.Line, "%skey %q repeated (first at line %d)", prefix(where), k.Value, first+d.offset)
			continue
		}
		keyLine[k.Value] = k.Line
		idx, ok := byName[k.Value]
		if !ok {
			d.errorf(k.Line, "%sunknown key %q%s", prefix(where), k.Value, suggest(k.Value, keys(byName)))
			continue
		}
		seen[k.Value] = v
		d.value(v, rv.Field(idx), where, k.Value)
	}
	if f := rv.FieldByName("Line"); f.IsValid() && f.Kind() == reflect.Int && f.CanSet() {
		f.SetInt(int64(n.Line + d.offset))
	}
	return seen
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// value decodes v into the field f named key.
func (d *decoder) value(v *yaml.Node, f reflect.Value, where, key string) {
	if isNull(v) {
		return
	}
	t := f.Type()
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		// Decoded below, keeping the type's own message.
	case t.Kind() == reflect.Struct:
		d.mapping(v, f.Addr().Interface(), prefix(where)+key, nil)
		return
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if v.Kind != yaml.SequenceNode {
			d.errorf(v.Line, "%s%s: expected a list, found %s", prefix(where), key, describe(v))
			return
		}
		s := reflect.MakeSlice(t, 0, len(v.Content))
		for _, item := range v.Content {
			e := reflect.New(t.Elem())
			d.mapping(item, e.Interface(), prefix(where)+key, nil)
			s = reflect.Append(s, e.Elem())
		}
		f.Set(s)
		return
	case t.Kind() == reflect.Slice && v.Kind == yaml.SequenceNode:
		s := reflect.MakeSlice(t, 0, len(v.Content))
		for i, item := range v.Content {
			e := reflect.New(t.Elem())
			d.value(resolve(item), e.Elem(), where, fmt.Sprintf("%s: item %d", key, i+1))
			s = reflect.Append(s, e.Elem())
		}
		f.Set(s)
		return
	}
	if err := v.Decode(f.Addr().Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			d.errorf(v.Line, "%s%s: expected %s, found %s", prefix(where), key, typeName(t), describe(v))
		} else {
			d.errorf(v.Line, "%s%s: %v", prefix(where), key, err)
		}
	}
}

// prefix returns "where: ", or "" at the top level of a file.
func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

// structFields maps yaml key names to field indexes.
func structFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Int:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list of strings"
	}
	return t.String()
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// suggest returns ` (did you mean "x"?)` for the closest known key, if close.
func suggest(key string, known []string) string {
	best, dist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < dist || (d == dist && k < best) {
			best, dist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
