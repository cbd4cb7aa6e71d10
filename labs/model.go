package labs

import (
	"fmt"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults applied by the parser.
const (
	DefaultNamespace    = "default"
	DefaultCheckTimeout = Duration(60 * time.Second)
	DefaultHTTPPath     = "/"
	DefaultHTTPStatus   = 200
)

// Lab is one lab: lab.yaml with its steps loaded.
type Lab struct {
	ID        string
	Title     string
	Summary   string
	Duration  Duration // estimate for the whole lab
	Images    []string // images preloaded into the cluster
	Files     []string // paths relative to manifests/, copied flat into ~
	Namespace string   // working namespace; DefaultNamespace when unset
	Apps      []App    // web apps the learner opens from the page (app links)
	Setup     []string // paths relative to manifests/, applied with admin rights when the lab starts
	Steps     []Step
}

// App is a web app of a lab that the page links to: kindlab proxies the link
// through the API server to the Service (or, before the Service exists, to a
// ready pod of the Deployment of that name), for that learner only.
type App struct {
	Service string   `yaml:"service"`
	Port    string   `yaml:"port"`  // number or name; empty: the first port
	Label   string   `yaml:"label"` // the link's text; the service name when empty
	Steps   []string `yaml:"steps"` // step files that show the link; empty: every step
}

// AppsOf returns the apps step shows a link to.
func (l *Lab) AppsOf(step Step) []App {
	var out []App
	for _, a := range l.Apps {
		if len(a.Steps) == 0 || slices.Contains(a.Steps, step.File) {
			out = append(out, a)
		}
	}
	return out
}

// App returns the lab's app served by service.
func (l *Lab) App(service string) (App, bool) {
	for _, a := range l.Apps {
		if a.Service == service {
			return a, true
		}
	}
	return App{}, false
}

// WorkNamespace is the namespace the lab works in.
func (l *Lab) WorkNamespace() string {
	if l.Namespace == "" {
		return DefaultNamespace
	}
	return l.Namespace
}

// Step is one step file: its front matter and markdown body.
type Step struct {
	ID       string // file name without ".md"
	File     string // file name as listed in lab.yaml, e.g. "01-deploy.md"
	Title    string
	Estimate Duration // zero when unset
	Manual   bool     // purely explanatory step without checks
	Checks   []Check
	Solution []string // commands a learner types, in order
	Setup    []string // paths relative to manifests/, applied with admin rights when the step starts
	Hints    []string
	Body     string // markdown source after the front matter
	BodyLine int    // line of the file where Body starts
	Runnable []RunnableBlock
}

// Walk is what solves the step as a learner would: its Run buttons in the
// order shown or, when the step has a solution, its commands instead.
func (s Step) Walk() []RunnableBlock {
	if len(s.Solution) == 0 {
		return s.Runnable
	}
	out := make([]RunnableBlock, len(s.Solution))
	for i, c := range s.Solution {
		out[i] = RunnableBlock{Command: c}
	}
	return out
}

// RunnableBlock is a fenced block marked `bash run` or `bash run-interrupt`.
type RunnableBlock struct {
	Command   string // the command, possibly spanning lines ending in `\`
	Interrupt bool   // send Ctrl-C before typing the command
	Line      int    // line of the opening fence in the step file
}

// Kind names a check kind.
type Kind string

// The check kinds of FORMAT.md.
const (
	KindResource  Kind = "resource"
	KindPods      Kind = "pods"
	KindEndpoints Kind = "endpoints"
	KindReplaced  Kind = "replaced"
	KindExec      Kind = "exec"
	KindHTTP      Kind = "http"
	KindDNS       Kind = "dns"
	KindCommand   Kind = "command"
	KindScript    Kind = "script"
)

// Spec is what a check of one kind judges, read into the Check field its
// Kind names. Each kind's type checks its own fields and says in plain words
// what it looks for: adding a kind is its type, its field of Check and its
// line in kinds (and its evaluation, in package check).
type Spec interface {
	// Label says what the check looks for, as the learner reads it.
	Label() string
	validate(v validator)
}

// kinds are the check kinds in the order FORMAT.md lists them, each with
// its field of Check (made new when asked).
var kinds = []struct {
	kind  Kind
	field func(c *Check, makeNew bool) Spec
}{
	{KindResource, func(c *Check, m bool) Spec { return field(&c.Resource, m) }},
	{KindPods, func(c *Check, m bool) Spec { return field(&c.Pods, m) }},
	{KindEndpoints, func(c *Check, m bool) Spec { return field(&c.Endpoints, m) }},
	{KindReplaced, func(c *Check, m bool) Spec { return field(&c.Replaced, m) }},
	{KindExec, func(c *Check, m bool) Spec { return field(&c.Exec, m) }},
	{KindHTTP, func(c *Check, m bool) Spec { return field(&c.HTTP, m) }},
	{KindDNS, func(c *Check, m bool) Spec { return field(&c.DNS, m) }},
	{KindCommand, func(c *Check, m bool) Spec { return field(&c.Command, m) }},
	{KindScript, func(c *Check, m bool) Spec { return field(&c.Script, m) }},
}

// field is a kind's field of Check as a Spec, nil when it is not set; with
// makeNew, it is set to a new spec first.
func field[T any, P interface {
	*T
	Spec
}](f *P, makeNew bool) Spec {
	if makeNew {
		*f = new(T)
	}
	if *f == nil {
		return nil
	}
	return *f
}

// Kinds lists every check kind.
func Kinds() []Kind {
	out := make([]Kind, len(kinds))
	for i, k := range kinds {
		out[i] = k.kind
	}
	return out
}

// newSpec sets the field c's Kind names to a new spec and returns it; nil
// for a kind there is none of.
func (c *Check) newSpec() Spec {
	for _, k := range kinds {
		if k.kind == c.Kind {
			return k.field(c, true)
		}
	}
	return nil
}

// Spec is the check's spec: the one field of its kind that is set (nil when
// none is).
func (c Check) Spec() Spec {
	for _, k := range kinds {
		if s := k.field(&c, false); s != nil {
			return s
		}
	}
	return nil
}

// Label says in plain words what the check looks for.
func (c Check) Label() string {
	if s := c.Spec(); s != nil {
		if l := s.Label(); l != "" {
			return l
		}
	}
	return "Check " + c.ID
}

// Check is one check of a step. Exactly one of the kind fields is set: the one
// named by Kind.
type Check struct {
	ID        string
	Kind      Kind
	Namespace string   // empty means the lab's namespace
	Timeout   Duration // how long validate waits for a pass; DefaultCheckTimeout when unset
	Line      int      // line of the check in its step file

	Resource  *ResourceCheck
	Pods      *PodsCheck
	Endpoints *EndpointsCheck
	Replaced  *ReplacedCheck
	Exec      *ExecCheck
	HTTP      *HTTPCheck
	DNS       *DNSCheck
	Command   *CommandCheck
	Script    *ScriptCheck
}

// ResourceCheck requires an object to exist (with fields) or to be absent.
type ResourceCheck struct {
	APIVersion string       `yaml:"apiVersion"`
	Resource   string       `yaml:"resource"` // plural, e.g. "services"
	Name       string       `yaml:"name"`
	Absent     bool         `yaml:"absent"`
	Fields     []FieldMatch `yaml:"fields"`
}

// FieldMatch compares the value at a JSONPath with a string or a regexp.
type FieldMatch struct {
	Path    string  `yaml:"path"` // JSONPath template, e.g. "{.spec.type}"
	Equals  *string `yaml:"equals"`
	Matches string  `yaml:"matches"`
	Line    int     `yaml:"-"`
}

// PodsCheck counts the pods a selector matches. Nil counts are not checked.
type PodsCheck struct {
	Selector string `yaml:"selector"`
	Running  *int   `yaml:"running"`
	Ready    *int   `yaml:"ready"`
	Min      bool   `yaml:"min"` // counts are minimums instead of exact
}

// EndpointsCheck looks at the ready addresses of a Service's EndpointSlices.
type EndpointsCheck struct {
	Service   string `yaml:"service"`
	Ready     *int   `yaml:"ready"`
	MatchPods bool   `yaml:"matchPods"`
	// NewPods requires that no ready endpoint is one the Service had when
	// the step began (recorded at step start, by pod).
	NewPods bool `yaml:"newPods"`
}

// ReplacedCheck requires that the pods of a selector are new since the step began.
type ReplacedCheck struct {
	Selector  string `yaml:"selector"`
	SameCount bool   `yaml:"sameCount"`
}

// ExecCheck runs a command with `sh -c` in a target pod.
type ExecCheck struct {
	Target      string `yaml:"target"` // deploy/<name>, pod/<name> or a label selector
	Container   string `yaml:"container"`
	Command     string `yaml:"command"`
	ExitCode    int    `yaml:"exitCode"`
	Contains    string `yaml:"contains"`    // may hold placeholders
	Matches     string `yaml:"matches"`     // regexp; may hold placeholders
	NotContains string `yaml:"notContains"` // may hold placeholders
}

// HTTPCheck requests a Service through the API server proxy or from a pod.
type HTTPCheck struct {
	Service  string `yaml:"service"`
	Port     string `yaml:"port"` // number or name; empty means the first port
	Path     string `yaml:"path"`
	Status   int    `yaml:"status"`
	Contains string `yaml:"contains"`
	From     string `yaml:"from"` // empty: API server proxy; else a target as in exec
}

// DNSCheck looks a name up from a pod (nslookup) and expects, by Answers, the
// ClusterIP of Service (the default) or exactly the IPs of the ready pods the
// Service selects (a headless Service); Records, when set, is how many
// addresses must answer. With Resolves false the name must not resolve at all
// (and Service is not used).
type DNSCheck struct {
	Name             string     `yaml:"name"`
	From             string     `yaml:"from"`
	Service          string     `yaml:"service"`
	ServiceNamespace string     `yaml:"serviceNamespace"`
	Answers          DNSAnswers `yaml:"answers"`
	Records          *int       `yaml:"records"`
	Resolves         *bool      `yaml:"resolves"`
}

// DNSAnswers is what a dns check expects the name to answer with.
type DNSAnswers string

// The answers a dns check may expect.
const (
	AnswersClusterIP DNSAnswers = "clusterIP" // the Service's ClusterIP (the default)
	AnswersReadyPods DNSAnswers = "readyPods" // the IPs of the ready pods the Service selects
)

// CommandCheck passes when the learner ran, in the terminal since the step
// began, a command doing what one of Command does (see package cmdline) or, as
// an escape hatch, a command line matching the regexp Matches. The command
// counts when it exited with Exit ("" is 0; "any" is any status); with
// Running, a command still running counts too, whatever its status. When
// Output is set, what the command printed must contain it.
type CommandCheck struct {
	Command OneOrMore `yaml:"command"`
	Matches string    `yaml:"matches"`
	Exit    string    `yaml:"exit"`
	Running bool      `yaml:"running"`
	Output  string    `yaml:"output"`
}

// ExitAny is CommandCheck.Exit for a command that counts whatever its status.
const ExitAny = "any"

// OneOrMore is a YAML string or list of strings.
type OneOrMore []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (o *OneOrMore) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*o = OneOrMore{n.Value}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return fmt.Errorf("expected a command or a list of commands")
		}
		*o = list
		return nil
	}
	return fmt.Errorf("expected a command or a list of commands")
}

// ScriptCheck runs a bash script in the workstation; exit 0 passes.
type ScriptCheck struct {
	Run string `yaml:"run"`
}

// Duration is a time.Duration written as a Go duration string ("90s", "3m").
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration parses a non-negative Go duration.
func ParseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use a Go duration like 90s or 3m", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return Duration(v), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("invalid duration: use a Go duration like 90s or 3m")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
