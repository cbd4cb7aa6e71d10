package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kindlab/kindlab/internal/proxylimit"
	"github.com/kindlab/kindlab/labs"
)

// defaultContainerAnnotation names the container kubectl exec picks by default.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// target is a pod resolved from a check's target or from.
type target struct {
	name      string // as written in the check, e.g. "deploy/sleep"
	namespace string
	pod       string
	container string
}

// resolveTarget picks a running pod (a ready one when there is a choice) for
// a target in ns.
func (e *Engine) resolveTarget(ctx context.Context, ns, spec, container string) (target, error) {
	t, err := labs.ParseTarget(spec)
	if err != nil {
		return target{}, fmt.Errorf("invalid target in the lab: %w", err)
	}
	var pods []corev1.Pod
	switch t.Kind {
	case labs.TargetDeployment:
		d, err := e.cfg.Client.AppsV1().Deployments(ns).Get(ctx, t.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return target{}, failf("Deployment %s does not exist in namespace %s", t.Name, ns)
		}
		if err != nil {
			return target{}, apiError(err)
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return target{}, failf("Deployment %s has an invalid selector: %v", t.Name, err)
		}
		if pods, err = e.listPods(ctx, ns, sel.String()); err != nil {
			return target{}, err
		}
	case labs.TargetPod:
		p, err := e.cfg.Client.CoreV1().Pods(ns).Get(ctx, t.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return target{}, failf("pod %s does not exist in namespace %s", t.Name, ns)
		}
		if err != nil {
			return target{}, apiError(err)
		}
		pods = []corev1.Pod{*p}
	default:
		if pods, err = e.listPods(ctx, ns, t.Selector); err != nil {
			return target{}, err
		}
	}
	var pick *corev1.Pod
	for i := range pods {
		if isReady(&pods[i]) {
			pick = &pods[i]
			break
		}
		if pick == nil && isRunning(&pods[i]) {
			pick = &pods[i]
		}
	}
	if pick == nil {
		return target{}, failf("no running pod for %s in namespace %s", spec, ns)
	}
	if container == "" {
		container = pick.Annotations[defaultContainerAnnotation]
	}
	if container == "" && len(pick.Spec.Containers) > 0 {
		container = pick.Spec.Containers[0].Name
	}
	return target{name: spec, namespace: ns, pod: pick.Name, container: container}, nil
}

// runIn execs cmd in t; what names the command in messages. A transport failure is an error; a command that ran too
// long is a failure (it usually waits on something the learner has to fix).
func (e *Engine) runIn(ctx context.Context, t target, cmd []string, what string) (stdout, stderr string, code int, err error) {
	if e.cfg.Exec == nil {
		return "", "", 0, errors.New("no exec is configured")
	}
	stdout, stderr, code, err = e.cfg.Exec.Exec(ctx, t.namespace, t.pod, t.container, cmd)
	switch {
	case err == nil:
		return stdout, stderr, code, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "", "", 0, failf("%s in %s did not finish within %s", what, t.name, e.cfg.RunTimeout)
	case apierrors.IsNotFound(err):
		return "", "", 0, fmt.Errorf("pod %s went away while the check ran", t.pod)
	}
	return "", "", 0, faultf(err, "kindlab could not run %s in pod %s", what, t.pod)
}

func (e *Engine) exec(ctx context.Context, ns string, x *labs.ExecCheck) (string, error) {
	t, err := e.resolveTarget(ctx, ns, x.Target, x.Container)
	if err != nil {
		return "", err
	}
	ph := e.placeholders(ctx, ns, false)
	contains, err := ph.Expand("contains", x.Contains)
	if err != nil {
		return "", err
	}
	notContains, err := ph.Expand("notContains", x.NotContains)
	if err != nil {
		return "", err
	}
	pattern, err := e.placeholders(ctx, ns, true).Expand("matches", x.Matches)
	if err != nil {
		return "", err
	}
	what := "`" + x.Command + "`"
	stdout, stderr, code, err := e.runIn(ctx, t, []string{"sh", "-c", x.Command}, what)
	if err != nil {
		return "", err
	}
	if code != x.ExitCode {
		return "", failf("%s in %s exited with %d; %d expected (it printed: %s)", what, t.name, code, x.ExitCode, excerpt(stdout+"\n"+stderr))
	}
	if contains != "" && !strings.Contains(stdout, contains) {
		return "", failf("%s in %s printed %s; expected it to contain %q", what, t.name, excerpt(stdout), contains)
	}
	if notContains != "" && strings.Contains(stdout, notContains) {
		return "", failf("%s in %s printed %s; expected it not to contain %q", what, t.name, excerpt(stdout), notContains)
	}
	if pattern != "" {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return "", fmt.Errorf("invalid regexp %q in the lab: %w", pattern, err)
		}
		// A trailing newline is not part of what a command "prints" for $.
		if !re.MatchString(strings.TrimRight(stdout, "\r\n")) {
			return "", failf("%s in %s printed %s; expected it to match %s", what, t.name, excerpt(stdout), pattern)
		}
	}
	return fmt.Sprintf("%s in %s exited with %d and printed %s", what, t.name, code, excerpt(stdout)), nil
}

