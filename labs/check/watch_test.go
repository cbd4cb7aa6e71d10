package check

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kindlab/kindlab/internal/shellmark"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kindlab/kindlab/labs"
)

func TestBegin(t *testing.T) {
	e := newEnv(pod("sleep-2-abc", "sleep-2", "10.244.0.5", "ready"), pod("sleep-2-def", "sleep-2", "", "pending"),
		terminating(pod("sleep-2-old", "sleep-2", "10.244.0.4", "ready")), pod("web-1", "web", "10.244.0.6", "ready"),
		ofPods(slice("homepage", "10.244.0.6", "10.244.0.7!", "10.244.0.8"), "web-1", "web-0"))
	step := labs.Step{ID: "03-replace", Checks: []labs.Check{
		{ID: "a", Kind: labs.KindReplaced, Replaced: &labs.ReplacedCheck{Selector: "app=sleep-2"}},
		{ID: "b", Kind: labs.KindPods, Pods: &labs.PodsCheck{Selector: "app=web", Ready: ptr(1)}},
		{ID: "c", Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "homepage", NewPods: true}},
		{ID: "d", Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "nothing-yet", NewPods: true}},
	}}
	got, err := e.engine.Begin(context.Background(), step, "default")
	if err != nil {
		t.Fatal(err)
	}
	want := StepState{Namespace: "default", Began: t0, Pods: map[string]PodSet{
		"default/app=sleep-2": {Pods: []PodRef{{"sleep-2-abc", "sleep-2-abc-uid"}, {"sleep-2-def", "sleep-2-def-uid"}}, Ready: 1},
	}, Endpoints: map[string][]string{"default/homepage": {"10.244.0.8", "web-1-uid"}, "default/nothing-yet": nil}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Begin = %+v; want %+v", got, want)
	}

	failWith("list", "pods", errRefused)(e)
	if _, err := e.engine.Begin(context.Background(), step, "default"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Begin with the API down = %v; want connection refused", err)
	}
}

func TestEvaluateAllKeepsOrder(t *testing.T) {
	e := newEnv(pod("web-1", "web", "10.244.0.5", "ready"))
	checks := []labs.Check{
		{ID: "one", Kind: labs.KindPods, Pods: &labs.PodsCheck{Selector: "app=web", Ready: ptr(1)}},
		{ID: "two", Kind: labs.KindPods, Pods: &labs.PodsCheck{Selector: "app=db", Ready: ptr(1)}},
	}
	got := e.engine.EvaluateAll(context.Background(), StepState{Namespace: "default"}, checks)
	if len(got) != 2 || got[0].CheckID != "one" || got[0].Status != Pass || got[1].CheckID != "two" || got[1].Status != Fail {
		t.Errorf("EvaluateAll = %+v", got)
	}
}

// next returns the next results sent on out, failing after a while.
func next(t testing.TB, out <-chan []Result) []Result {
	t.Helper()
	select {
	case r := <-out:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no results within 5s")
		return nil
	}
}

// quiet fails when results arrive within d.
func quiet(t *testing.T, out <-chan []Result, d time.Duration) {
	t.Helper()
	select {
	case r := <-out:
		t.Errorf("unexpected results %+v", r)
	case <-time.After(d):
	}
}

func statuses(rs []Result) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.CheckID+"="+string(r.Status))
	}
	return strings.Join(s, " ")
}

// watchStep runs a Watcher over checks until the test ends.
func watchStep(t *testing.T, e *env, w *Watcher, checks ...labs.Check) <-chan []Result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []Result)
	done := make(chan struct{})
	w.Engine = e.engine
	go func() {
		defer close(done)
		w.Watch(ctx, StepState{Namespace: "default"}, checks, out)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return out
}

var webReady = labs.Check{ID: "web", Kind: labs.KindPods, Pods: &labs.PodsCheck{Selector: "app=web", Ready: ptr(1)}}

