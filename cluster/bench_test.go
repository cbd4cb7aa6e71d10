//go:build e2e

package cluster_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/images"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/manifests"
	"github.com/kindlab/kindlab/workstation"
)

// BenchmarkClusterCreate reports the time to a Ready learner cluster with the node
// image present (s/create), where it goes (s/<phase>: kind's phases and
// kindlab's own, as Create times them), and the time to delete it (s/delete).
func BenchmarkClusterCreate(b *testing.B) {
	set := testImages(b)
	m := newManager(b, set)
	ctx := context.Background()
	var create, del time.Duration
	phases := map[string]time.Duration{}
	for i := 0; i < b.N; i++ {
		name := randomName("bench")
		start := time.Now()
		c, err := m.Create(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		create += time.Since(start)
		b.Logf("create %d: %s", i+1, c.Phases)
		for _, p := range c.Phases {
			phases[p.Name] += p.Took
		}
		start = time.Now()
		if err := m.Delete(ctx, name); err != nil {
			b.Fatal(err)
		}
		del += time.Since(start)
	}
	b.ReportMetric(create.Seconds()/float64(b.N), "s/create")
	for name, took := range phases {
		b.ReportMetric(took.Seconds()/float64(b.N), "s/"+strings.Join(strings.Fields(name), "-"))
	}
	b.ReportMetric(del.Seconds()/float64(b.N), "s/delete")
}

// BenchmarkClusterIdle brings up one cluster per step from kubeadm's defaults
// to every one of kindlab's Tunings, adding them one at a time, and one more
// with every tuning as a learner has it while working ("claimed": the platform
// objects and workstation, the numbers lab's two apps and Services running),
// and reports, side by side over the same 30 s a minute after the last became
// Ready, each one's memory (MiB/<step>, as docker stats counts it) and CPU
// (%cpu/<step>, of one core, from the node's cgroup). Side by side, the host's
// noise falls on every step alike.
func BenchmarkClusterIdle(b *testing.B) {
	set := testImages(b)
	ctx := context.Background()
	tunings := cluster.Tunings()
	var labels, nodes []string
	for i := 0; i <= len(tunings); i++ {
		var skip []string
		for _, t := range tunings[i:] {
			skip = append(skip, t.Name)
		}
		m, err := cluster.New(cluster.Options{NodeImage: set.Node, LabImages: set.LabImages(), KubeconfigDir: b.TempDir(), Skip: skip})
		if err != nil {
			b.Fatal(err)
		}
		name := randomName("idle")
		c, err := m.Create(ctx, name)
		if err != nil {
			b.Fatalf("with tunings %v skipped: %v", skip, err)
		}
		defer m.Delete(ctx, name)
		label := "defaults"
		if i > 0 {
			label = "+" + tunings[i-1].Name
		}
		labels, nodes = append(labels, label), append(nodes, c.Name+"-control-plane")
	}
	claimed, _ := claimedCluster(b, newManager(b, set))
	labels, nodes = append(labels, "claimed"), append(nodes, claimed+"-control-plane")
	time.Sleep(time.Minute)
	b.ResetTimer()
	reportNodes(b, labels, nodes, 30*time.Second)
}

// reportNodes measures, b.N times side by side over the same span, each
// node container's CPU (%cpu/<label>, of one core, from its cgroup) and then
// its memory (MiB/<label>, as docker stats counts it), and reports their means.
func reportNodes(b *testing.B, labels, nodes []string, span time.Duration) {
	b.Helper()
	mem, cpu := make([]float64, len(nodes)), make([]float64, len(nodes))
	for i := 0; i < b.N; i++ {
		before, start := make([]int64, len(nodes)), time.Now()
		for j, n := range nodes {
			before[j] = cpuUsage(b, n)
		}
		time.Sleep(span)
		took := time.Since(start)
		for j, n := range nodes {
			cpu[j] += 100 * float64(cpuUsage(b, n)-before[j]) / float64(took.Nanoseconds())
		}
		out, err := exec.Command("docker", append([]string{"stats", "--no-stream", "--format", "{{.MemUsage}}"}, nodes...)...).Output()
		if err != nil {
			b.Fatal(err)
		}
		for j, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			mem[j] += parseMiB(strings.TrimSpace(strings.Split(line, "/")[0]))
		}
	}
	for j, l := range labels {
		b.ReportMetric(mem[j]/float64(b.N), "MiB/"+l)
		b.ReportMetric(cpu[j]/float64(b.N), "%cpu/"+l)
	}
}