// placeholders resolves {{clusterIP}} and {{podIP}} in ns; quoted for regexps.
func (e *Engine) placeholders(ctx context.Context, ns string, quote bool) labs.Placeholders {
	q := func(s string) string {
		if quote {
			return regexp.QuoteMeta(s)
		}
		return s
	}
	return labs.Placeholders{
		ClusterIP: func(name string) (string, error) {
			svc, err := e.cfg.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return "", failf("Service %s does not exist in namespace %s", name, ns)
			}
			if err != nil {
				return "", apiError(err)
			}
			if !hasClusterIP(svc) {
				return "", failf("Service %s has no ClusterIP", name)
			}
			return q(svc.Spec.ClusterIP), nil
		},
		PodIP: func(selector string) (string, error) {
			pods, err := e.listPods(ctx, ns, selector)
			if err != nil {
				return "", err
			}
			for i := range pods {
				if isReady(&pods[i]) && pods[i].Status.PodIP != "" {
					return q(pods[i].Status.PodIP), nil
				}
			}
			return "", failf("no ready pod matches %s in namespace %s", selector, ns)
		},
	}
}

func hasClusterIP(svc *corev1.Service) bool {
	ip := svc.Spec.ClusterIP
	return ip != "" && ip != corev1.ClusterIPNone
}

// excerpt quotes the start of a command's output for a message.
func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "nothing"
	}
	return strconv.Quote(shorten(s, 120))
}

func (e *Engine) dns(ctx context.Context, ns string, c *labs.DNSCheck) (string, error) {
	what := "nslookup " + c.Name
	if c.Resolves != nil && !*c.Resolves {
		t, addrs, _, err := e.nslookup(ctx, ns, c)
		if err != nil {
			return "", err
		}
		if len(addrs) > 0 {
			return "", failf("%s from %s returned %s; expected the name not to resolve", what, t.name, strings.Join(addrs, ", "))
		}
		return fmt.Sprintf("%s from %s found no address, as expected", what, t.name), nil
	}
	svcNS := c.ServiceNamespace
	if svcNS == "" {
		svcNS = ns
	}
	svc, err := e.cfg.Client.CoreV1().Services(svcNS).Get(ctx, c.Service, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		missing := "no ClusterIP"
		if c.Answers == labs.AnswersReadyPods {
			missing = "no pod IPs"
		}
		return "", failf("Service %s does not exist in namespace %s, so %s has %s to find", c.Service, svcNS, what, missing)
	}
	if err != nil {
		return "", apiError(err)
	}
	var want []string
	var expected string
	if c.Answers == labs.AnswersReadyPods {
		pods, err := e.selectedPods(ctx, svcNS, svc)
		if err != nil {
			return "", err
		}
		for _, p := range pods {
			if isReady(&p) {
				want = append(want, podIPs(&p)...)
			}
		}
		slices.Sort(want)
		expected = fmt.Sprintf("the IPs of the ready pods of Service %s (%s)", c.Service, listOrNone(want))
	} else {
		if !hasClusterIP(svc) {
			return "", failf("Service %s is headless (it has no ClusterIP); expected a ClusterIP for %s to return", c.Service, what)
		}
		want = append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...)
		expected = fmt.Sprintf("the ClusterIP of Service %s (%s)", c.Service, svc.Spec.ClusterIP)
	}
	t, addrs, out, err := e.nslookup(ctx, ns, c)
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", failf("%s from %s found no address (%s); expected %s", what, t.name, nslookupError(out), expected)
	}
	if c.Records != nil && len(addrs) != *c.Records {
		return "", failf("%s from %s returned %d addresses (%s); expected %d", what, t.name, len(addrs), strings.Join(addrs, ", "), *c.Records)
	}
	if c.Answers == labs.AnswersReadyPods {
		got := slices.Sorted(slices.Values(addrs))
		if !slices.Equal(slices.Compact(got), slices.Compact(want)) {
			return "", failf("%s from %s returned %s; expected %s", what, t.name, strings.Join(got, ", "), expected)
		}
		return fmt.Sprintf("%s from %s returned %s, %s", what, t.name, strings.Join(got, ", "), expected), nil
	}
	for _, a := range addrs {
		if slices.Contains(want, a) {
			return fmt.Sprintf("%s from %s returned %s, %s", what, t.name, a, expected), nil
		}
	}
	return "", failf("%s from %s returned %s; expected %s", what, t.name, strings.Join(addrs, ", "), expected)
}

