package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kindlab/kindlab/internal/clock"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kindlab/kindlab/labs"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// execFunc answers the commands of a fakeExec.
type execFunc func(ctx context.Context, ns, pod, container string, cmd []string) (string, string, int, error)

// fakeExec records the commands it is asked to run.
type fakeExec struct {
	mu    sync.Mutex
	fn    execFunc
	calls []string // "ns/pod/container: cmd..."
}

func (f *fakeExec) Exec(ctx context.Context, ns, pod, container string, cmd []string) (string, string, int, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s/%s/%s: %s", ns, pod, container, strings.Join(cmd, " ")))
	fn := f.fn
	f.mu.Unlock()
	if fn == nil {
		return "", "", 0, errors.New("unexpected exec")
	}
	return fn(ctx, ns, pod, container, cmd)
}

func (f *fakeExec) set(fn execFunc) {
	f.mu.Lock()
	f.fn = fn
	f.mu.Unlock()
}

// answer returns an execFunc with fixed output.
func answer(stdout, stderr string, code int, err error) execFunc {
	return func(context.Context, string, string, string, []string) (string, string, int, error) {
		return stdout, stderr, code, err
	}
}

func ptr[T any](v T) *T { return &v }

// pod returns a pod of app=<app> in default; state is "ready", "running" or "pending".
func pod(name, app, ip, state string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	if state != "pending" {
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		ready := corev1.ConditionFalse
		if state == "ready" {
			ready = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}
	}
	return p
}

func terminating(p *corev1.Pod) *corev1.Pod {
	p.DeletionTimestamp = &metav1.Time{Time: t0}
	p.Finalizers = []string{"test"}
	return p
}

func service(name, app, clusterIP string, ports ...int32) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: clusterIP, ClusterIPs: []string{clusterIP}, Type: corev1.ServiceTypeClusterIP},
	}
	if app != "" {
		s.Spec.Selector = map[string]string{"app": app}
	}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", p), Port: p})
	}
	return s
}

// slice returns an EndpointSlice of svc; addresses ending in "!" are not ready.
func slice(svc string, addrs ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-abcde", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, a := range addrs {
		ip, notReady := strings.CutSuffix(a, "!")
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(!notReady)}})
	}
	return s
}

// ofPods names the pod of each endpoint of s, in order, as the EndpointSlice
// controller does.
func ofPods(s *discoveryv1.EndpointSlice, pods ...string) *discoveryv1.EndpointSlice {
	for i, name := range pods {
		s.Endpoints[i].TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: name, UID: types.UID(name + "-uid")}
	}
	return s
}

func deployment(name, app string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
	}
}

func namespaceObj(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// env is a fake cluster with an Engine over it.
type env struct {
	client *fake.Clientset
	dyn    *dynamicfake.FakeDynamicClient
	exec   *fakeExec
	engine *Engine
}

func newEnv(objs ...runtime.Object) *env {
	return newEnvWith(fake.NewClientset(objs...), objs...)
}

// newEnvWith builds an env over cs, which holds objs.
func newEnvWith(cs *fake.Clientset, objs ...runtime.Object) *env {
	cs.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "services", Kind: "Service", Namespaced: true},
			{Name: "pods", Kind: "Pod", Namespaced: true},
			{Name: "namespaces", Kind: "Namespace"},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "deployments", Kind: "Deployment", Namespaced: true}}},
	}
	e := &env{
		client: cs,
		dyn:    dynamicfake.NewSimpleDynamicClient(scheme.Scheme, objs...),
		exec:   &fakeExec{},
	}
	e.engine = New(Config{
		Client:      cs,
		Dynamic:     e.dyn,
		Exec:        e.exec,
		Workstation: Workstation{Namespace: "kindlab", Pod: "workstation", Container: "shell"},
		Clock:       clock.NewFake(t0),
		RunTimeout:  time.Second,
	})
	return e
}

// failWith makes every call of verb on resource fail with err.
func failWith(verb, resource string, err error) func(*env) {
	return func(e *env) {
		r := func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err }
		e.client.PrependReactor(verb, resource, r)
		e.dyn.PrependReactor(verb, resource, r)
	}
}

// proxy answers service proxy requests with body, or err.
func proxy(body string, err error) func(*env) {
	return func(e *env) {
		e.client.PrependProxyReactor("services", func(k8stesting.Action) (bool, rest.ResponseWrapper, error) {
			return true, fakeResponse{body: body, err: err}, nil
		})
	}
}

