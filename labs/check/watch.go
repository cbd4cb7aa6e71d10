package check

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kindlab/kindlab/labs"
)

// Defaults of a Watcher.
const (
	DefaultDebounce = 150 * time.Millisecond
	DefaultTick     = 5 * time.Second
)

// Watcher re-evaluates the checks of a step whenever the cluster changes.
type Watcher struct {
	Engine *Engine
	// Debounce coalesces the watch events that arrive within it after a first
	// one into a single evaluation. Zero means DefaultDebounce; negative means
	// evaluate at once.
	Debounce time.Duration
	// Tick re-evaluates everything periodically, for what no watch covers:
	// script checks, and what exec, dns and http checks see beyond the objects
	// they depend on (a pod's process answering). Zero means DefaultTick.
	Tick time.Duration
	// Poke re-evaluates everything at once on each value: a command of the
	// learner's has just started, printed or ended, so what it did can be seen
	// now (command checks read nothing else). Nil: no pokes.
	Poke <-chan struct{}
}

// source is one watch on the API server.
type source struct {
	name  string // for messages, e.g. "pods in namespace default"
	watch func(ctx context.Context) (watch.Interface, error)
}

// health is the state of the watches, shared with their goroutines.
type health struct {
	mu   sync.Mutex
	errs map[string]error // by source key; nil when the watch is up
	kick chan struct{}    // something changed; capacity 1
}

func (h *health) set(key string, err error) {
	h.mu.Lock()
	h.errs[key] = err
	h.mu.Unlock()
	h.poke()
}

func (h *health) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *health) get(key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.errs[key]
}

// Watch evaluates checks once, then again after every watch event on what
// they read (debounced) and on every tick, and sends the full list of results
// on out whenever any status or message changed. It blocks until ctx is done
// and does not close out. A watch that cannot be started or restarted turns
// the checks that depend on it into Error results until it is back.
func (w *Watcher) Watch(ctx context.Context, state StepState, checks []labs.Check, out chan<- []Result) {
	debounce, tick := w.Debounce, w.Tick
	if debounce == 0 {
		debounce = DefaultDebounce
	}
	if tick <= 0 {
		tick = DefaultTick
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	h := &health{errs: map[string]error{}, kick: make(chan struct{}, 1)}
	sources, deps := w.sources(ctx, state, checks)
	for key, s := range sources {
		// Start every watch before the first evaluation, so no change is missed.
		wi, err := s.watch(ctx)
		if err != nil {
			h.errs[key] = faultf(err, "kindlab could not watch %s", s.name)
		}
		wg.Go(func() { follow(ctx, h, key, s, wi) })
	}
	select { // the kicks of the starts above are covered by the first evaluation
	case <-h.kick:
	default:
	}

	var last []Result
	send := func(results []Result) {
		if ctx.Err() != nil || !changed(last, results) {
			return
		}
		select {
		case out <- results:
			last = results
		case <-ctx.Done():
		}
	}
	evaluate := func() {
		results := w.Engine.EvaluateAll(ctx, state, checks)
		for i := range results {
			for _, key := range deps[i] {
				if err := h.get(key); err != nil {
					results[i].Status, results[i].Message, results[i].Detail = Error, notYourFault(err), err.Error()
					break
				}
			}
		}
		send(results)
	}
	// commandsFirst sends, at once, the command checks (which read only the
	// learner's commands, no cluster) with the other results as last seen; the
	// full evaluation that follows corrects anything that changed meanwhile.
	commandsFirst := func() {
		if last == nil {
			return
		}
		results := slices.Clone(last)
		for i, c := range checks {
			if c.Kind == labs.KindCommand {
				results[i] = w.Engine.Evaluate(ctx, state, c)
			}
		}
		send(results)
	}
	evaluate()

	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-h.kick:
			if debounce < 0 {
				evaluate()
			} else if timer == nil {
				timer = time.NewTimer(debounce)
				fire = timer.C
			}
		case <-fire:
			timer, fire = nil, nil
			evaluate()
		case <-ticker.C:
			evaluate()
		case <-w.Poke:
			commandsFirst()
			evaluate()
		}
	}
}

// follow consumes a watch, pokes h on every event and restarts the watch
// when it ends, backing off while it cannot be started.
func follow(ctx context.Context, h *health, key string, s source, wi watch.Interface) {
	backoff := time.Second
	for {
		if wi == nil {
			if !sleep(ctx, backoff) {
				return
			}
			var err error
			if wi, err = s.watch(ctx); err != nil {
				h.set(key, faultf(err, "kindlab could not watch %s", s.name))
				backoff = min(2*backoff, 30*time.Second)
				continue
			}
			backoff = time.Second
			h.set(key, nil) // back: re-evaluate, covering what was missed
		}
		drain(ctx, h, wi)
		wi.Stop()
		wi = nil
		if ctx.Err() != nil {
			return
		}
		backoff = 100 * time.Millisecond // a watch that ended is restarted promptly
	}
}