// nslookup looks c.Name up from c.From; out is what nslookup printed.
func (e *Engine) nslookup(ctx context.Context, ns string, c *labs.DNSCheck) (target, []string, string, error) {
	t, err := e.resolveTarget(ctx, ns, c.From, "")
	if err != nil {
		return t, nil, "", err
	}
	stdout, stderr, _, err := e.runIn(ctx, t, []string{"nslookup", c.Name}, "nslookup "+c.Name)
	if err != nil {
		return t, nil, "", err
	}
	return t, nslookupAddresses(stdout), stdout + "\n" + stderr, nil
}

// selectedPods lists the pods a Service's selector matches.
func (e *Engine) selectedPods(ctx context.Context, ns string, svc *corev1.Service) ([]corev1.Pod, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, failf("Service %s has no selector, so no pods are its own", svc.Name)
	}
	return e.listPods(ctx, ns, labels.SelectorFromSet(svc.Spec.Selector).String())
}

func listOrNone(ips []string) string {
	if len(ips) == 0 {
		return "none ready"
	}
	return strings.Join(ips, ", ")
}

var nslookupAddr = regexp.MustCompile(`^Address(?:\s+\d+)?:\s*(\S+)`)

// nslookupAddresses returns the addresses of the answers in nslookup's
// output (bind or busybox), skipping the server's own address.
func nslookupAddresses(out string) []string {
	var addrs []string
	answers := false
	for l := range strings.SplitSeq(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "Name:") {
			answers = true
			continue
		}
		m := nslookupAddr.FindStringSubmatch(l)
		if !answers || m == nil {
			continue
		}
		addr, _, _ := strings.Cut(m[1], "#")
		if net.ParseIP(addr) != nil {
			addrs = append(addrs, addr)
		}
	}
	return addrs
}

// nslookupError returns nslookup's reason for finding nothing.
func nslookupError(out string) string {
	for l := range strings.SplitSeq(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "**") || strings.Contains(l, "timed out") {
			return strings.TrimSpace(strings.Trim(l, "*"))
		}
	}
	return "no answer"
}

func (e *Engine) http(ctx context.Context, ns string, h *labs.HTTPCheck) (string, error) {
	svc, err := e.cfg.Client.CoreV1().Services(ns).Get(ctx, h.Service, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", failf("Service %s does not exist in namespace %s", h.Service, ns)
	}
	if err != nil {
		return "", apiError(err)
	}
	port, err := servicePort(svc, h.Port)
	if err != nil {
		return "", err
	}
	path, status := h.Path, h.Status
	if path == "" {
		path = labs.DefaultHTTPPath
	}
	if status == 0 {
		status = labs.DefaultHTTPStatus
	}
	var what, body, detail string
	var code int
	var cut bool
	if h.From == "" {
		what = fmt.Sprintf("GET %s on Service %s port %d through the API server", path, h.Service, port.Port)
		code, body, cut, detail, err = e.proxyGet(ctx, ns, h.Service, port, path)
	} else {
		what = fmt.Sprintf("GET http://%s.%s:%d%s", h.Service, ns, port.Port, path)
		var t target
		if t, err = e.resolveTarget(ctx, ns, h.From, ""); err == nil {
			what += " from " + t.name
			code, body, err = e.curl(ctx, t, what, fmt.Sprintf("http://%s.%s:%d%s", h.Service, ns, port.Port, path))
		}
	}
	if err != nil {
		return "", err
	}
	if code != status {
		return "", failf("%s answered %d%s; %d expected", what, code, detail, status)
	}
	answered := fmt.Sprintf("%s answered %d", what, code)
	if cut {
		answered += fmt.Sprintf(" with more than %d MiB, read that far and cut", MaxBody>>20)
	}
	if h.Contains != "" && !strings.Contains(body, h.Contains) {
		if cut {
			return "", failf("%s; expected the page to contain %q", answered, h.Contains)
		}
		return "", failf("%s with %s; expected the page to contain %q", answered, excerpt(body), h.Contains)
	}
	return answered, nil
}

