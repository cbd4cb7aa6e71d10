package labs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kindlab/kindlab/labs/cmdline"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/jsonpath"
)

var validID = regexp.MustCompile(`^[a-z0-9-]+$`)

// validator checks the kind-specific fields of one decoded check.
type validator struct {
	d      *decoder
	name   string // "check <id>"
	kind   Kind
	line   int // line of the check (without offset)
	fields map[string]*yaml.Node
}

// at returns the line of key's value, or of the check when key is absent.
func (v validator) at(key string) int {
	if n := v.fields[key]; n != nil {
		return n.Line
	}
	return v.line
}

func (v validator) errorf(key, format string, args ...any) {
	v.d.errorf(v.at(key), v.name+": "+format, args...)
}

func (v validator) selector(key, s string) {
	if _, err := labels.Parse(s); err != nil {
		v.errorf(key, "invalid %s %q: %v", key, s, err)
	}
}

func (v validator) target(key, s string) {
	if _, err := ParseTarget(s); err != nil {
		v.errorf(key, "%v", err)
	}
}

func (v validator) regexp(key, s string) {
	if _, err := regexp.Compile(s); err != nil {
		v.errorf(key, "invalid regexp in %s: %v", key, err)
	}
}

func (v validator) count(key string, n *int) {
	if n != nil && *n < 0 {
		v.errorf(key, "%s must not be negative", key)
	}
}

// required says a missing key is an error for the check's kind; it reports
// whether value is there.
func (v validator) required(key, value string) bool {
	if strings.TrimSpace(value) == "" {
		v.errorf(key, "missing %s (required for kind %s)", key, v.kind)
		return false
	}
	return true
}

func (r *ResourceCheck) validate(v validator) {
	if v.required("apiVersion", r.APIVersion) {
		if _, err := schema.ParseGroupVersion(r.APIVersion); err != nil {
			v.errorf("apiVersion", "invalid apiVersion %q: use v1, apps/v1 and the like", r.APIVersion)
		}
	}
	v.required("resource", r.Resource)
	v.required("name", r.Name)
	if r.Resource != "" && r.Resource != strings.ToLower(r.Resource) {
		v.errorf("resource", "resource is the lowercase plural (e.g. services), not %q", r.Resource)
	}
	if r.Absent && len(r.Fields) > 0 {
		v.errorf("absent", "absent: true cannot be combined with fields")
	}
	for i, f := range r.Fields {
		line := f.Line - v.d.offset
		errf := func(format string, args ...any) {
			v.d.errorf(line, v.name+": "+fmt.Sprintf("fields item %d: ", i+1)+format, args...)
		}
		if f.Path == "" {
			errf("missing path")
		} else if err := checkJSONPath(f.Path); err != nil {
			errf("%v", err)
		}
		switch {
		case f.Equals == nil && f.Matches == "":
			errf("needs equals or matches")
		case f.Equals != nil && f.Matches != "":
			errf("has both equals and matches; use one")
		case f.Matches != "":
			if _, err := regexp.Compile(f.Matches); err != nil {
				errf("invalid regexp in matches: %v", err)
			}
		}
	}
}

func (p *PodsCheck) validate(v validator) {
	if v.required("selector", p.Selector) {
		v.selector("selector", p.Selector)
	}
	if p.Running == nil && p.Ready == nil {
		v.errorf("selector", "needs running: N and/or ready: N")
	}
	v.count("running", p.Running)
	v.count("ready", p.Ready)
}

func (e *EndpointsCheck) validate(v validator) {
	v.required("service", e.Service)
	if e.Ready == nil && !e.MatchPods && !e.NewPods {
		v.errorf("service", "needs ready: N, matchPods: true and/or newPods: true")
	}
	v.count("ready", e.Ready)
}

func (r *ReplacedCheck) validate(v validator) {
	if v.required("selector", r.Selector) {
		v.selector("selector", r.Selector)
	}
}

func (x *ExecCheck) validate(v validator) {
	if v.required("target", x.Target) {
		v.target("target", x.Target)
	}
	v.required("command", x.Command)
	if x.ExitCode < 0 || x.ExitCode > 255 {
		v.errorf("exitCode", "exitCode must be between 0 and 255")
	}
	v.placeholders("contains", x.Contains, false)
	v.placeholders("notContains", x.NotContains, false)
	v.placeholders("matches", x.Matches, true)
}

func (h *HTTPCheck) validate(v validator) {
	v.required("service", h.Service)
	if h.Path == "" {
		h.Path = DefaultHTTPPath
	} else if !strings.HasPrefix(h.Path, "/") {
		v.errorf("path", "path must start with /")
	}
	if h.Status == 0 {
		h.Status = DefaultHTTPStatus
	} else if h.Status < 100 || h.Status > 599 {
		v.errorf("status", "status %d is not an HTTP status", h.Status)
	}
	if h.From != "" {
		v.target("from", h.From)
	}
}

func (n *DNSCheck) validate(v validator) {
	v.required("name", n.Name)
	if v.required("from", n.From) {
		v.target("from", n.From)
	}
	switch {
	case n.Resolves != nil && !*n.Resolves:
		if n.Service != "" || n.Answers != "" || n.Records != nil {
			v.errorf("resolves", "resolves: false expects no answer; drop service, answers and records")
		}
	default:
		v.required("service", n.Service)
		if n.Answers != "" && n.Answers != AnswersClusterIP && n.Answers != AnswersReadyPods {
			v.errorf("answers", "answers %q; use clusterIP or readyPods", n.Answers)
		}
		if n.Records != nil && *n.Records < 1 {
			v.errorf("records", "records %d; a name that resolves has at least 1 record (use resolves: false for none)", *n.Records)
		}
	}
}

