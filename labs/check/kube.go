package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/jsonpath"

	"github.com/kindlab/kindlab/internal/podstatus"
	"github.com/kindlab/kindlab/labs"
)

// listPods returns the pods of selector in ns that are not being deleted,
// sorted by name. A pod being deleted is on its way out: it counts neither
// for a pods check nor as a survivor for a replaced check.
func (e *Engine) listPods(ctx context.Context, ns, selector string) ([]corev1.Pod, error) {
	list, err := e.cfg.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, apiError(err)
	}
	pods := slices.DeleteFunc(list.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods, nil
}

func isRunning(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil
}

func isReady(p *corev1.Pod) bool {
	return isRunning(p) && podstatus.Ready(p)
}

func podIPs(p *corev1.Pod) []string {
	var ips []string
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = append(ips, p.Status.PodIP)
	}
	return ips
}

// plural returns "1 pod" or "3 pods".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func (e *Engine) resource(ctx context.Context, ns string, r *labs.ResourceCheck) (string, error) {
	if e.cfg.Dynamic == nil {
		return "", errors.New("resource checks need a dynamic client, and none is configured")
	}
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return "", fmt.Errorf("invalid apiVersion %q in the lab: %w", r.APIVersion, err)
	}
	gvr := gv.WithResource(r.Resource)
	namespaced, err := e.namespaced(ctx, gvr)
	if err != nil {
		return "", err
	}
	what, where := r.Resource+"/"+r.Name, ""
	ri := e.cfg.Dynamic.Resource(gvr)
	get := ri.Get
	if namespaced {
		where = " in namespace " + ns
		get = ri.Namespace(ns).Get
	}
	obj, err := get(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && r.Absent:
		return fmt.Sprintf("%s does not exist%s", what, where), nil
	case apierrors.IsNotFound(err):
		return "", failf("%s does not exist%s", what, where)
	case err != nil:
		return "", apiError(err)
	case r.Absent && obj.GetDeletionTimestamp() != nil:
		return "", failf("%s is being deleted%s; expected it to be gone", what, where)
	case r.Absent:
		return "", failf("%s still exists%s; expected it to be gone", what, where)
	}
	var found []string
	for _, f := range r.Fields {
		got, err := jsonPathValue(obj.Object, f.Path)
		if err != nil {
			return "", failf("%s%s has no %s; %s", what, where, f.Path, expectation(f))
		}
		switch {
		case f.Equals != nil && got != *f.Equals:
			return "", failf("%s of %s is %q; %s", f.Path, what, got, expectation(f))
		case f.Equals == nil:
			re, err := regexp.Compile(f.Matches)
			if err != nil {
				return "", fmt.Errorf("invalid regexp %q in the lab: %w", f.Matches, err)
			}
			if !re.MatchString(got) {
				return "", failf("%s of %s is %q; %s", f.Path, what, got, expectation(f))
			}
		}
		found = append(found, fmt.Sprintf("%s is %q", f.Path, got))
	}
	msg := fmt.Sprintf("%s exists%s", what, where)
	if len(found) > 0 {
		msg += ": " + strings.Join(found, ", ")
	}
	return msg, nil
}

func expectation(f labs.FieldMatch) string {
	if f.Equals != nil {
		return fmt.Sprintf("%q expected", *f.Equals)
	}
	return fmt.Sprintf("expected to match %s", f.Matches)
}

func jsonPathValue(obj map[string]any, path string) (string, error) {
	jp := jsonpath.New("field")
	if err := jp.Parse(path); err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := jp.Execute(&b, obj); err != nil {
		return "", err
	}
	return b.String(), nil
}