// drain pokes h for every event until the watch ends. An Error event (such as
// an expired resource version) ends it too; follow restarts it.
func drain(ctx context.Context, h *health, wi watch.Interface) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wi.ResultChan():
			if !ok || ev.Type == watch.Error {
				return
			}
			h.poke()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// changed reports whether the results differ from the last ones sent, times
// apart.
func changed(last, cur []Result) bool {
	return !slices.EqualFunc(last, cur, func(a, b Result) bool {
		return a.CheckID == b.CheckID && a.Status == b.Status && a.Message == b.Message
	}) || last == nil
}

// sources returns the watches the checks need, by key, and for each check
// the keys of its sources.
func (w *Watcher) sources(ctx context.Context, st StepState, checks []labs.Check) (map[string]source, [][]string) {
	e := w.Engine
	all := map[string]source{}
	deps := make([][]string, len(checks))
	add := func(i int, key string, s source) {
		if _, ok := all[key]; !ok {
			all[key] = s
		}
		if !slices.Contains(deps[i], key) {
			deps[i] = append(deps[i], key)
		}
	}
	typed := func(i int, resource, ns string) {
		core, disc, apps := e.cfg.Client.CoreV1(), e.cfg.Client.DiscoveryV1(), e.cfg.Client.AppsV1()
		s := source{name: resource + " in namespace " + ns}
		switch resource {
		case "pods":
			s.watch = func(ctx context.Context) (watch.Interface, error) {
				return core.Pods(ns).Watch(ctx, metav1.ListOptions{})
			}
		case "services":
			s.watch = func(ctx context.Context) (watch.Interface, error) {
				return core.Services(ns).Watch(ctx, metav1.ListOptions{})
			}
		case "endpointslices":
			s.watch = func(ctx context.Context) (watch.Interface, error) {
				return disc.EndpointSlices(ns).Watch(ctx, metav1.ListOptions{})
			}
		case "deployments":
			s.watch = func(ctx context.Context) (watch.Interface, error) {
				return apps.Deployments(ns).Watch(ctx, metav1.ListOptions{})
			}
		}
		add(i, resource+"/"+ns, s)
	}
	// target watches the pods (and Deployment) an exec, dns or http check runs in.
	target := func(i int, spec, ns string) {
		typed(i, "pods", ns)
		if t, err := labs.ParseTarget(spec); err == nil && t.Kind == labs.TargetDeployment {
			typed(i, "deployments", ns)
		}
	}
	for i, c := range checks {
		ns := namespace(st, c)
		switch c.Kind {
		case labs.KindResource:
			w.dynamicSource(ctx, i, ns, c.Resource, add)
		case labs.KindPods, labs.KindReplaced:
			typed(i, "pods", ns)
		case labs.KindEndpoints:
			typed(i, "endpointslices", ns)
			typed(i, "services", ns)
			if c.Endpoints.MatchPods {
				typed(i, "pods", ns)
			}
		case labs.KindExec:
			target(i, c.Exec.Target, ns)
			typed(i, "services", ns) // placeholders
		case labs.KindDNS:
			target(i, c.DNS.From, ns)
			if c.DNS.ServiceNamespace != "" {
				typed(i, "services", c.DNS.ServiceNamespace)
			} else {
				typed(i, "services", ns)
			}
		case labs.KindHTTP:
			typed(i, "services", ns)
			typed(i, "endpointslices", ns)
			if c.HTTP.From != "" {
				target(i, c.HTTP.From, ns)
			}
		}
	}
	return all, deps
}

// dynamicSource watches the object of a resource check.
func (w *Watcher) dynamicSource(ctx context.Context, i int, ns string, r *labs.ResourceCheck, add func(int, string, source)) {
	e := w.Engine
	if e.cfg.Dynamic == nil {
		return // Evaluate reports it
	}
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return // Evaluate reports it
	}
	gvr := gv.WithResource(r.Resource)
	namespaced, err := e.namespaced(ctx, gvr)
	if err != nil {
		return // Evaluate reports it; the tick retries
	}
	key := fmt.Sprintf("%s/%s/%s", gvr, ns, r.Name)
	name := r.Resource + "/" + r.Name
	if namespaced {
		name += " in namespace " + ns
	}
	opts := metav1.ListOptions{FieldSelector: "metadata.name=" + r.Name}
	add(i, key, source{name: name, watch: func(ctx context.Context) (watch.Interface, error) {
		if namespaced {
			return e.cfg.Dynamic.Resource(gvr).Namespace(ns).Watch(ctx, opts)
		}
		return e.cfg.Dynamic.Resource(gvr).Watch(ctx, opts)
	}})
}