func TestWatcher(t *testing.T) {
	tests := []struct {
		name   string
		checks []labs.Check
		change func(t *testing.T, e *env)
		want   string
	}{
		{
			name:   "pod created",
			checks: []labs.Check{webReady},
			change: func(t *testing.T, e *env) {
				if _, err := e.client.CoreV1().Pods("default").Create(context.Background(), pod("web-1", "web", "10.244.0.5", "ready"), metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			want: "web=pass",
		},
		{
			name: "endpoint slice created",
			checks: []labs.Check{
				{ID: "ep", Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "homepage", Ready: ptr(1)}},
			},
			change: func(t *testing.T, e *env) {
				if _, err := e.client.DiscoveryV1().EndpointSlices("default").Create(context.Background(), slice("homepage", "10.244.0.5"), metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			want: "ep=pass",
		},
		{
			name: "resource created through the dynamic client",
			checks: []labs.Check{
				{ID: "svc", Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "services", Name: "web"}},
			},
			change: func(t *testing.T, e *env) {
				u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(service("web", "web", "10.96.0.5", 80))
				if err != nil {
					t.Fatal(err)
				}
				obj := &unstructured.Unstructured{Object: u}
				obj.SetAPIVersion("v1")
				obj.SetKind("Service")
				if _, err := e.dyn.Resource(corev1.SchemeGroupVersion.WithResource("services")).Namespace("default").Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			want: "svc=pass",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(service("homepage", "web", "10.96.44.1", 80))
			out := watchStep(t, e, &Watcher{Debounce: 10 * time.Millisecond, Tick: time.Hour}, tt.checks...)
			if got := next(t, out); got[0].Status != Fail {
				t.Fatalf("first results %s; want a failure", statuses(got))
			}
			tt.change(t, e)
			if got := statuses(next(t, out)); got != tt.want {
				t.Errorf("after the change: %s; want %s", got, tt.want)
			}
		})
	}
}

func TestWatcherTick(t *testing.T) {
	e := newEnv()
	e.exec.set(answer("", "FAIL: not yet\n", 1, nil))
	hist := labs.Check{ID: "pf", Kind: labs.KindScript, Script: &labs.ScriptCheck{Run: "test -e ~/done"}}
	out := watchStep(t, e, &Watcher{Tick: 20 * time.Millisecond}, hist)
	if got := statuses(next(t, out)); got != "pf=fail" {
		t.Fatalf("first results %s; want pf=fail", got)
	}
	quiet(t, out, 100*time.Millisecond) // ticks with nothing new send nothing
	e.exec.set(answer("", "", 0, nil))
	if got := statuses(next(t, out)); got != "pf=pass" {
		t.Errorf("after the tick: %s; want pf=pass", got)
	}
}

// TestWatcherPoke: a poke (a command ended) evaluates at once, long before the tick.
func TestWatcherPoke(t *testing.T) {
	e := newEnv()
	e.exec.set(answer("", "FAIL: not yet\n", 1, nil))
	hist := labs.Check{ID: "pf", Kind: labs.KindScript, Script: &labs.ScriptCheck{Run: "test -e ~/done"}}
	poke := make(chan struct{}, 1)
	out := watchStep(t, e, &Watcher{Tick: time.Hour, Poke: poke}, hist)
	if got := statuses(next(t, out)); got != "pf=fail" {
		t.Fatalf("first results %s; want pf=fail", got)
	}
	e.exec.set(answer("", "", 0, nil))
	quiet(t, out, 100*time.Millisecond) // no tick, no watch: nothing yet
	poke <- struct{}{}
	if got := statuses(next(t, out)); got != "pf=pass" {
		t.Errorf("after the poke: %s; want pf=pass", got)
	}
}

func TestWatcherWatchError(t *testing.T) {
	e := newEnv(pod("web-1", "web", "10.244.0.5", "ready"))
	var fail atomic.Bool
	fail.Store(true)
	e.client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		if fail.Load() {
			return true, nil, errors.New("too many requests")
		}
		return false, nil, nil
	})
	out := watchStep(t, e, &Watcher{Tick: time.Hour}, webReady)
	got := next(t, out)
	want := "kindlab could not watch pods in namespace default; kindlab tries again in a moment (not a problem with your work)"
	if got[0].Status != Error || got[0].Message != want || !strings.Contains(got[0].Detail, "too many requests") {
		t.Fatalf("results %+v; want an error %q with the cause in its detail", got, want)
	}
	fail.Store(false) // the watch comes back after its backoff
	if got := statuses(next(t, out)); got != "web=pass" {
		t.Errorf("after the watch recovered: %s; want web=pass", got)
	}
}

