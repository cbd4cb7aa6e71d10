package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Per-cluster costs measured on a 2-core host (see docs/performance.md): an idle
// single-node cluster holds about 530 MiB and a fifth of a core; creating one keeps a
// core busy for half a minute.
const (
	clusterMemMiB       = 600
	clusterIdleMilliCPU = 200
	reserveMemMiB       = 1024 // left for the host, dockerd and kindlab itself
)

// Finding is one result of Doctor.
type Finding struct {
	Check  string
	OK     bool
	Detail string
	Fix    string // empty when OK
}

// Host is what Doctor reads about the machine; tests fake it.
type Host struct {
	ReadFile func(path string) ([]byte, error)
	NumCPU   int
	Docker   Docker
	// StateDir is kindlab's state folder, where BenchmarkCapacity leaves the
	// capacity it measured (CapacityFile); empty: none is looked for.
	StateDir string
}

// LocalHost reads the real machine, and the measured capacity in stateDir.
func LocalHost(stateDir string) Host {
	return Host{ReadFile: os.ReadFile, NumCPU: runtime.NumCPU(), Docker: DockerCLI{}, StateDir: stateDir}
}

// Report is Doctor's verdict.
type Report struct {
	Findings []Finding
	// Fit is how many learner clusters this host can run at once.
	Fit int
	// Measured is the capacity BenchmarkCapacity measured on this host, when
	// there is one for a host like this one; Fit is then no more than it.
	Measured *Capacity
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, f := range r.Findings {
		if !f.OK {
			return false
		}
	}
	return true
}

