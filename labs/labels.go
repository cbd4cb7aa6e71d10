package labs

import (
	"fmt"
	"strings"
)

// The platform's words for what each kind of check looks for.

func (r *ResourceCheck) Label() string {
	what := strings.TrimSuffix(r.Resource, "s")
	if r.Absent {
		return fmt.Sprintf("%s %s is gone", what, r.Name)
	}
	return fmt.Sprintf("%s %s exists", what, r.Name)
}

func (p *PodsCheck) Label() string {
	var parts []string
	atLeast := ""
	if p.Min {
		atLeast = "at least "
	}
	if p.Ready != nil {
		parts = append(parts, fmt.Sprintf("%s%s ready", atLeast, plural(*p.Ready, "pod")))
	}
	if p.Running != nil {
		parts = append(parts, fmt.Sprintf("%s%s running", atLeast, plural(*p.Running, "pod")))
	}
	if len(parts) == 0 {
		return "Pods " + p.Selector + " exist"
	}
	return capitalize(strings.Join(parts, ", ")) + " (" + p.Selector + ")"
}

func (e *EndpointsCheck) Label() string {
	s := "Service " + e.Service + " has "
	switch {
	case e.Ready != nil:
		s += plural(*e.Ready, "ready endpoint")
	default:
		s += "ready endpoints"
	}
	if e.MatchPods {
		s += " matching its pods"
	}
	return s
}

func (r *ReplacedCheck) Label() string { return "Pods " + r.Selector + " were replaced" }

func (x *ExecCheck) Label() string { return "A command in " + x.Target + " gives the expected result" }

func (h *HTTPCheck) Label() string {
	path := h.Path
	if path == "" {
		path = DefaultHTTPPath
	}
	return "Service " + h.Service + " answers on " + path
}

func (n *DNSCheck) Label() string { return n.Name + " resolves to Service " + n.Service }

func (x *CommandCheck) Label() string {
	switch {
	case len(x.Command) == 0:
		return "You ran the command"
	case x.Running:
		return "You started " + x.Command[0]
	}
	return "You ran " + x.Command[0]
}

// Label is empty: a script says nothing a learner could read, so the check's
// label is its id (Check.Label).
func (s *ScriptCheck) Label() string { return "" }

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