// claimedCluster makes a cluster with m and readies it as a learner working
// on the numbers lab has it: the platform objects and workstation, and the
// lab's API and web apps with their Services, Ready. It is deleted when b
// ends.
func claimedCluster(b *testing.B, m *cluster.Manager) (string, *workstation.Conn) {
	b.Helper()
	ctx := context.Background()
	name := randomName("claimed")
	c, err := m.Create(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Delete(ctx, name) })
	conn, err := workstation.Connect(c.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	platformFS, err := fs.Sub(manifests.FS(), "platform")
	if err != nil {
		b.Fatal(err)
	}
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		b.Fatal(err)
	}
	labFiles, err := platform.CatalogFiles(manifests.FS(), cat.Labs)
	if err != nil {
		b.Fatal(err)
	}
	if err := platform.Prepare(ctx, conn, platformFS, labFiles); err != nil {
		b.Fatalf("Prepare: %v", err)
	}
	apps := []string{"numbers/api.yaml", "numbers/api-service.yaml", "numbers/web.yaml", "numbers/web-service.yaml"}
	if err := platform.ApplySetup(ctx, conn, manifests.FS(), "default", apps); err != nil {
		b.Fatal(err)
	}
	for _, d := range []string{"numbers-api", "numbers-web"} {
		err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			dep, err := conn.Client.AppsV1().Deployments("default").Get(ctx, d, metav1.GetOptions{})
			return err == nil && dep.Status.ReadyReplicas > 0, nil
		})
		if err != nil {
			b.Fatalf("deployment %s never Ready: %v", d, err)
		}
	}
	return c.Name, conn
}

// BenchmarkBudgetIdleCost reports what a learner's budget costs a cluster a
// learner works in while it idles: two clusters readied as claimedCluster
// readies them, side by side, one with no budget, one with the default budget
// (the node's memory, CPU and PID limits, the kubelet's memory eviction) and
// looked over as kindlab looks over a learner's cluster every 10 s (a list of
// their pods and the kubelet's stats summary: session.watchLimits). It reports
// each one's memory (MiB/<which>, as docker stats counts it) and CPU
// (%cpu/<which>, of one core, from the node's cgroup) over the same 60 s a
// minute after both were ready, and kindlab's time for one look (ms/look).
func BenchmarkBudgetIdleCost(b *testing.B) {
	set := testImages(b)
	ctx := context.Background()
	plain, _ := claimedCluster(b, newManager(b, set))
	m, err := cluster.New(cluster.Options{NodeImage: set.Node, LabImages: set.LabImages(), KubeconfigDir: b.TempDir(), Budget: cluster.DefaultBudget})
	if err != nil {
		b.Fatal(err)
	}
	budgeted, conn := claimedCluster(b, m)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	looks := make(chan time.Duration, 64)
	go func() {
		defer close(looks)
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-tick.C:
			}
			start := time.Now()
			_, err := conn.Client.CoreV1().Pods("").List(lctx, metav1.ListOptions{})
			if err == nil {
				_, err = platform.PodsDiskUse(lctx, conn.Client)
			}
			if err != nil {
				if lctx.Err() == nil {
					b.Errorf("a look over the budgeted cluster: %v", err)
				}
				return
			}
			looks <- time.Since(start)
		}
	}()
	time.Sleep(time.Minute)
	nodes := []string{plain + "-control-plane", budgeted + "-control-plane"}
	b.ResetTimer()
	reportNodes(b, []string{"no-budget", "budget"}, nodes, time.Minute)
	b.StopTimer()
	stop()
	var total time.Duration
	n := 0
	for d := range looks {
		total += d
		n++
	}
	if n > 0 {
		b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms/look")
	}
}

