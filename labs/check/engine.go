package check

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/internal/shellmark"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kindlab/kindlab/labs"
)

// Execer runs a command in a container. err is set only when the command could
// not run (transport failure, pod gone); a command that ran and failed returns
// its exitCode with a nil err.
type Execer interface {
	Exec(ctx context.Context, namespace, pod, container string, cmd []string) (stdout, stderr string, exitCode int, err error)
}

// Workstation is the learner's workstation pod, where script checks run.
type Workstation struct {
	Namespace string
	Pod       string
	Container string
}

// Config holds what an Engine talks to. Client is required; Dynamic is needed
// by resource checks, Exec by exec, dns, http-from-a-pod and script.
type Config struct {
	Client      kubernetes.Interface
	Dynamic     dynamic.Interface
	Exec        Execer
	Workstation Workstation
	Clock       clock.Clock   // default: the system clock
	RunTimeout  time.Duration // bound on one evaluation; default 10s
}

// Engine evaluates checks against one cluster. It is safe for concurrent use.
type Engine struct {
	cfg Config

	mu     sync.Mutex
	scopes map[schema.GroupVersionResource]bool // namespaced, from discovery
}

// New returns an Engine for cfg.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = 10 * time.Second
	}
	return &Engine{cfg: cfg, scopes: map[schema.GroupVersionResource]bool{}}
}

// Status is the outcome of a check.
type Status string

// Statuses.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"  // the learner has something to do
	Error Status = "error" // the check could not run; not the learner's fault
	// Pending is no result yet: what a page shows before a check first runs.
	// The engine never returns it.
	Pending Status = "pending"
)

// Result is the outcome of one check at one time.
type Result struct {
	CheckID string    `json:"checkId"`
	Status  Status    `json:"status"`
	Message string    `json:"message"`          // for the learner, in plain words
	Detail  string    `json:"detail,omitempty"` // for an Error: the cause, for logs and authors
	At      time.Time `json:"at"`
}

// StepState is what a step's checks need from when the step began.
type StepState struct {
	Namespace string            `json:"namespace"` // the lab's namespace
	Began     time.Time         `json:"began"`
	Pods      map[string]PodSet `json:"pods,omitempty"` // by podSetKey(namespace, selector)
	// Endpoints are the ready endpoints of each Service a newPods endpoints
	// check names, by podSetKey(namespace, service): pod UIDs (addresses for
	// endpoints without a pod).
	Endpoints map[string][]string `json:"endpoints,omitempty"`
	// Commands lists the commands the learner ran in the terminal since the
	// step began, for command checks; nil when there is no terminal.
	Commands func() []shellmark.Command `json:"-"`
}

// PodSet is the pods a selector matched when the step began.
type PodSet struct {
	Pods  []PodRef `json:"pods"`
	Ready int      `json:"ready"`
}

// PodRef names one pod.
type PodRef struct {
	Name string    `json:"name"`
	UID  types.UID `json:"uid"`
}

func podSetKey(namespace, selector string) string { return namespace + "/" + selector }

// Begin records what the checks of step need from the start of the step (the
// pods of every replaced check, the endpoints of every newPods endpoints
// check) in the lab namespace ns.
func (e *Engine) Begin(ctx context.Context, step labs.Step, ns string) (StepState, error) {
	st := StepState{Namespace: ns, Began: e.cfg.Clock.Now(), Pods: map[string]PodSet{}}
	for _, c := range step.Checks {
		cns := namespace(st, c)
		if c.Endpoints != nil && c.Endpoints.NewPods {
			keys, err := e.readyEndpointKeys(ctx, cns, c.Endpoints.Service)
			if err != nil {
				return StepState{}, fmt.Errorf("begin step %s: %w", step.ID, err)
			}
			if st.Endpoints == nil {
				st.Endpoints = map[string][]string{}
			}
			st.Endpoints[podSetKey(cns, c.Endpoints.Service)] = keys
		}
		if c.Replaced == nil {
			continue
		}
		pods, err := e.listPods(ctx, cns, c.Replaced.Selector)
		if err != nil {
			return StepState{}, fmt.Errorf("begin step %s: %w", step.ID, err)
		}
		var set PodSet
		for _, p := range pods {
			set.Pods = append(set.Pods, PodRef{Name: p.Name, UID: p.UID})
			if isReady(&p) {
				set.Ready++
			}
		}
		st.Pods[podSetKey(cns, c.Replaced.Selector)] = set
	}
	return st, nil
}

