package cmdline

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Pattern is a model command of a lab, such as "kubectl get endpoints homepage":
// one simple command that a learner's call matches when it does the same thing.
// Its words may hold shell globs (*, ?, [...]), matched against the learner's
// word as a whole ("curl *:30080").
//
// A kubectl pattern matches a call with the same verb, the same resources in
// any accepted spelling (ep, endpoints/homepage, po, deploy/x), every flag of
// the pattern with the same value (in any order and spelling; label selectors
// as sets), the same namespace, and, after `--`, a matching command. A pattern
// for any other program matches a call of that program holding every word of
// the pattern, in any order. Extra words and flags of the learner's are fine.
type Pattern struct {
	text string
	cmd  command
}

// Compile reads a model command.
func Compile(s string) (Pattern, error) {
	calls, err := Parse(s, Unknown, nil)
	if err != nil {
		return Pattern{}, err
	}
	if len(calls) != 1 {
		return Pattern{}, fmt.Errorf("%q: a model command is one simple command, without ;, && or |", s)
	}
	for _, w := range calls[0].Words {
		if w.Dynamic {
			return Pattern{}, fmt.Errorf("%q: a model command has no $ expansions; use a glob such as * instead of %s", s, w.Text)
		}
	}
	return Pattern{text: s, cmd: normalize(calls[0].Words)}, nil
}

// String returns the model command as written.
func (p Pattern) String() string { return p.text }

// Match reports whether c does what p asks. A pattern without a namespace is
// in ns; a kubectl call without one is in kubectlNS, its context's namespace.
func (p Pattern) Match(c Call, ns, kubectlNS string) bool {
	if len(c.Words) == 0 {
		return false
	}
	return p.cmd.match(normalize(c.Words), ns, kubectlNS)
}

// command is a call in a form where equivalent spellings are equal.
type command struct {
	prog  string
	args  []Word              // kubectl: the verb, then resources as type or type/name
	flags map[string][]string // kubectl only; by long name, "" for a flag without value
	sub   *command            // after `--`
}

func normalize(ws []Word) command {
	c := command{prog: program(ws[0].Text)}
	rest := ws[1:]
	if c.prog != "kubectl" {
		c.args = rest
		return c
	}
	c.flags = map[string][]string{}
	var pos []Word
	for i := 0; i < len(rest); i++ {
		w := rest[i]
		switch {
		case w.Text == "--" && !w.Dynamic:
			if i+1 < len(rest) {
				sub := normalize(rest[i+1:])
				c.sub = &sub
			}
			i = len(rest)
		case strings.HasPrefix(w.Text, "--") && !w.Dynamic:
			name, value, hasValue := strings.Cut(w.Text[2:], "=")
			if !hasValue && valued[name] && i+1 < len(rest) {
				i++
				value = rest[i].Text
			}
			c.flags[name] = append(c.flags[name], value)
		case strings.HasPrefix(w.Text, "-") && len(w.Text) > 1 && !w.Dynamic:
			i += c.shortFlags(w.Text[1:], rest[i+1:])
		default:
			pos = append(pos, w)
		}
	}
	c.args = kubectlArgs(pos)
	return c
}

// shortFlags reads a cluster of short flags ("it", "owide", "n") and returns
// how many of next it took as a value.
func (c *command) shortFlags(cluster string, next []Word) int {
	for j := 0; j < len(cluster); j++ {
		name, ok := shortNames[cluster[j]]
		if !ok {
			name = string(cluster[j])
		}
		if !valued[name] {
			c.flags[name] = append(c.flags[name], "")
			continue
		}
		value := strings.TrimPrefix(cluster[j+1:], "=")
		if value == "" && len(next) > 0 {
			c.flags[name] = append(c.flags[name], next[0].Text)
			return 1
		}
		c.flags[name] = append(c.flags[name], value)
		return 0
	}
	return 0
}

// program is the name a call runs, with kubectl's usual alias.
func program(s string) string {
	s = path.Base(s)
	if s == "k" {
		return "kubectl"
	}
	return s
}

var shortNames = map[byte]string{
	'n': "namespace", 'l': "selector", 'o': "output", 'f': "filename", 'c': "container",
	'i': "stdin", 't': "tty", 'A': "all-namespaces", 'w': "watch", 'L': "label-columns", 'k': "kustomize",
}

// valued are the kubectl flags that take a value, which may be the next word.
var valued = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`namespace selector output filename container context cluster user
		kubeconfig field-selector image port type replicas template target-port name timeout sort-by
		from-literal env label-columns tail since protocol address kustomize server as overrides
		grace-period cascade pod-running-timeout limits requests restart`) {
		valued[f] = true
	}
}

// twoWordVerbs are kubectl verbs whose first argument is part of the verb.
var twoWordVerbs = map[string]bool{"rollout": true, "set": true, "config": true, "create": true, "top": true, "auth": true}

// targetVerbs take one object (type/name, or a pod's name) and then other words.
var targetVerbs = map[string]bool{"logs": true, "exec": true, "port-forward": true, "attach": true}