type fakeResponse struct {
	body string
	err  error
}

func (r fakeResponse) DoRaw(context.Context) ([]byte, error) { return []byte(r.body), r.err }
func (r fakeResponse) Stream(context.Context) (io.ReadCloser, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.body == endless {
		return io.NopCloser(zeros{}), nil
	}
	return io.NopCloser(strings.NewReader(r.body)), nil
}

// endless stands for an answer that never ends.
const endless = "\x00endless"

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

var errRefused = errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")

const apiDown = "kindlab could not reach your cluster's API server; kindlab tries again in a moment (not a problem with your work)"

func TestEvaluate(t *testing.T) {
	sleepDeploy := []runtime.Object{deployment("sleep", "sleep"), pod("sleep-abc", "sleep", "10.244.0.9", "ready")}
	withSleep := func(objs ...runtime.Object) []runtime.Object { return append(slices.Clone(sleepDeploy), objs...) }
	homepage := service("homepage", "web", "10.96.44.1", 80)
	nodePort := service("homepage", "web", "10.96.44.1", 80)
	nodePort.Spec.Type = corev1.ServiceTypeNodePort
	nodePort.Spec.Ports[0].NodePort = 30080
	began := StepState{Namespace: "default", Pods: map[string]PodSet{
		"default/app=sleep-2": {Pods: []PodRef{{Name: "sleep-2-abc", UID: "sleep-2-abc-uid"}}, Ready: 1},
	}, Endpoints: map[string][]string{"default/homepage": {"web-1-uid"}}}
	newPods := labs.Check{Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "homepage", MatchPods: true, NewPods: true}}
	nslookupOK := "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\thomepage.default.svc.cluster.local\nAddress: 10.96.44.1\n"
	nslookupOther := "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\thomepage.default.svc.cluster.local\nAddress: 10.96.0.12\n"
	nslookupPods := "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\thomepage.default.svc.cluster.local\nAddress: 10.244.0.6\nName:\thomepage.default.svc.cluster.local\nAddress: 10.244.0.5\n"
	headless := service("homepage", "web", "None")
	two, no := 2, false
	nslookupNX := "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\n** server can't find homepage: NXDOMAIN\n"

	tests := []struct {
		name   string
		objs   []runtime.Object
		setup  func(*env)
		exec   execFunc
		state  StepState
		check  labs.Check
		status Status
		msg    string
		cmd    string // the command exec'd, when set
	}{
		// resource
		{
			name:   "resource exists with field",
			objs:   []runtime.Object{nodePort},
			check:  labs.Check{Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "services", Name: "homepage", Fields: []labs.FieldMatch{{Path: "{.spec.type}", Equals: ptr("NodePort")}, {Path: "{.spec.ports[0].nodePort}", Matches: `^3\d{4}$`}}}},
			status: Pass,
			msg:    `services/homepage exists in namespace default: {.spec.type} is "NodePort", {.spec.ports[0].nodePort} is "30080"`,
		},
		{
			name:   "resource missing",
			check:  labs.Check{Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "services", Name: "homepage"}},
			status: Fail,
			msg:    "services/homepage does not exist in namespace default",
		},
		{
			name:   "resource field differs",
			objs:   []runtime.Object{homepage},
			check:  labs.Check{Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "services", Name: "homepage", Fields: []labs.FieldMatch{{Path: "{.spec.type}", Equals: ptr("NodePort")}}}},
			status: Fail,
			msg:    `{.spec.type} of services/homepage is "ClusterIP"; "NodePort" expected`,
		},
		{
			name:   "resource field does not match",
			objs:   []runtime.Object{homepage},
			check:  labs.Check{Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "services", Name: "homepage", Fields: []labs.FieldMatch{{Path: "{.spec.ports[0].port}", Matches: `^8080$`}}}},
			status: Fail,
			msg:    `{.spec.ports[0].port} of services/homepage is "80"; expected to match ^8080$`,
		},
		{
			name:   "resource field missing",
			objs:   []runtime.Object{homepage},
			check:  labs.Check{Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "services", Name: "homepage", Fields: []labs.FieldMatch{{Path: "{.spec.ports[0].nodePort}", Equals: ptr("30080")}}}},
			status: Fail,
			msg:    `services/homepage in namespace default has no {.spec.ports[0].nodePort}; "30080" expected`,
		},
		{
			name:   "resource absent passes",
			check:  labs.Check{Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "services", Name: "homepage", Absent: true}},
			status: Pass,
			msg:    "services/homepage does not exist in namespace default",
		},
		{
			name:   "resource absent fails",
			objs:   []runtime.Object{homepage},
			check:  labs.Check{Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "services", Name: "homepage", Absent: true}},
			status: Fail,
			msg:    "services/homepage still exists in namespace default; expected it to be gone",
		},
		{
			name:   "resource cluster-scoped",
			objs:   []runtime.Object{namespaceObj("web")},
			check:  labs.Check{Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "namespaces", Name: "web"}},
			status: Pass,
			msg:    "namespaces/web exists",
		},
		{
			name:   "resource API down",
			setup:  failWith("get", "services", errRefused),
			check:  labs.Check{Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "services", Name: "homepage"}},
			status: Error,
			msg:    apiDown,
		},
		{
			name:   "resource unknown to the API server",
			check:  labs.Check{Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "sevices", Name: "homepage"}},
			status: Error,
			msg:    `the API server has no resource "sevices" in v1 (not a problem with your work)`,
		},
		{
			name:   "check without its kind's fields",
			check:  labs.Check{Kind: labs.KindPods},
			status: Error,
			msg:    `check c of kind "pods" has no fields for its kind (not a problem with your work)`,
		},
		// pods
		{
			name:   "pods ready",
			objs:   []runtime.Object{pod("web-1", "web", "10.244.0.5", "ready"), pod("db-1", "db", "10.244.0.7", "ready")},
			check:  labs.Check{Kind: labs.KindPods, Pods: &labs.PodsCheck{Selector: "app=web", Ready: ptr(1)}},
			status: Pass,
			msg:    "1 pod matches app=web in namespace default: 1 running, 1 ready",
		},
		{
			name:   "pods none",
			check:  labs.Check{Kind: labs.KindPods, Pods: &labs.PodsCheck{Selector: "app=sleep-2", Ready: ptr(1)}},
			status: Fail,
			msg:    "no pods match app=sleep-2 in namespace default; 1 ready expected",
		},
		{
			name: "pods too few ready",
			objs: []runtime.Object{pod("web-1", "web", "10.244.0.5", "ready"), pod("web-2", "web", "10.244.0.6", "running"),
				pod("web-3", "web", "", "pending"), terminating(pod("web-0", "web", "10.244.0.4", "ready"))},
			check:  labs.Check{Kind: labs.KindPods, Pods: &labs.PodsCheck{Selector: "app=web", Running: ptr(3), Ready: ptr(3)}},
			status: Fail,
			msg:    "3 pods match app=web in namespace default: 2 running, 1 ready; 3 running and 3 ready expected",
		},
		{
			name:   "pods minimum",
			objs:   []runtime.Object{pod("web-1", "web", "10.244.0.5", "ready"), pod("web-2", "web", "10.244.0.6", "ready")},
			check:  labs.Check{Kind: labs.KindPods, Pods: &labs.PodsCheck{Selector: "app=web", Ready: ptr(3), Min: true}},
			status: Fail,
			msg:    "2 pods match app=web in namespace default: 2 running, 2 ready; at least 3 ready expected",
		},
		{
			name:   "pods API down",
			setup:  failWith("list", "pods", errRefused),
			check:  labs.Check{Kind: labs.KindPods, Pods: &labs.PodsCheck{Selector: "app=web", Ready: ptr(1)}},
			status: Error,
			msg:    apiDown,
		},
		// endpoints
		{
			name:   "endpoints ready",
			objs:   []runtime.Object{homepage, slice("homepage", "10.244.0.5", "10.244.0.6", "10.244.0.7", "10.244.0.8!"), slice("other", "10.244.1.1")},
			check:  labs.Check{Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "homepage", Ready: ptr(3)}},
			status: Pass,
			msg:    "Service homepage has 3 ready endpoints",
		},
		{
			name:   "endpoints too few",
			objs:   []runtime.Object{homepage, slice("homepage", "10.244.0.5", "10.244.0.6!")},
			check:  labs.Check{Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "homepage", Ready: ptr(3)}},
			status: Fail,
			msg:    "Service homepage has 1 ready endpoint; 3 expected",
		},
		{
			name:   "endpoints without service",
			check:  labs.Check{Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "homepage", Ready: ptr(1)}},
			status: Fail,
			msg:    "Service homepage does not exist in namespace default",
		},
		{
			name: "endpoints match pods",
			objs: []runtime.Object{homepage, slice("homepage", "10.244.0.6", "10.244.0.5"),
				pod("web-1", "web", "10.244.0.5", "ready"), pod("web-2", "web", "10.244.0.6", "ready"), pod("web-3", "web", "10.244.0.7", "running")},
			check:  labs.Check{Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "homepage", MatchPods: true}},
			status: Pass,
			msg:    "Service homepage has 2 ready endpoints, the IPs of its ready pods (10.244.0.5, 10.244.0.6)",
		},
		{
			name: "endpoints do not match pods",
			objs: []runtime.Object{homepage, slice("homepage", "10.244.0.5"),
				pod("web-1", "web", "10.244.0.5", "ready"), pod("web-2", "web", "10.244.0.6", "ready")},
			check:  labs.Check{Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "homepage", MatchPods: true}},
			status: Fail,
			msg:    "the ready endpoints of Service homepage (10.244.0.5) are not the IPs of the ready pods its selector app=web picks (10.244.0.5, 10.244.0.6)",
		},
		{
			name:   "endpoints still the pods of when the step began",
			objs:   []runtime.Object{homepage, ofPods(slice("homepage", "10.244.0.5", "10.244.0.6"), "web-1", "web-2"), pod("web-1", "web", "10.244.0.5", "ready"), pod("web-2", "web", "10.244.0.6", "ready")},
			state:  began,
			check:  newPods,
			status: Fail,
			msg:    "Service homepage still sends traffic to 10.244.0.5 (pod web-1), which it had when the step began; expected only pods that are new since",
		},
		{
			// The new pod may get the old one's IP: pods, not addresses, are compared.
			name:   "endpoints new pods, one on the old pod's IP",
			objs:   []runtime.Object{homepage, ofPods(slice("homepage", "10.244.0.5"), "web-2"), pod("web-2", "web", "10.244.0.5", "ready"), terminating(pod("web-1", "web", "10.244.0.5", "ready"))},
			state:  began,
			check:  newPods,
			status: Pass,
			msg:    "Service homepage has 1 ready endpoint, the IPs of its ready pods (10.244.0.5)",
		},
		{
			name:   "endpoints new pods, none ready yet",
			objs:   []runtime.Object{homepage, ofPods(slice("homepage", "10.244.0.6!"), "web-2"), pod("web-2", "web", "10.244.0.6", "running")},
			state:  began,
			check:  labs.Check{Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "homepage", NewPods: true}},
			status: Fail,
			msg:    "Service homepage has no ready endpoint yet; expected the new pods",
		},
		{
			name:   "endpoints new pods without a record",
			objs:   []runtime.Object{homepage, ofPods(slice("homepage", "10.244.0.6"), "web-2")},
			check:  newPods,
			status: Error,
			msg:    "there is no record of the endpoints of Service homepage from when the step began; restart the step (not a problem with your work)",
		},
		{
			name:   "endpoints API down",
			objs:   []runtime.Object{homepage},
			setup:  failWith("list", "endpointslices", errRefused),
			check:  labs.Check{Kind: labs.KindEndpoints, Endpoints: &labs.EndpointsCheck{Service: "homepage", Ready: ptr(1)}},
			status: Error,
			msg:    apiDown,
		},
		// replaced
		{
			name:   "replaced",
			objs:   []runtime.Object{pod("sleep-2-xyz", "sleep-2", "10.244.0.8", "ready"), terminating(pod("sleep-2-abc", "sleep-2", "10.244.0.5", "ready"))},
			state:  began,
			check:  labs.Check{Kind: labs.KindReplaced, Replaced: &labs.ReplacedCheck{Selector: "app=sleep-2", SameCount: true}},
			status: Pass,
			msg:    "pods of app=sleep-2 were replaced: sleep-2-xyz is new",
		},
		{
			name:   "replaced not yet",
			objs:   []runtime.Object{pod("sleep-2-abc", "sleep-2", "10.244.0.5", "ready")},
			state:  began,
			check:  labs.Check{Kind: labs.KindReplaced, Replaced: &labs.ReplacedCheck{Selector: "app=sleep-2"}},
			status: Fail,
			msg:    "pods of app=sleep-2 are the same as when the step began (sleep-2-abc); expected a replacement",
		},
		{
			name:   "replaced but not ready",
			objs:   []runtime.Object{pod("sleep-2-xyz", "sleep-2", "", "pending")},
			state:  began,
			check:  labs.Check{Kind: labs.KindReplaced, Replaced: &labs.ReplacedCheck{Selector: "app=sleep-2", SameCount: true}},
			status: Fail,
			msg:    "0 new pods of app=sleep-2 are ready; 1 expected, as when the step began",
		},
		{
			name:   "replaced gone",
			state:  began,
			check:  labs.Check{Kind: labs.KindReplaced, Replaced: &labs.ReplacedCheck{Selector: "app=sleep-2"}},
			status: Fail,
			msg:    "no pods match app=sleep-2 in namespace default; expected a replacement for sleep-2-abc",
		},
		{
			name:   "replaced without a record",
			check:  labs.Check{Kind: labs.KindReplaced, Replaced: &labs.ReplacedCheck{Selector: "app=sleep-2"}},
			status: Error,
			msg:    "there is no record of the pods of app=sleep-2 from when the step began; restart the step (not a problem with your work)",
		},
		// exec
		{
			name:   "exec passes",
			objs:   withSleep(homepage),
			exec:   answer("reached 10.96.44.1 (pod 10.244.0.9)\n", "", 0, nil),
			check:  labs.Check{Kind: labs.KindExec, Exec: &labs.ExecCheck{Target: "deploy/sleep", Command: "curl -s homepage", Contains: `{{clusterIP "homepage"}}`, Matches: `pod {{podIP "app=sleep"}}\)$`, NotContains: "error"}},
			status: Pass,
			msg:    "`curl -s homepage` in deploy/sleep exited with 0 and printed \"reached 10.96.44.1 (pod 10.244.0.9)\"",
			cmd:    "default/sleep-abc/main: sh -c curl -s homepage",
		},
		{
			name:   "exec wrong exit code",
			objs:   withSleep(),
			exec:   answer("", "ping: bad address 'sleep-2'\n", 1, nil),
			check:  labs.Check{Kind: labs.KindExec, Exec: &labs.ExecCheck{Target: "app=sleep", Command: "ping -c1 sleep-2"}},
			status: Fail,
			msg:    "`ping -c1 sleep-2` in app=sleep exited with 1; 0 expected (it printed: \"ping: bad address 'sleep-2'\")",
		},
		{
			name:   "exec output lacks the ClusterIP",
			objs:   withSleep(homepage),
			exec:   answer("10.96.0.1\n", "", 0, nil),
			check:  labs.Check{Kind: labs.KindExec, Exec: &labs.ExecCheck{Target: "pod/sleep-abc", Command: "getent hosts homepage", Contains: `{{clusterIP "homepage"}}`}},
			status: Fail,
			msg:    "`getent hosts homepage` in pod/sleep-abc printed \"10.96.0.1\"; expected it to contain \"10.96.44.1\"",
		},
		{
			name:   "exec placeholder Service missing",
			objs:   withSleep(),
			exec:   answer("", "", 0, nil),
			check:  labs.Check{Kind: labs.KindExec, Exec: &labs.ExecCheck{Target: "deploy/sleep", Command: "true", Contains: `{{clusterIP "homepage"}}`}},
			status: Fail,
			msg:    "Service homepage does not exist in namespace default",
		},
		{
			name:   "exec target missing",
			check:  labs.Check{Kind: labs.KindExec, Exec: &labs.ExecCheck{Target: "deploy/sleep", Command: "true"}},
			status: Fail,
			msg:    "Deployment sleep does not exist in namespace default",
		},
		{
			name:   "exec target not running",
			objs:   []runtime.Object{deployment("sleep", "sleep"), pod("sleep-abc", "sleep", "", "pending")},
			check:  labs.Check{Kind: labs.KindExec, Exec: &labs.ExecCheck{Target: "deploy/sleep", Command: "true"}},
			status: Fail,
			msg:    "no running pod for deploy/sleep in namespace default",
		},
		{
			name:  "exec hangs",
			objs:  withSleep(),
			setup: func(e *env) { e.engine.cfg.RunTimeout = 20 * time.Millisecond },
			exec: func(ctx context.Context, _, _, _ string, _ []string) (string, string, int, error) {
				<-ctx.Done()
				return "", "", -1, ctx.Err()
			},
			check:  labs.Check{Kind: labs.KindExec, Exec: &labs.ExecCheck{Target: "deploy/sleep", Command: "sleep 60"}},
			status: Fail,
			msg:    "`sleep 60` in deploy/sleep did not finish within 20ms",
		},
		{
			name:   "exec transport error",
			objs:   withSleep(),
			exec:   answer("", "", -1, errors.New("error dialing backend: EOF")),
			check:  labs.Check{Kind: labs.KindExec, Exec: &labs.ExecCheck{Target: "deploy/sleep", Command: "true"}},
			status: Error,
			msg:    "kindlab could not run `true` in pod sleep-abc; kindlab tries again in a moment (not a problem with your work)",
		},
		{
			name:   "exec pod gone",
			objs:   withSleep(),
			exec:   answer("", "", -1, apierrors.NewNotFound(corev1.Resource("pods"), "sleep-abc")),
			check:  labs.Check{Kind: labs.KindExec, Exec: &labs.ExecCheck{Target: "deploy/sleep", Command: "true"}},
			status: Error,
			msg:    "pod sleep-abc went away while the check ran (not a problem with your work)",
		},
		// dns
		{
			name:   "dns answers the ClusterIP",
			objs:   withSleep(homepage),
			exec:   answer(nslookupOK, "", 0, nil),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "homepage", From: "deploy/sleep", Service: "homepage"}},
			status: Pass,
			msg:    "nslookup homepage from deploy/sleep returned 10.96.44.1, the ClusterIP of Service homepage (10.96.44.1)",
			cmd:    "default/sleep-abc/main: nslookup homepage",
		},
		{
			name:   "dns answers another address",
			objs:   withSleep(homepage),
			exec:   answer(nslookupOther, "", 0, nil),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "homepage", From: "deploy/sleep", Service: "homepage"}},
			status: Fail,
			msg:    "nslookup homepage from deploy/sleep returned 10.96.0.12; expected the ClusterIP of Service homepage (10.96.44.1)",
		},
		{
			name:   "dns finds nothing",
			objs:   withSleep(homepage),
			exec:   answer(nslookupNX, "", 1, nil),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "homepage", From: "deploy/sleep", Service: "homepage"}},
			status: Fail,
			msg:    "nslookup homepage from deploy/sleep found no address (server can't find homepage: NXDOMAIN); expected the ClusterIP of Service homepage (10.96.44.1)",
		},
		{
			name:   "dns Service missing",
			objs:   withSleep(),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "homepage.web", From: "deploy/sleep", Service: "homepage", ServiceNamespace: "web"}},
			status: Fail,
			msg:    "Service homepage does not exist in namespace web, so nslookup homepage.web has no ClusterIP to find",
		},
		{
			name:   "dns exec error",
			objs:   withSleep(homepage),
			exec:   answer("", "", -1, errors.New("upgrade request required")),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "homepage", From: "deploy/sleep", Service: "homepage"}},
			status: Error,
			msg:    "kindlab could not run nslookup homepage in pod sleep-abc; kindlab tries again in a moment (not a problem with your work)",
		},
		{
			name:   "dns readyPods: the ready pods' IPs, not the not-ready one",
			objs:   withSleep(headless, pod("web-1", "web", "10.244.0.5", "ready"), pod("web-2", "web", "10.244.0.6", "ready"), pod("web-3", "web", "10.244.0.7", "running")),
			exec:   answer(nslookupPods, "", 0, nil),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "homepage", From: "deploy/sleep", Service: "homepage", Answers: labs.AnswersReadyPods, Records: &two}},
			status: Pass,
			msg:    "nslookup homepage from deploy/sleep returned 10.244.0.5, 10.244.0.6, the IPs of the ready pods of Service homepage (10.244.0.5, 10.244.0.6)",
		},
		{
			name:   "dns readyPods: a stale answer",
			objs:   withSleep(headless, pod("web-1", "web", "10.244.0.5", "ready"), pod("web-2", "web", "10.244.0.9", "ready")),
			exec:   answer(nslookupPods, "", 0, nil),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "homepage", From: "deploy/sleep", Service: "homepage", Answers: labs.AnswersReadyPods}},
			status: Fail,
			msg:    "nslookup homepage from deploy/sleep returned 10.244.0.5, 10.244.0.6; expected the IPs of the ready pods of Service homepage (10.244.0.5, 10.244.0.9)",
		},
		{
			name:   "dns records: one ClusterIP, not two",
			objs:   withSleep(homepage),
			exec:   answer(nslookupOK, "", 0, nil),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "homepage", From: "deploy/sleep", Service: "homepage", Records: &two}},
			status: Fail,
			msg:    "nslookup homepage from deploy/sleep returned 1 addresses (10.96.44.1); expected 2",
		},
		{
			name:   "dns resolves false: no answer",
			objs:   withSleep(),
			exec:   answer(nslookupNX, "", 1, nil),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "sleep-abc", From: "deploy/sleep", Resolves: &no}},
			status: Pass,
			msg:    "nslookup sleep-abc from deploy/sleep found no address, as expected",
		},
		{
			name:   "dns resolves false: it does resolve",
			objs:   withSleep(),
			exec:   answer(nslookupOK, "", 0, nil),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "homepage", From: "deploy/sleep", Resolves: &no}},
			status: Fail,
			msg:    "nslookup homepage from deploy/sleep returned 10.96.44.1; expected the name not to resolve",
		},
		{
			name:   "dns resolves false: the lookup cannot run",
			objs:   withSleep(),
			exec:   answer("", "", -1, errors.New("upgrade request required")),
			check:  labs.Check{Kind: labs.KindDNS, DNS: &labs.DNSCheck{Name: "homepage", From: "deploy/sleep", Resolves: &no}},
			status: Error,
			msg:    "kindlab could not run nslookup homepage in pod sleep-abc; kindlab tries again in a moment (not a problem with your work)",
		},
		// http
		{
			name:   "http through the proxy",
			objs:   []runtime.Object{homepage},
			setup:  proxy("<h1>Sign up</h1>", nil),
			check:  labs.Check{Kind: labs.KindHTTP, HTTP: &labs.HTTPCheck{Service: "homepage", Contains: "Sign up"}},
			status: Pass,
			msg:    "GET / on Service homepage port 80 through the API server answered 200",
		},
		{
			name:   "http through the proxy without endpoints",
			objs:   []runtime.Object{homepage},
			setup:  proxy("", apierrors.NewServiceUnavailable(`no endpoints available for service "homepage"`)),
			check:  labs.Check{Kind: labs.KindHTTP, HTTP: &labs.HTTPCheck{Service: "homepage", Port: "80", Path: "/"}},
			status: Fail,
			msg:    `GET / on Service homepage port 80 through the API server answered 503 (no endpoints available for service "homepage"); 200 expected`,
		},
		{
			name:   "http through the proxy: an endless answer is cut, and a text past the cut is not found",
			objs:   []runtime.Object{homepage},
			setup:  proxy(endless, nil),
			check:  labs.Check{Kind: labs.KindHTTP, HTTP: &labs.HTTPCheck{Service: "homepage", Contains: "Sign up"}},
			status: Fail,
			msg:    `GET / on Service homepage port 80 through the API server answered 200 with more than 1 MiB, read that far and cut; expected the page to contain "Sign up"`,
		},
		{
			name:   "http through the proxy: an endless answer without contains passes, and says it was cut",
			objs:   []runtime.Object{homepage},
			setup:  proxy(endless, nil),
			check:  labs.Check{Kind: labs.KindHTTP, HTTP: &labs.HTTPCheck{Service: "homepage"}},
			status: Pass,
			msg:    `GET / on Service homepage port 80 through the API server answered 200 with more than 1 MiB, read that far and cut`,
		},
		{
			name:   "http wrong port",
			objs:   []runtime.Object{homepage},
			check:  labs.Check{Kind: labs.KindHTTP, HTTP: &labs.HTTPCheck{Service: "homepage", Port: "8080"}},
			status: Fail,
			msg:    "Service homepage has no port 8080 (it has 80)",
		},
		{
			name:   "http proxy unreachable",
			objs:   []runtime.Object{homepage},
			setup:  proxy("", errRefused),
			check:  labs.Check{Kind: labs.KindHTTP, HTTP: &labs.HTTPCheck{Service: "homepage"}},
			status: Error,
			msg:    apiDown,
		},
		{
			name:   "http from a pod",
			objs:   withSleep(homepage),
			exec:   answer("<h1>Sign up</h1>\n200", "", 0, nil),
			check:  labs.Check{Kind: labs.KindHTTP, HTTP: &labs.HTTPCheck{Service: "homepage", Port: "p80", Path: "/signup", From: "deploy/sleep", Contains: "Sign up"}},
			status: Pass,
			msg:    "GET http://homepage.default:80/signup from deploy/sleep answered 200",
			cmd:    `default/sleep-abc/main: curl -sS --max-time 5 -w \n%{http_code} http://homepage.default:80/signup`,
		},
		{
			name:   "http from a pod without the text",
			objs:   withSleep(homepage),
			exec:   answer("<h1>Welcome</h1>\n200", "", 0, nil),
			check:  labs.Check{Kind: labs.KindHTTP, HTTP: &labs.HTTPCheck{Service: "homepage", From: "deploy/sleep", Contains: "Sign up"}},
			status: Fail,
			msg:    `GET http://homepage.default:80/ from deploy/sleep answered 200 with "<h1>Welcome</h1>"; expected the page to contain "Sign up"`,
		},
		{
			name:   "http from a pod cannot resolve",
			objs:   withSleep(homepage),
			exec:   answer("\n000", "curl: (6) Could not resolve host: homepage.default\n", 6, nil),
			check:  labs.Check{Kind: labs.KindHTTP, HTTP: &labs.HTTPCheck{Service: "homepage", From: "deploy/sleep"}},
			status: Fail,
			msg:    "GET http://homepage.default:80/ from deploy/sleep failed: could not resolve the host name (curl: (6) Could not resolve host: homepage.default)",
		},
		{
			name:   "http from a pod exec error",
			objs:   withSleep(homepage),
			exec:   answer("", "", -1, errors.New("EOF")),
			check:  labs.Check{Kind: labs.KindHTTP, HTTP: &labs.HTTPCheck{Service: "homepage", From: "deploy/sleep"}},
			status: Error,
			msg:    "kindlab could not run curl in pod sleep-abc; kindlab tries again in a moment (not a problem with your work)",
		},
		// script
		{
			name:   "script passes",
			exec:   answer("ok\n", "", 0, nil),
			check:  labs.Check{Kind: labs.KindScript, Script: &labs.ScriptCheck{Run: "true"}},
			status: Pass,
			msg:    "the check script passed",
			cmd:    "kindlab/workstation/shell: bash -c true",
		},
		{
			name:   "script fails with a message",
			exec:   answer("checking\nFAIL: first\nFAIL: homepage.yaml is gone\n", "", 1, nil),
			check:  labs.Check{Kind: labs.KindScript, Script: &labs.ScriptCheck{Run: "exit 1"}},
			status: Fail,
			msg:    "homepage.yaml is gone",
		},
		{
			name:   "script fails without a message",
			exec:   answer("", "grep: nope: No such file or directory\n", 2, nil),
			check:  labs.Check{Kind: labs.KindScript, Script: &labs.ScriptCheck{Run: "grep x nope"}},
			status: Fail,
			msg:    `the check script exited with 2 (it printed: "grep: nope: No such file or directory")`,
		},
		{
			name:   "script exec error",
			exec:   answer("", "", -1, errors.New("EOF")),
			check:  labs.Check{Kind: labs.KindScript, Script: &labs.ScriptCheck{Run: "true"}},
			status: Error,
			msg:    "kindlab could not run the check script in pod workstation; kindlab tries again in a moment (not a problem with your work)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(tt.objs...)
			if tt.setup != nil {
				tt.setup(e)
			}
			e.exec.set(tt.exec)
			if tt.state.Namespace == "" {
				tt.state.Namespace = "default"
			}
			tt.check.ID = "c"
			got := e.engine.Evaluate(context.Background(), tt.state, tt.check)
			want := Result{CheckID: "c", Status: tt.status, Message: tt.msg, At: t0}
			if got.Status == Error && got.Detail == "" {
				t.Error("an error result without its detail (the cause, for logs)")
			}
			got.Detail = ""
			if got != want {
				t.Errorf("Evaluate =\n  %s %q\nwant\n  %s %q", got.Status, got.Message, want.Status, want.Message)
			}
			if tt.cmd != "" && !slices.Equal(e.exec.calls, []string{tt.cmd}) {
				t.Errorf("exec calls = %q; want %q", e.exec.calls, tt.cmd)
			}
		})
	}
}