// Evaluate runs one check now.
func (e *Engine) Evaluate(ctx context.Context, state StepState, c labs.Check) Result {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.RunTimeout)
	defer cancel()
	msg, err := e.run(ctx, state, c)
	r := Result{CheckID: c.ID, Status: Pass, Message: msg, At: e.cfg.Clock.Now()}
	var f *failure
	switch {
	case err == nil:
	case errors.As(err, &f):
		r.Status, r.Message = Fail, f.msg
	default:
		r.Status, r.Message, r.Detail = Error, notYourFault(err), err.Error()
	}
	return r
}

// EvaluateAll runs checks concurrently and returns their results in order.
func (e *Engine) EvaluateAll(ctx context.Context, state StepState, checks []labs.Check) []Result {
	out := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { out[i] = e.Evaluate(ctx, state, c) })
	}
	wg.Wait()
	return out
}

func (e *Engine) run(ctx context.Context, st StepState, c labs.Check) (string, error) {
	ns := namespace(st, c)
	switch s := c.Spec().(type) {
	case *labs.ResourceCheck:
		return e.resource(ctx, ns, s)
	case *labs.PodsCheck:
		return e.pods(ctx, ns, s)
	case *labs.EndpointsCheck:
		return e.endpoints(ctx, st, ns, s)
	case *labs.ReplacedCheck:
		return e.replaced(ctx, st, ns, s)
	case *labs.ExecCheck:
		return e.exec(ctx, ns, s)
	case *labs.HTTPCheck:
		return e.http(ctx, ns, s)
	case *labs.DNSCheck:
		return e.dns(ctx, ns, s)
	case *labs.CommandCheck:
		return command(st, ns, s)
	case *labs.ScriptCheck:
		return e.script(ctx, s)
	}
	return "", fmt.Errorf("check %s of kind %q has no fields for its kind", c.ID, c.Kind)
}

// namespace is the namespace a check looks in.
func namespace(st StepState, c labs.Check) string {
	switch {
	case c.Namespace != "":
		return c.Namespace
	case st.Namespace != "":
		return st.Namespace
	}
	return labs.DefaultNamespace
}

// failure is a check that ran and did not pass: the learner's to fix.
type failure struct{ msg string }

func (f *failure) Error() string { return f.msg }

func failf(format string, args ...any) error {
	return &failure{msg: fmt.Sprintf(format, args...)}
}

// fault is a check that could not run: plain says so in the learner's words,
// err is the cause, for logs.
type fault struct {
	plain string
	err   error
}

func (f *fault) Error() string { return f.plain + ": " + f.err.Error() }
func (f *fault) Unwrap() error { return f.err }

func faultf(err error, format string, args ...any) error {
	return &fault{plain: fmt.Sprintf(format, args...), err: err}
}

// apiError wraps an API error that is not the learner's doing.
func apiError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return faultf(err, "your cluster's API server did not answer in time")
	}
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return faultf(err, "kindlab's checker is not allowed to read this")
	}
	return faultf(err, "kindlab could not reach your cluster's API server")
}

// notYourFault is the learner's message for a check that could not run: plain
// words, never a Go error string.
func notYourFault(err error) string {
	var f *fault
	if errors.As(err, &f) {
		return f.plain + "; kindlab tries again in a moment (not a problem with your work)"
	}
	return err.Error() + " (not a problem with your work)"
}