// kubectlArgs puts kubectl's positional words in one form: the verb, then
// resources as "type" or "type/name" with type in its plural long form.
func kubectlArgs(pos []Word) []Word {
	if len(pos) == 0 {
		return nil
	}
	verb := pos[0]
	pos = pos[1:]
	if twoWordVerbs[verb.Text] && len(pos) > 0 {
		verb.Text += " " + pos[0].Text
		pos = pos[1:]
	}
	out := []Word{verb}
	switch {
	case targetVerbs[verb.Text]:
		if len(pos) > 0 {
			t := pos[0]
			if typ, name, ok := strings.Cut(t.Text, "/"); ok && !t.Dynamic {
				t.Text = resource(typ) + "/" + name
			} else if !t.Dynamic {
				t.Text = "pods/" + t.Text
			}
			out = append(out, t)
			out = append(out, pos[1:]...)
		}
	case len(pos) > 0 && !pos[0].Dynamic && !strings.Contains(pos[0].Text, "/"):
		types := strings.Split(pos[0].Text, ",")
		for i := range types {
			types[i] = resource(types[i])
		}
		if len(pos) == 1 {
			for _, t := range types {
				out = append(out, Word{Text: t})
			}
			break
		}
		for _, n := range pos[1:] {
			for _, t := range types {
				out = append(out, Word{Text: t + "/" + n.Text, Dynamic: n.Dynamic})
			}
		}
	default:
		for _, w := range pos {
			if typ, name, ok := strings.Cut(w.Text, "/"); ok && !w.Dynamic {
				w.Text = resource(typ) + "/" + name
			}
			out = append(out, w)
		}
	}
	return out
}

// resource returns the plural long name of a kubectl resource type.
func resource(s string) string {
	s = strings.ToLower(s)
	if r, ok := resourceNames[s]; ok {
		return r
	}
	if g, _, ok := strings.Cut(s, "."); ok { // deployments.apps
		if r, ok := resourceNames[g]; ok {
			return r
		}
	}
	return s
}

var resourceNames = map[string]string{}

func init() {
	for _, names := range [][]string{
		{"pods", "po", "pod"}, {"services", "svc", "service"}, {"endpoints", "ep", "endpoint"},
		{"endpointslices", "endpointslice"}, {"deployments", "deploy", "deployment"},
		{"replicasets", "rs", "replicaset"}, {"namespaces", "ns", "namespace"}, {"nodes", "no", "node"},
		{"configmaps", "cm", "configmap"}, {"secrets", "secret"}, {"networkpolicies", "netpol", "networkpolicy"},
		{"ingresses", "ing", "ingress"}, {"daemonsets", "ds", "daemonset"}, {"statefulsets", "sts", "statefulset"},
		{"jobs", "job"}, {"events", "ev", "event"}, {"serviceaccounts", "sa", "serviceaccount"},
	} {
		for _, n := range names {
			resourceNames[n] = names[0]
		}
	}
}

func (m command) match(c command, ns, kubectlNS string) bool {
	if m.prog != c.prog {
		return false
	}
	if m.prog != "kubectl" {
		return containsAll(c.args, m.args, wordMatch)
	}
	if len(m.args) > 0 && (len(c.args) == 0 || !wordMatch(m.args[0], c.args[0])) {
		return false // another verb
	}
	if len(m.args) > 1 && !containsAll(c.args[1:], m.args[1:], argMatch) {
		return false
	}
	if !sameNamespace(m.flags, c.flags, ns, kubectlNS) {
		return false
	}
	for name, values := range m.flags {
		if name == "namespace" {
			continue
		}
		for _, v := range values {
			if !slices.ContainsFunc(c.flags[name], func(got string) bool { return flagMatch(name, v, got) }) {
				return false
			}
		}
	}
	if m.sub != nil {
		return c.sub != nil && m.sub.match(*c.sub, ns, kubectlNS)
	}
	return true
}

func sameNamespace(model, got map[string][]string, ns, kubectlNS string) bool {
	want := ns
	if v := model["namespace"]; len(v) > 0 {
		want = v[len(v)-1]
	}
	if _, all := got["all-namespaces"]; all {
		return true
	}
	have := kubectlNS
	if v := got["namespace"]; len(v) > 0 {
		have = v[len(v)-1]
	}
	return have == want
}

// containsAll reports whether every word of want matches a different word of have.
func containsAll(have, want []Word, match func(model, got Word) bool) bool {
	used := make([]bool, len(have))
	for _, w := range want {
		found := false
		for i, h := range have {
			if !used[i] && match(w, h) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// argMatch compares kubectl resources: a model "pods" matches any "pods/x",
// and a model "deployments/x" also the name of one of its pods.
func argMatch(model, got Word) bool {
	if wordMatch(model, got) {
		return true
	}
	if got.Dynamic {
		return false
	}
	if !strings.Contains(model.Text, "/") {
		typ, _, ok := strings.Cut(got.Text, "/")
		return ok && glob(model.Text, typ)
	}
	typ, name, _ := strings.Cut(model.Text, "/")
	gotType, gotName, _ := strings.Cut(got.Text, "/")
	return typ == "deployments" && gotType == "pods" && glob(name+"-*-*", gotName)
}

// wordMatch compares one word; a learner's word with an expansion in it
// could be anything, so it matches.
func wordMatch(model, got Word) bool { return got.Dynamic || glob(model.Text, got.Text) }

func flagMatch(name, model, got string) bool {
	if name == "selector" {
		return sameSet(model, got)
	}
	return glob(model, got)
}

// sameSet compares comma-separated lists (label selectors) in any order.
func sameSet(a, b string) bool {
	x, y := strings.Split(a, ","), strings.Split(b, ",")
	for i := range x {
		x[i] = strings.ReplaceAll(x[i], " ", "")
	}
	for i := range y {
		y[i] = strings.ReplaceAll(y[i], " ", "")
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// glob matches s as a whole against a shell glob; * also matches /.
func glob(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?[") {
		return pattern == s
	}
	re, err := globRegexp(pattern)
	return err == nil && re.MatchString(s)
}

func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(pattern[i:], ']')
			if j < 0 {
				return nil, errors.New("unterminated [")
			}
			b.WriteString(pattern[i : i+j+1])
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