// namespaced asks discovery (once per resource) whether gvr is namespaced.
func (e *Engine) namespaced(ctx context.Context, gvr schema.GroupVersionResource) (bool, error) {
	e.mu.Lock()
	v, ok := e.scopes[gvr]
	e.mu.Unlock()
	if ok {
		return v, nil
	}
	list, err := e.cfg.Client.Discovery().ServerResourcesForGroupVersionWithContext(ctx, gvr.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, fmt.Errorf("the API server does not serve %s", gvr.GroupVersion())
	}
	if err != nil {
		return false, apiError(err)
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource {
			e.mu.Lock()
			e.scopes[gvr] = r.Namespaced
			e.mu.Unlock()
			return r.Namespaced, nil
		}
	}
	return false, fmt.Errorf("the API server has no resource %q in %s", gvr.Resource, gvr.GroupVersion())
}

func (e *Engine) pods(ctx context.Context, ns string, p *labs.PodsCheck) (string, error) {
	pods, err := e.listPods(ctx, ns, p.Selector)
	if err != nil {
		return "", err
	}
	running, ready := 0, 0
	for i := range pods {
		if isRunning(&pods[i]) {
			running++
		}
		if isReady(&pods[i]) {
			ready++
		}
	}
	var want []string
	ok := true
	for _, x := range []struct {
		what string
		want *int
		got  int
	}{{"running", p.Running, running}, {"ready", p.Ready, ready}} {
		if x.want == nil {
			continue
		}
		if p.Min {
			want = append(want, fmt.Sprintf("at least %d %s", *x.want, x.what))
			ok = ok && x.got >= *x.want
		} else {
			want = append(want, fmt.Sprintf("%d %s", *x.want, x.what))
			ok = ok && x.got == *x.want
		}
	}
	expected := strings.Join(want, " and ") + " expected"
	if len(pods) == 0 {
		if ok {
			return fmt.Sprintf("no pods match %s in namespace %s, as expected", p.Selector, ns), nil
		}
		return "", failf("no pods match %s in namespace %s; %s", p.Selector, ns, expected)
	}
	verb := "match"
	if len(pods) == 1 {
		verb = "matches"
	}
	found := fmt.Sprintf("%s %s %s in namespace %s: %d running, %d ready", plural(len(pods), "pod"), verb, p.Selector, ns, running, ready)
	if !ok {
		return "", failf("%s; %s", found, expected)
	}
	return found, nil
}

func (e *Engine) endpoints(ctx context.Context, st StepState, ns string, c *labs.EndpointsCheck) (string, error) {
	svc, err := e.cfg.Client.CoreV1().Services(ns).Get(ctx, c.Service, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", failf("Service %s does not exist in namespace %s", c.Service, ns)
	}
	if err != nil {
		return "", apiError(err)
	}
	eps, err := e.cfg.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + c.Service,
	})
	if err != nil {
		return "", apiError(err)
	}
	endpoints, addrs := readyEndpoints(eps.Items)
	n := len(endpoints)
	found := fmt.Sprintf("Service %s has %s", c.Service, plural(n, "ready endpoint"))
	if c.Ready != nil && n != *c.Ready {
		return "", failf("%s; %d expected", found, *c.Ready)
	}
	if c.NewPods {
		before, ok := st.Endpoints[podSetKey(ns, c.Service)]
		if !ok {
			return "", fmt.Errorf("there is no record of the endpoints of Service %s from when the step began; restart the step", c.Service)
		}
		if old := endpointsAmong(endpoints, before); len(old) > 0 {
			return "", failf("Service %s still sends traffic to %s, which it had when the step began; expected only pods that are new since", c.Service, list(old))
		}
		if n == 0 {
			return "", failf("Service %s has no ready endpoint yet; expected the new pods", c.Service)
		}
	}
	if !c.MatchPods {
		if c.NewPods {
			return found + ", all new since the step began", nil
		}
		return found, nil
	}
	if len(svc.Spec.Selector) == 0 {
		return "", failf("Service %s has no selector, so its endpoints follow no pods; expected a selector matching its pods", c.Service)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector).String()
	pods, err := e.listPods(ctx, ns, sel)
	if err != nil {
		return "", err
	}
	var ips []string
	for i := range pods {
		if isReady(&pods[i]) {
			ips = append(ips, podIPs(&pods[i])...)
		}
	}
	slices.Sort(ips)
	if len(ips) == 0 {
		return "", failf("no ready pods match the selector %s of Service %s; expected its endpoints to be the IPs of ready pods", sel, c.Service)
	}
	if !slices.Equal(addrs, ips) {
		return "", failf("the ready endpoints of Service %s (%s) are not the IPs of the ready pods its selector %s picks (%s)",
			c.Service, list(addrs), sel, list(ips))
	}
	return fmt.Sprintf("%s, the IPs of its ready pods (%s)", found, list(ips)), nil
}