// cpuUsage reads the CPU time a container has used, in nanoseconds, from its
// cgroup (v2, or v1's cpuacct, with either cgroup driver).
func cpuUsage(b *testing.B, container string) int64 {
	b.Helper()
	id, err := exec.Command("docker", "inspect", "--format", "{{.Id}}", container).Output()
	if err != nil {
		b.Fatal(err)
	}
	full := strings.TrimSpace(string(id))
	for _, dir := range []string{"/sys/fs/cgroup/cpu,cpuacct/docker/" + full, "/sys/fs/cgroup/cpuacct/docker/" + full} {
		if data, err := os.ReadFile(dir + "/cpuacct.usage"); err == nil {
			n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			return n
		}
	}
	for _, dir := range []string{"/sys/fs/cgroup/docker/" + full, "/sys/fs/cgroup/system.slice/docker-" + full + ".scope"} {
		if data, err := os.ReadFile(dir + "/cpu.stat"); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					return n * 1000
				}
			}
		}
	}
	b.Fatalf("no cgroup CPU accounting found for container %s", container)
	return 0
}

func parseMiB(s string) float64 {
	for _, u := range []struct {
		suffix string
		mul    float64
	}{{"GiB", 1024}, {"MiB", 1}, {"KiB", 1.0 / 1024}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f * u.mul
		}
	}
	return 0
}

// BenchmarkNetworkPerCluster measures what a Docker network of its own adds to a
// cluster's create and delete.
func BenchmarkNetworkPerCluster(b *testing.B) {
	for i := 0; i < b.N; i++ {
		name := randomName("kindlab-netbench")
		if out, err := exec.Command("docker", "network", "create", "--driver=bridge", "-o", "com.docker.network.bridge.enable_ip_masquerade=true", name).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		if out, err := exec.Command("docker", "network", "rm", name).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/network")
}

// BenchmarkPauseResume pauses a prepared cluster (the workstation running) for
// 20 s at a time and reports what a paused cluster costs (%cpu/paused, of one
// core, from its cgroup) and how soon after the resume it is usable again:
// ms/resume for docker unpause, ms/usable until a command runs in the
// workstation (what a learner's terminal needs) and the API server answers.
func BenchmarkPauseResume(b *testing.B) {
	set := testImages(b)
	m := newManager(b, set)
	ctx := context.Background()
	name := randomName("pause")
	c, err := m.Create(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Delete(ctx, name)
	conn, err := workstation.Connect(c.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	wd, _ := os.Getwd()
	src, _ := images.FindSource(wd)
	if err := platform.Prepare(ctx, conn, os.DirFS(filepath.Join(src, "manifests", "platform")), nil); err != nil {
		b.Fatalf("Prepare: %v", err)
	}
	node := c.Name + "-control-plane"
	const cycles = 5
	var resume, usable []time.Duration
	var pausedCPU float64
	b.ResetTimer()
	for i := 0; i < b.N*cycles; i++ {
		if err := m.Pause(ctx, c.Name); err != nil {
			b.Fatal(err)
		}
		before, start := cpuUsage(b, node), time.Now()
		time.Sleep(20 * time.Second)
		pausedCPU += 100 * float64(cpuUsage(b, node)-before) / float64(time.Since(start).Nanoseconds())
		start = time.Now()
		if err := m.Resume(ctx, c.Name); err != nil {
			b.Fatal(err)
		}
		resume = append(resume, time.Since(start))
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, _, code, err := conn.Exec(rctx, workstation.Namespace, workstation.Pod, workstation.Container, []string{"echo", "ok"})
		if err == nil && code == 0 {
			_, err = conn.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		}
		cancel()
		if err != nil || code != 0 || strings.TrimSpace(out) != "ok" {
			b.Fatalf("cycle %d: the workstation after a resume: %q, exit %d, %v", i+1, out, code, err)
		}
		usable = append(usable, time.Since(start))
		time.Sleep(3 * time.Second)
	}
	b.StopTimer()
	// Still healthy after every cycle: the node Ready, the workstation Ready.
	if err := conn.WaitReady(ctx, 30*time.Second); err != nil {
		b.Fatalf("after %d pauses: %v", len(usable), err)
	}
	slices.Sort(resume)
	slices.Sort(usable)
	b.ReportMetric(float64(resume[len(resume)/2].Milliseconds()), "ms/resume-p50")
	b.ReportMetric(float64(usable[len(usable)/2].Milliseconds()), "ms/usable-p50")
	b.ReportMetric(float64(usable[len(usable)-1].Milliseconds()), "ms/usable-max")
	b.ReportMetric(pausedCPU/float64(len(usable)), "%cpu/paused")
}