// MaxBody is as much of a Service's answer as an http check reads through
// the API server: a Service that answers without end is cut there, and the
// check says so. The connection's transport reads no further
// (proxylimit.Wrap), whatever the answer.
const MaxBody = proxylimit.MaxBody

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// servicePort finds a port of svc by name or number; "" is the first port.
func servicePort(svc *corev1.Service, want string) (corev1.ServicePort, error) {
	if len(svc.Spec.Ports) == 0 {
		return corev1.ServicePort{}, failf("Service %s has no ports", svc.Name)
	}
	if want == "" {
		return svc.Spec.Ports[0], nil
	}
	var have []string
	for _, p := range svc.Spec.Ports {
		if p.Name == want || strconv.Itoa(int(p.Port)) == want {
			return p, nil
		}
		have = append(have, strconv.Itoa(int(p.Port)))
	}
	return corev1.ServicePort{}, failf("Service %s has no port %s (it has %s)", svc.Name, want, strings.Join(have, ", "))
}

// proxyGet requests path from a Service through the API server's proxy and
// reads at most MaxBody of its answer (cut says it was longer). A successful
// answer is taken as 200: client-go hides the exact 2xx code. client-go reads
// an unsuccessful answer whole: proxylimit.Wrap bounds those.
func (e *Engine) proxyGet(ctx context.Context, ns, name string, port corev1.ServicePort, path string) (code int, body string, cut bool, detail string, err error) {
	p := strconv.Itoa(int(port.Port))
	if port.Name != "" {
		p = port.Name
	}
	rw := e.cfg.Client.CoreV1().Services(ns).ProxyGet("http", name, p, path, nil)
	if rw == nil {
		return 0, "", false, "", errors.New("the API server's service proxy is not available")
	}
	rc, err := rw.Stream(ctx)
	if err == nil {
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, MaxBody+1))
		if err != nil && len(b) <= MaxBody {
			return 0, "", false, "", faultf(err, "kindlab could not read the answer of Service %s", name)
		}
		return 200, string(b[:min(len(b), MaxBody)]), len(b) > MaxBody, "", nil
	}
	var st apierrors.APIStatus
	if !errors.As(err, &st) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return 0, "", false, "", apiError(err)
	}
	s := st.Status()
	if s.Message != "" {
		detail = " (" + shorten(s.Message, 200) + ")"
	}
	return int(s.Code), s.Message, false, detail, nil
}

// curlExit explains curl's usual exit codes.
func curlExit(code int) string {
	switch code {
	case 6:
		return "could not resolve the host name"
	case 7:
		return "could not connect"
	case 28:
		return "timed out"
	case 52:
		return "got an empty reply"
	case 56:
		return "the connection was reset"
	}
	return fmt.Sprintf("curl exited with %d", code)
}

// curl requests url from inside t and returns the status code and body.
func (e *Engine) curl(ctx context.Context, t target, what, url string) (int, string, error) {
	cmd := []string{"curl", "-sS", "--max-time", "5", "-w", `\n%{http_code}`, url}
	stdout, stderr, code, err := e.runIn(ctx, t, cmd, "curl")
	if err != nil {
		return 0, "", err
	}
	if code == 126 || code == 127 {
		return 0, "", fmt.Errorf("curl is not available in pod %s", t.pod)
	}
	if code != 0 {
		return 0, "", failf("%s failed: %s (%s)", what, curlExit(code), strings.TrimSpace(stderr))
	}
	body, last, _ := cutLast(stdout, "\n")
	status, err := strconv.Atoi(strings.TrimSpace(last))
	if err != nil {
		return 0, "", fmt.Errorf("unexpected curl output in pod %s: %s", t.pod, excerpt(stdout))
	}
	return status, body, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}

// workstation returns the learner's workstation as a target.
func (e *Engine) workstation() (target, error) {
	w := e.cfg.Workstation
	if w.Pod == "" {
		return target{}, errors.New("no workstation pod is configured")
	}
	return target{name: "the workstation", namespace: w.Namespace, pod: w.Pod, container: w.Container}, nil
}

func (e *Engine) script(ctx context.Context, s *labs.ScriptCheck) (string, error) {
	t, err := e.workstation()
	if err != nil {
		return "", err
	}
	stdout, stderr, code, err := e.runIn(ctx, t, []string{"bash", "-c", s.Run}, "the check script")
	if err != nil {
		return "", err
	}
	if code == 0 {
		return "the check script passed", nil
	}
	for _, out := range []string{stdout, stderr} {
		var msg string
		for l := range strings.SplitSeq(out, "\n") {
			if m, ok := strings.CutPrefix(strings.TrimSpace(l), "FAIL:"); ok {
				msg = strings.TrimSpace(m)
			}
		}
		if msg != "" {
			return "", failf("%s", msg)
		}
	}
	return "", failf("the check script exited with %d (it printed: %s)", code, excerpt(stdout+"\n"+stderr))
}