func (x *CommandCheck) validate(v validator) {
	switch {
	case len(x.Command) == 0 && x.Matches == "":
		v.errorf("command", "needs command: (a model command, or a list of them) or matches: (a regexp)")
	case len(x.Command) > 0 && x.Matches != "":
		v.errorf("matches", "has both command and matches; use one")
	case x.Matches != "":
		v.regexp("matches", x.Matches)
	}
	for _, m := range x.Command {
		if _, err := cmdline.Compile(m); err != nil {
			v.errorf("command", "%v", err)
		}
	}
	if x.Exit != "" && x.Exit != ExitAny {
		if n, err := strconv.Atoi(x.Exit); err != nil || n < 0 || n > 255 {
			v.errorf("exit", "exit %q; use a status from 0 to 255, or any", x.Exit)
		}
	}
}

func (s *ScriptCheck) validate(v validator) {
	v.required("run", s.Run)
}

// placeholders validates the placeholders of s and, when re is set, that the
// expanded text is a regexp.
func (v validator) placeholders(key, s string, re bool) {
	if s == "" {
		return
	}
	p := Placeholders{
		ClusterIP: func(string) (string, error) { return "10.96.0.1", nil },
		PodIP: func(sel string) (string, error) {
			if _, err := labels.Parse(sel); err != nil {
				return "", fmt.Errorf("invalid selector %q: %v", sel, err)
			}
			return "10.244.0.1", nil
		},
	}
	out, err := p.Expand(key, s)
	if err != nil {
		v.errorf(key, "%v", err)
		return
	}
	if re {
		v.regexp(key, out)
	}
}

func checkJSONPath(p string) (err error) {
	if !strings.HasPrefix(strings.TrimSpace(p), "{") {
		return fmt.Errorf("path %q is not a JSONPath template; write it in braces, e.g. {.spec.type}", p)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid JSONPath %q", p)
		}
	}()
	if err := jsonpath.New("path").Parse(p); err != nil {
		return fmt.Errorf("invalid JSONPath %q: %v", p, err)
	}
	return nil
}

// TargetKind tells how a target names its pod.
type TargetKind string

// Target kinds.
const (
	TargetDeployment TargetKind = "deploy"
	TargetPod        TargetKind = "pod"
	TargetSelector   TargetKind = "selector"
)

// Target is the pod an exec, http or dns check runs in.
type Target struct {
	Kind     TargetKind
	Name     string // Deployment or pod name
	Selector string // label selector, for TargetSelector
}

func (t Target) String() string {
	if t.Kind == TargetSelector {
		return t.Selector
	}
	return string(t.Kind) + "/" + t.Name
}

// ParseTarget parses "deploy/<name>", "pod/<name>" or a label selector such as
// "app=sleep".
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if kind, name, ok := strings.Cut(s, "/"); ok && !strings.ContainsAny(s, "=!(") {
		switch kind {
		case "deploy", "deployment", "deployments":
			return validName(Target{Kind: TargetDeployment, Name: name}, s)
		case "pod", "pods", "po":
			return validName(Target{Kind: TargetPod, Name: name}, s)
		}
		return Target{}, fmt.Errorf("target %q: use deploy/<name>, pod/<name> or a label selector like app=sleep", s)
	}
	if !strings.ContainsAny(s, "=!(") {
		return Target{}, fmt.Errorf("target %q: use deploy/<name>, pod/<name> or a label selector like app=sleep", s)
	}
	if _, err := labels.Parse(s); err != nil {
		return Target{}, fmt.Errorf("target %q: invalid label selector: %v", s, err)
	}
	return Target{Kind: TargetSelector, Selector: s}, nil
}

func validName(t Target, s string) (Target, error) {
	if t.Name == "" || strings.Contains(t.Name, "/") {
		return Target{}, fmt.Errorf("target %q: missing or invalid name", s)
	}
	return t, nil
}

// Placeholders resolves {{clusterIP "svc"}} and {{podIP "selector"}} in the
// expectations of an exec check.
type Placeholders struct {
	ClusterIP func(service string) (string, error)
	PodIP     func(selector string) (string, error)
}

var placeholder = regexp.MustCompile(`\{\{\s*(\w+)\s+("(?:[^"\\]|\\.)*")\s*\}\}`)

// Expand returns s with its placeholders resolved; key names s in errors.
func (p Placeholders) Expand(key, s string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var b strings.Builder
	rest := s
	for rest != "" {
		loc := placeholder.FindStringSubmatchIndex(rest)
		if loc == nil {
			break
		}
		if strings.Contains(rest[:loc[0]], "{{") {
			break
		}
		b.WriteString(rest[:loc[0]])
		fn, lit := rest[loc[2]:loc[3]], rest[loc[4]:loc[5]]
		arg, err := strconv.Unquote(lit)
		if err != nil {
			return "", fmt.Errorf("%s: invalid placeholder argument %s", key, lit)
		}
		var f func(string) (string, error)
		switch fn {
		case "clusterIP":
			f = p.ClusterIP
		case "podIP":
			f = p.PodIP
		default:
			return "", fmt.Errorf("%s: unknown placeholder %q; use {{clusterIP \"service\"}} or {{podIP \"selector\"}}", key, fn)
		}
		if f == nil {
			return "", fmt.Errorf("%s: placeholder %s is not available here", key, fn)
		}
		v, err := f(arg)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		rest = rest[loc[1]:]
	}
	if strings.Contains(rest, "{{") {
		return "", fmt.Errorf("%s: malformed placeholder; use {{clusterIP \"service\"}} or {{podIP \"selector\"}}", key)
	}
	b.WriteString(rest)
	return b.String(), nil
}