func TestWatcherRestartsEndedWatch(t *testing.T) {
	e := newEnv()
	var starts atomic.Int32
	watchers := make(chan *watch.FakeWatcher, 4)
	e.client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		starts.Add(1)
		fw := watch.NewFake()
		watchers <- fw
		return true, fw, nil
	})
	out := watchStep(t, e, &Watcher{Debounce: -1, Tick: time.Hour}, webReady)
	next(t, out)
	(<-watchers).Stop() // the API server ends the watch
	fw := <-watchers    // and the Watcher starts another
	if _, err := e.client.CoreV1().Pods("default").Create(context.Background(), pod("web-1", "web", "10.244.0.5", "ready"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fw.Add(pod("web-1", "web", "10.244.0.5", "ready"))
	if got := statuses(next(t, out)); got != "web=pass" {
		t.Errorf("after the restarted watch's event: %s; want web=pass", got)
	}
	if n := starts.Load(); n != 2 {
		t.Errorf("watch started %d times; want 2", n)
	}
}

// BenchmarkCheckLatency measures the time from a change on the (fake) API
// server to the Result on the Watcher's channel: the pod of a pods check
// turns ready and unready in turn.
func BenchmarkCheckLatency(b *testing.B) {
	for _, debounce := range []time.Duration{-1, DefaultDebounce} {
		name := "debounce=" + debounce.String()
		if debounce < 0 {
			name = "debounce=none"
		}
		b.Run(name, func(b *testing.B) {
			p := pod("web-1", "web", "10.244.0.5", "running")
			// The simple clientset: NewClientset's field management would cost
			// more per update than the whole path measured here.
			e := newEnvWith(fake.NewSimpleClientset(p), p)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := make(chan []Result, 1)
			w := &Watcher{Engine: e.engine, Debounce: debounce, Tick: time.Hour}
			go w.Watch(ctx, StepState{Namespace: "default"}, []labs.Check{webReady}, out)
			next(b, out)
			pods := e.client.CoreV1().Pods("default")
			ready := false
			for b.Loop() {
				ready = !ready
				p.Status.Conditions[0].Status = map[bool]corev1.ConditionStatus{true: corev1.ConditionTrue, false: corev1.ConditionFalse}[ready]
				if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
					b.Fatal(err)
				}
				want := map[bool]Status{true: Pass, false: Fail}[ready]
				for r := next(b, out); r[0].Status != want; r = next(b, out) {
				}
			}
		})
	}
}

// TestWatcherPokeCommandsFirst: on a poke, command checks (which read no
// cluster) are sent at once with the other results as last seen, before a slow
// check's new evaluation ends; that evaluation follows.
func TestWatcherPokeCommandsFirst(t *testing.T) {
	e := newEnv()
	e.exec.set(answer("", "", 0, nil))
	var mu sync.Mutex
	var cmds []shellmark.Command
	state := StepState{Namespace: "default", Commands: func() []shellmark.Command {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(cmds)
	}}
	checks := []labs.Check{
		{ID: "slow", Kind: labs.KindScript, Script: &labs.ScriptCheck{Run: "sleep 1"}},
		{ID: "ran", Kind: labs.KindCommand, Command: &labs.CommandCheck{Command: labs.OneOrMore{"kubectl get endpoints homepage"}}},
	}
	poke := make(chan struct{}, 1)
	out := make(chan []Result)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&Watcher{Engine: e.engine, Tick: time.Hour, Poke: poke}).Watch(ctx, state, checks, out)
	if got := statuses(next(t, out)); got != "slow=pass ran=fail" {
		t.Fatalf("first results %s", got)
	}
	release := make(chan struct{})
	e.exec.set(func(ctx context.Context, _, _, _ string, _ []string) (string, string, int, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return "", "", 0, nil
	})
	mu.Lock()
	cmds = append(cmds, shellmark.Command{Line: "kubectl get ep homepage", Exit: 0})
	mu.Unlock()
	poke <- struct{}{}
	select {
	case r := <-out:
		if got := statuses(r); got != "slow=pass ran=pass" {
			t.Errorf("after the poke: %s; want the command check passed, the slow one as last seen", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the command check waited for the slow check")
	}
	close(release)
}