// Doctor checks whether this host can run learner clusters with nodeImage and how
// many fit, with the fix for each problem found.
func Doctor(ctx context.Context, h Host, nodeImage string) Report {
	var r Report
	add := func(f Finding) { r.Findings = append(r.Findings, f) }

	var ver bytes.Buffer
	dockerOK := h.Docker.Run(ctx, &ver, "version", "--format", "{{.Server.Version}}") == nil
	if dockerOK {
		add(Finding{Check: "docker", OK: true, Detail: "Docker engine " + strings.TrimSpace(ver.String()) + " answers"})
	} else {
		add(Finding{Check: "docker", Detail: "no Docker engine answers", Fix: "run hack/ensure-docker.sh (installs Debian's docker.io and starts dockerd)"})
	}

	if status, err := h.ReadFile("/proc/self/status"); err == nil {
		if missing := missingCaps(string(status)); len(missing) > 0 {
			var rt bytes.Buffer
			wrapped := dockerOK && h.Docker.Run(ctx, &rt, "info", "--format", "{{.DefaultRuntime}}") == nil && strings.TrimSpace(rt.String()) == "kindlab-runc"
			f := Finding{Check: "capabilities", OK: wrapped,
				Detail: fmt.Sprintf("the capability bounding set lacks %s", strings.Join(missing, ", "))}
			if wrapped {
				f.Detail += "; dockerd uses the kindlab-runc wrapper, which drops them"
			} else {
				f.Fix = "privileged containers will fail: run hack/ensure-docker.sh to register the kindlab-runc wrapper as dockerd's default runtime"
			}
			add(f)
		} else {
			add(Finding{Check: "capabilities", OK: true, Detail: "full capability bounding set"})
		}
	}

	if dockerOK {
		var id bytes.Buffer
		if h.Docker.Run(ctx, &id, "image", "inspect", "--format", "{{.Id}}", nodeImage) != nil {
			add(Finding{Check: "node image", Detail: nodeImage + " is not built", Fix: "run kindlab images build (or make images)"})
		} else {
			add(Finding{Check: "node image", OK: true, Detail: nodeImage + " is present"})
			var out bytes.Buffer
			err := h.Docker.Run(ctx, &out, "run", "--rm", "--privileged", "--network=none", "--entrypoint", "/bin/true", nodeImage)
			if err != nil {
				add(Finding{Check: "privileged containers", Detail: err.Error(),
					Fix: "kind nodes run privileged: run hack/ensure-docker.sh; if it still fails, the host forbids privileged containers"})
			} else {
				add(Finding{Check: "privileged containers", OK: true, Detail: "a privileged container starts"})
			}
		}
	}

	for _, lim := range []struct {
		file string
		want int
	}{
		{"/proc/sys/fs/inotify/max_user_watches", 524288},
		{"/proc/sys/fs/inotify/max_user_instances", 512},
	} {
		got, err := readInt(h, lim.file)
		name := lim.file[strings.LastIndex(lim.file, "/")+1:]
		switch {
		case err != nil:
			add(Finding{Check: name, Detail: err.Error(), Fix: "cannot read " + lim.file})
		case got < lim.want:
			add(Finding{Check: name, Detail: fmt.Sprintf("fs.inotify.%s is %d; kind needs %d for several clusters", name, got, lim.want),
				Fix: fmt.Sprintf("sysctl -w fs.inotify.%s=%d (make it permanent in /etc/sysctl.d)", name, lim.want)})
		default:
			add(Finding{Check: name, OK: true, Detail: fmt.Sprintf("fs.inotify.%s is %d", name, got)})
		}
	}

	memMiB := 0
	if meminfo, err := h.ReadFile("/proc/meminfo"); err == nil {
		memMiB = memAvailableMiB(string(meminfo))
	}
	byMem := (memMiB - reserveMemMiB) / clusterMemMiB
	byCPU := h.NumCPU * 1000 * 3 / 4 / clusterIdleMilliCPU // keep a quarter for the host
	r.Fit = max(0, min(byMem, byCPU))
	f := Finding{Check: "capacity", OK: r.Fit >= 1,
		Detail: fmt.Sprintf("%d MiB available, %d CPUs: about %d learner clusters fit (memory allows %d, CPU %d, by estimate)", memMiB, h.NumCPU, r.Fit, max(0, byMem), byCPU)}
	if h.StateDir != "" {
		path := filepath.Join(h.StateDir, CapacityFile)
		switch c, ok, err := readCapacity(h.ReadFile, path); {
		case err != nil:
			add(Finding{Check: "measured capacity", Detail: err.Error(), Fix: "delete it and measure again: make capacity"})
		case ok && c.CPUs != h.NumCPU:
			add(Finding{Check: "measured capacity", OK: true, Detail: fmt.Sprintf("%s was measured on %d CPUs, this host has %d: not used (make capacity measures this one)", path, c.CPUs, h.NumCPU)})
		case ok:
			r.Measured = &c
			r.Fit = max(0, min(byMem, c.Learners))
			f.OK = r.Fit >= 1
			f.Detail = fmt.Sprintf("%d MiB available, %d CPUs: %d learners at work, measured %s (p95 command end to green %s, keystroke echo %s), memory allows %d",
				memMiB, h.NumCPU, r.Fit, c.Measured.Format(time.DateOnly), c.GreenP95, c.EchoP95, max(0, byMem))
		}
	}
	if !f.OK {
		f.Fix = fmt.Sprintf("a cluster needs about %d MiB and a fifth of a core: free memory or use a bigger host", clusterMemMiB)
	}
	add(f)
	return r
}

// Print writes the report for a person.
func (r Report) Print(w io.Writer) {
	for _, f := range r.Findings {
		mark := "ok  "
		if !f.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s %-22s %s\n", mark, f.Check, f.Detail)
		if f.Fix != "" {
			fmt.Fprintf(w, "     %-22s fix: %s\n", "", f.Fix)
		}
	}
}

func readInt(h Host, path string) (int, error) {
	data, err := h.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

func memAvailableMiB(meminfo string) int { return int(meminfoKB(meminfo, "MemAvailable") / 1024) }

// meminfoKB reads one field of /proc/meminfo's text, in kB (0 when absent).
func meminfoKB(meminfo, field string) int64 {
	for _, line := range strings.Split(meminfo, "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// missingCaps names the capabilities below CAP_LAST_CAP that CapBnd lacks; Docker asks
// for all of them for a privileged container.
func missingCaps(status string) []string {
	names := map[int]string{21: "CAP_SYS_ADMIN", 24: "CAP_SYS_RESOURCE", 12: "CAP_NET_ADMIN", 16: "CAP_SYS_MODULE", 25: "CAP_SYS_TIME"}
	for _, line := range strings.Split(status, "\n") {
		hex, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return nil
		}
		var missing []string
		for bit := 0; bit < 41; bit++ {
			if mask&(1<<bit) == 0 {
				name, ok := names[bit]
				if !ok {
					name = fmt.Sprintf("capability %d", bit)
				}
				missing = append(missing, name)
			}
		}
		return missing
	}
	return nil
}