// readyEndpointKeys returns the keys (as readyEndpoints has them) of the
// ready endpoints of Service service, sorted; none when it does not exist.
func (e *Engine) readyEndpointKeys(ctx context.Context, ns, service string) ([]string, error) {
	eps, err := e.cfg.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service,
	})
	if err != nil {
		return nil, err
	}
	ready, _ := readyEndpoints(eps.Items)
	return slices.Sorted(maps.Keys(ready)), nil
}

// endpointsAmong describes the endpoints (as readyEndpoints returns them)
// whose key is one of keys, sorted.
func endpointsAmong(endpoints map[string]string, keys []string) []string {
	var found []string
	for _, k := range keys {
		if what, ok := endpoints[k]; ok {
			found = append(found, what)
		}
	}
	slices.Sort(found)
	return found
}

// readyEndpoints returns the ready endpoints of slices, keyed by pod UID (by
// address when there is no pod), each described as "10.244.0.5 (pod
// homepage-abc)", and their sorted, distinct addresses.
func readyEndpoints(items []discoveryv1.EndpointSlice) (map[string]string, []string) {
	endpoints := map[string]string{}
	seen := map[string]bool{}
	var addrs []string
	for _, s := range items {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready || len(ep.Addresses) == 0 {
				continue
			}
			key, what := ep.Addresses[0], ep.Addresses[0]
			if ep.TargetRef != nil && ep.TargetRef.UID != "" {
				key = string(ep.TargetRef.UID)
				what += " (pod " + ep.TargetRef.Name + ")"
			}
			endpoints[key] = what
			for _, a := range ep.Addresses {
				if !seen[a] {
					seen[a] = true
					addrs = append(addrs, a)
				}
			}
		}
	}
	slices.Sort(addrs)
	return endpoints, addrs
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func (e *Engine) replaced(ctx context.Context, st StepState, ns string, r *labs.ReplacedCheck) (string, error) {
	before, ok := st.Pods[podSetKey(ns, r.Selector)]
	if !ok {
		return "", fmt.Errorf("there is no record of the pods of %s from when the step began; restart the step", r.Selector)
	}
	old := map[types.UID]bool{}
	var oldNames []string
	for _, p := range before.Pods {
		old[p.UID] = true
		oldNames = append(oldNames, p.Name)
	}
	pods, err := e.listPods(ctx, ns, r.Selector)
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", failf("no pods match %s in namespace %s; expected a replacement for %s", r.Selector, ns, list(oldNames))
	}
	var kept, fresh []string
	ready := 0
	for i, p := range pods {
		if old[p.UID] {
			kept = append(kept, p.Name)
		} else {
			fresh = append(fresh, p.Name)
		}
		if isReady(&pods[i]) {
			ready++
		}
	}
	switch {
	case len(fresh) == 0:
		return "", failf("pods of %s are the same as when the step began (%s); expected a replacement", r.Selector, list(kept))
	case len(kept) > 0:
		return "", failf("pods of %s still include %s from when the step began; expected every one replaced", r.Selector, list(kept))
	case r.SameCount && ready != before.Ready:
		return "", failf("%s of %s %s ready; %d expected, as when the step began", plural(ready, "new pod"), r.Selector, isAre(ready), before.Ready)
	}
	return fmt.Sprintf("pods of %s were replaced: %s %s new", r.Selector, list(fresh), isAre(len(fresh))), nil
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
