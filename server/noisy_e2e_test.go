//go:build e2e

package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
)

// TestE2ENoisyLearner types, into a learner's real terminal, everything we
// know of that takes more than a learner's share without escaping: each row
// of the table is refused (with kindlab's or the kubelet's words) or
// contained in the learner's own cluster. Meanwhile a second learner on the
// same host works on; their keystroke echo and command end → green, measured
// before and while the noisy learner's memory hogs and busy loops run, stay
// within 1.5 times the quiet figures (and a small absolute allowance for the
// timer's noise). The host's free disk and memory come back to within a stated
// margin once the noisy learner's work is gone.
func TestE2ENoisyLearner(t *testing.T) {
	const diskBudget = 256 << 20 // small, so that three pods pass it quickly
	p := startPlatform(t, func(c *session.Config) { c.DiskBudget = diskBudget })
	quiet := newBusyLearner(t, p)
	defer quiet.close()
	if sess, err := p.db.Session(context.Background(), quiet.sid); err == nil {
		p.m.handOverCluster(sess.Cluster) // the quiet learner's, unlike the noisy one's, is as a lab leaves it
	}
	waitPoolIdle(t, p)
	quietGreen, quietEcho := measureWork(t, p, quiet)
	t.Logf("the second learner, quiet: command end → green p50 %v, keystroke echo p50 %v", quietGreen, quietEcho)

	diskBefore, memBefore := hostFreeDiskMiB(t), meminfo(t)["MemAvailable"]/1024
	// The noisy learner is in a workshop; its dashboard is opened again at
	// the end (a page left open would take CPU from the measurements).
	bctx, cancel := newBrowser(t)
	defer cancel()
	code := openDashboard(t, bctx, p)
	dashboard, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if err := doEach(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	c, sessionURL := joinWorkshop(t, p, code, "Noisy")
	sid := sessionID(t, strings.TrimPrefix(sessionURL, p.URL))
	waitReady(t, p, sid, "")
	conn := openTerminal(t, c, sessionURL)
	defer conn.Close()
	limitEvents, stopLimits := followLimits(t, c, sessionURL)
	defer stopLimits()
	sh := &shell{t: t, conn: conn, wait: 3 * time.Minute}
	node := learnerNode(t, p, sid)
	sh.must(fmt.Sprintf(`NODE=%s`, nodeIP(t, node)))
	const img = `--image=kindlab/toolbox:lab --image-pull-policy=Never`
	const deployImg = `--image=kindlab/toolbox:lab` // IfNotPresent for a tag other than latest: the node has it

	// Each row runs cmd in the noisy learner's terminal; want is what its
	// output must hold: a refusal in kindlab's or the kubelet's words, or
	// the sign that the harm stayed inside the cluster.
	type row struct {
		name, cmd string
		refused   bool // cmd must fail
		want      string
	}
	rows := []row{
		{"fill the home folder", `dd if=/dev/zero of=$HOME/big bs=1M count=400; R=$?; ls -s --block-size=M $HOME/big; rm -f $HOME/big; (exit $R)`,
			true, "No space left on device"},
		// 200 MiB: past the pod's own 32Mi, under the test's disk budget (the
		// kubelet's eviction, not kindlab's delete, stops it; more would be
		// either's, whichever looked first).
		{"a pod filling its disk",
			`kubectl run filler ` + img + ` -- sh -c 'dd if=/dev/zero of=/tmp/big bs=1M count=200; sleep 1d' >/dev/null &&
			 kubectl wait --for=jsonpath='{.status.reason}'=Evicted pod/filler --timeout=50s >/dev/null &&
			 kubectl get pod filler -o jsonpath='{.status.message}'`,
			false, "ephemeral local storage usage exceeds"},
		// Three pods, each under its own limit, hold 360 MiB in all against
		// the 256 MiB budget: kindlab deletes one (bare pods: none comes
		// back), and only one, as the rest fit.
		{"pods holding more than the disk budget in all",
			`for i in 1 2 3; do kubectl run fill$i ` + img + ` --overrides='{"spec":{"containers":[{"name":"fill","image":"kindlab/toolbox:lab","imagePullPolicy":"Never","command":["sh","-c","dd if=/dev/zero of=/tmp/big bs=1M count=120; sleep 1d"],"resources":{"limits":{"ephemeral-storage":"200Mi"}}}]}}' >/dev/null; done;
			 for s in $(seq 90); do n=$(kubectl get pods -o name | grep -c '^pod/fill[0-9]$'); [ "$n" -lt 3 ] && break; sleep 1; done; sleep 25;
			 echo "LEFT$n STILL$(kubectl get pods -o name | grep -c '^pod/fill[0-9]$')"`,
			false, "LEFT2 STILL2"},
		{"a critical priority class",
			`kubectl run crit ` + img + ` --overrides='{"spec":{"priorityClassName":"system-node-critical"}}' -- sleep 1d`,
			true, "kindlab: pods in a learner cluster cannot choose a priority class"},
		{"a critical priority class through a Deployment",
			`kubectl create deployment crit ` + deployImg + ` --dry-run=client -o json -- sleep 1d | jq '.spec.template.spec.priorityClassName="system-node-critical"' | kubectl create -f -`,
			true, "kindlab: pods in a learner cluster cannot choose a priority class"},
		{"externalIPs on the node's address",
			`kubectl create service clusterip hijack --tcp=6443:6443 --dry-run=client -o json | jq --arg ip "$NODE" '.spec.externalIPs=[$ip]' | kubectl create -f -`,
			true, "kindlab: Services in a learner cluster cannot take externalIPs"},
		{"too many namespaces",
			`R=0; for i in $(seq 1 12); do kubectl create namespace many$i >/dev/null || { R=1; break; }; done; (exit $R)`,
			true, "kindlab: you have 10 namespaces of your own, the most a learner may hold"},
		// Every kind of object a learner may make is counted by the
		// namespace's quota, so what they can store in etcd is bounded.
		{"ConfigMaps past the namespace's quota",
			`R=0; for i in $(seq 1 25); do kubectl create configmap many$i --from-literal=k=v >/dev/null || { R=1; break; }; done; (exit $R)`,
			true, "exceeded quota: kindlab-quota"},
		{"a CPU busy loop in several pods",
			`kubectl create deployment spin --replicas=4 ` + deployImg + ` -- sh -c 'while :; do :; done' >/dev/null && kubectl rollout status deploy/spin --timeout=50s`,
			false, "successfully rolled out"},
		// Last, as it may leave the learner's own cluster unanswering for a
		// while (checked from outside, below): each hog holds 380 MiB as its
		// container's main process, under its own 512Mi limit and asking for
		// 16Mi (the scheduler places pods by what they ask, within the node's
		// allocatable memory, which the eviction threshold makes the budget);
		// ten of them pass the node's budget. All ten are sent in one
		// request, before the first holds its memory (one by one, the last
		// creates could wait on a cluster already at its limit).
		{"memory hogs across many namespaces",
			`for i in 1 2 3 4 5 6 7 8 9 10; do
			   kubectl -n many$i create deployment hog ` + deployImg + ` --dry-run=client -o json -- perl -e 'vec($x, 380*1024*1024-1, 8) = 1; sleep 86400' |
			   jq '.spec.template.spec.containers[0].resources={"requests":{"memory":"16Mi"},"limits":{"memory":"512Mi"}}';
			 done | jq -s '{apiVersion: "v1", kind: "List", items: .}' > $HOME/hogs.json && echo HOGS$(kubectl create -f $HOME/hogs.json | grep -c '^deployment.apps/hog created$')`,
			false, "HOGS10"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			sh.t = t
			out, rc := sh.run(oneLine(r.cmd))
			if r.refused && rc == 0 {
				t.Fatalf("allowed (exit 0); want it refused:\n%s", out)
			}
			if !strings.Contains(out, r.want) {
				t.Errorf("the terminal lacks %q:\n%s", r.want, out)
			}
		})
	}
	sh.t = t

	// The instructor's dashboard, opened now (before the hogs above can cost
	// the learner their cluster, whose replacement clears it), shows the
	// latest limit on the noisy learner's row: the pod deleted past the disk
	// budget, or already one of the hogs.
	note := fmt.Sprintf(`document.querySelector('[data-testid="limit-%s"]')`, sid)
	if err := doEach(bctx, chromedp.Navigate(dashboard)); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, note+` && /^hit a limit: ((pod|container) \S+ |a command was refused: )/.test(`+note+`.textContent.trim())`, 30*time.Second); err != nil {
		text, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Errorf("the dashboard does not show the noisy learner's limit: %v\n%s", err, text)
	}
	if err := doEach(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}

	// The budget is held outside the learner's reach: the node's memory and
	// CPU limits, and the node's memory never passed its limit while its pods
	// asked for 3.8 GiB beside what the cluster itself uses (the kubelet
	// evicting them first, or the kernel's OOM killer in the node's cgroup).
	var limits struct{ mem, cpus int64 }
	out, err := exec.Command("docker", "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", node).Output()
	if _, serr := fmt.Sscan(string(out), &limits.mem, &limits.cpus); err != nil || serr != nil ||
		limits.mem != cluster.DefaultBudget.Memory || limits.cpus != int64(cluster.DefaultBudget.CPUs*1e9) {
		t.Errorf("the noisy learner's node limits: %q, %v; want %s", out, err, cluster.DefaultBudget)
	}
	// The hogs take the node up to where its kubelet evicts (the limit less
	// cluster.EvictionMargin; an idle node uses about 700 MiB) or to the
	// limit, as they start (slowly: the busy loops hold the node's CPU), and
	// never past it: cgroup v1 charges in batches, so its peak may pass the
	// limit by a few pages.
	evictAt := limits.mem - cluster.EvictionMargin
	peak := nodeMemoryPeak(t, node)
	for deadline := time.Now().Add(2 * time.Minute); peak < evictAt-256<<20 && time.Now().Before(deadline); peak = nodeMemoryPeak(t, node) {
		time.Sleep(2 * time.Second)
	}
	time.Sleep(15 * time.Second)   // the rest start, and the kubelet evicts
	peak = nodeMemoryPeak(t, node) // the most it ever used: it only grows
	t.Logf("the noisy learner's node: peak memory %d MiB, its limit %d MiB", peak>>20, limits.mem>>20)
	if peak > limits.mem+16<<20 || peak < evictAt-256<<20 {
		t.Errorf("the noisy node's peak memory is %d MiB; want it between where its kubelet evicts (%d MiB) and its limit (%d MiB), and not past the limit", peak>>20, evictAt>>20, limits.mem>>20)
	}

	// The second learner, while the hogs and the busy loops run.
	waitPoolIdle(t, p)
	busyGreen, busyEcho := measureWork(t, p, quiet)
	t.Logf("the second learner, while the noisy learner's hogs and busy loops run: command end → green p50 %v (quiet %v, %.2fx), keystroke echo p50 %v (quiet %v, %.2fx)",
		busyGreen, quietGreen, ratio(busyGreen, quietGreen), busyEcho, quietEcho, ratio(busyEcho, quietEcho))
	if limit := quietGreen*3/2 + 250*time.Millisecond; busyGreen > limit {
		t.Errorf("command end → green for the second learner went from %v to %v (limit %v)", quietGreen, busyGreen, limit)
	}
	if limit := quietEcho*3/2 + 20*time.Millisecond; busyEcho > limit {
		t.Errorf("keystroke echo for the second learner went from %v to %v (limit %v)", quietEcho, busyEcho, limit)
	}
	if n := countEvents(t, p, quiet.sid, activity.KindLost); n != 0 {
		t.Errorf("the second learner's cluster was lost %d times", n)
	}
	if n := countEvents(t, p, sid, activity.KindLost); n != 0 {
		t.Logf("the noisy learner's own cluster was lost %d times (their memory hogs)", n)
	}

	// The noisy learner's page was told of the pod their budget evicted, of
	// the one kindlab deleted past the disk budget and of the API server's
	// refusals by their budget (the instructor's dashboard hears the same
	// events), away from the terminal.
	want := []*regexp.Regexp{
		regexp.MustCompile(`^pod default/filler was evicted by its node: Pod ephemeral local storage usage exceeds`),
		regexp.MustCompile(`^pod default/fill[123] was deleted: your pods held [0-9.]+Mi on disk in all, more than your cluster's 256Mi`),
		regexp.MustCompile(`^a command was refused: kindlab: pods in a learner cluster cannot choose a priority class`),
		regexp.MustCompile(`^a command was refused: kindlab: Services in a learner cluster cannot take externalIPs`),
		regexp.MustCompile(`^a command was refused: kindlab: you have 10 namespaces of your own`),
		regexp.MustCompile(`^a command was refused: exceeded quota: kindlab-quota, requested: configmaps=1, used: configmaps=20, limited: configmaps=20$`),
	}
	var told []string
	untold := func() []string {
		var left []string
		for _, re := range want {
			if !slices.ContainsFunc(told, re.MatchString) {
				left = append(left, re.String())
			}
		}
		return left
	}
	for deadline := time.After(30 * time.Second); len(untold()) > 0; {
		select {
		case s := <-limitEvents:
			told = append(told, s)
		case <-deadline:
			t.Fatalf("the noisy learner's page was told of limits %q; not of %q", told, untold())
		}
	}
	t.Logf("the noisy learner's page was told: %q", told)
	if n := countEvents(t, p, sid, activity.KindLimit); n < len(want) {
		t.Errorf("%d limit events stored for the noisy learner; want at least the %d the page was told", n, len(want))
	}

	// The noisy learner ends their lab: their cluster goes back to the pool,
	// which deletes it.
	resp, err := c.PostForm(sessionURL+"/end", url.Values{"csrf": {pageCSRF(t, c, sessionURL)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// What the noisy learner took comes back.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		disk, mem := hostFreeDiskMiB(t), meminfo(t)["MemAvailable"]/1024
		if disk > diskBefore-1024 && mem > memBefore-1536 {
			t.Logf("host free disk %d MiB (before %d), memory available %d MiB (before %d)", disk, diskBefore, mem, memBefore)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("2 minutes after the noisy learner's work went: free disk %d MiB (before %d, margin 1024), memory available %d MiB (before %d, margin 1536)",
				disk, diskBefore, mem, memBefore)
		}
		time.Sleep(5 * time.Second)
	}
}

// measureWork has the busy learner visit step 3 and pass it three times and
// type 15 keystrokes, and returns the medians of command end → green and of
// the keystroke echo.
func measureWork(t *testing.T, p *platform, l *busyLearner) (green, echo time.Duration) {
	t.Helper()
	var greens, echoes durations
	for range 3 {
		g, _ := l.greenRound(t, p)
		greens = append(greens, g)
		echoes = append(echoes, l.echoes(t, 5)...)
	}
	return greens.p(50), echoes.p(50)
}

// oneLine joins a command written over several lines: a Tab typed into the
// terminal would ask bash for completions, a newline run what came before.
func oneLine(cmd string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\n", " ", "\t", " ").Replace(cmd)), " ")
}

// waitPoolIdle waits until the pool makes no cluster: a cluster being made
// takes the host's CPU before it has a budget, and the test measures what
// one learner costs another.
func waitPoolIdle(t *testing.T, p *platform) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Minute); p.Pool.Stats().Creating > 0; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("the pool still makes clusters after 5 minutes: %+v", p.Pool.Stats())
		}
	}
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, 1)) }

// learnerNode is the node container of session sid's cluster.
func learnerNode(t *testing.T, p *platform, sid string) string {
	t.Helper()
	sess, err := p.db.Session(context.Background(), sid)
	if err != nil || sess.Cluster == "" {
		t.Fatalf("session %s: %+v, %v", sid, sess, err)
	}
	return sess.Cluster + "-control-plane"
}

// nodeIP is a node container's address on its cluster's network.
func nodeIP(t *testing.T, node string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", node).Output()
	if err != nil || len(strings.Fields(string(out))) == 0 {
		t.Fatalf("the address of %s: %v %q", node, err, out)
	}
	return strings.Fields(string(out))[0]
}

// nodeMemoryPeak is the most memory a node container has used (cgroup v1's
// max_usage_in_bytes, v2's memory.peak), read from the host.
func nodeMemoryPeak(t *testing.T, node string) int64 {
	t.Helper()
	id, err := exec.Command("docker", "inspect", "-f", "{{.Id}}", node).Output()
	if err != nil {
		t.Fatalf("the node's container: %v", err)
	}
	for _, file := range []string{"/sys/fs/cgroup/memory/docker/%s/memory.max_usage_in_bytes", "/sys/fs/cgroup/system.slice/docker-%s.scope/memory.peak"} {
		data, err := os.ReadFile(fmt.Sprintf(file, strings.TrimSpace(string(id))))
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err == nil {
			return n
		}
	}
	t.Fatalf("no memory peak for %s in the host's cgroups", node)
	return 0
}

// hostFreeDiskMiB is the free space where the Docker engine keeps its data.
func hostFreeDiskMiB(t *testing.T) int64 {
	t.Helper()
	root := "/var/lib/docker"
	if out, err := exec.Command("docker", "info", "-f", "{{.DockerRootDir}}").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		root = strings.TrimSpace(string(out))
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize >> 20
}

// followLimits reads a session's event stream and sends the text of every
// limit event on the channel it returns, until cancel.
func followLimits(t *testing.T, c *http.Client, sessionURL string) (<-chan string, func()) {
	t.Helper()
	out := make(chan string, 64)
	cancel := followStream(t, c, sessionURL, func(name, data string) {
		var l session.Limit
		if name == string(session.EventLimit) && json.Unmarshal([]byte(data), &l) == nil {
			select {
			case out <- l.Text:
			default:
			}
		}
	})
	return out, cancel
}
