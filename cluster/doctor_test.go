package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"strings"
	"testing"
)

// fakeDocker answers docker commands from a table keyed by the first argument(s).
type fakeDocker map[string]string

func (f fakeDocker) Run(_ context.Context, stdout io.Writer, args ...string) error {
	for n := len(args); n > 0; n-- {
		if out, ok := f[strings.Join(args[:n], " ")]; ok {
			if out == "ERR" {
				return errors.New("docker " + strings.Join(args, " ") + ": failed")
			}
			fmt.Fprint(stdout, out)
			return nil
		}
	}
	return fmt.Errorf("docker %s: no such command in fake", strings.Join(args, " "))
}

func fakeFiles(files map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
}

func TestDoctor(t *testing.T) {
	restricted := map[string]string{
		"/proc/self/status":                       "CapBnd:\t000001fffeffffff\n",
		"/proc/sys/fs/inotify/max_user_watches":   "524288\n",
		"/proc/sys/fs/inotify/max_user_instances": "128\n",
		"/proc/meminfo":                           "MemTotal: 24000000 kB\nMemAvailable:   20971520 kB\n",
	}
	healthyDocker := fakeDocker{
		"version": "20.10.24", "info": "kindlab-runc", "image inspect": "sha256:1",
		"run --rm --privileged": "",
	}
	tests := []struct {
		name    string
		files   map[string]string
		docker  fakeDocker
		cpus    int
		failing []string // checks expected to fail
		fixHas  string
		wantFit int
	}{
		{name: "restricted host with wrapper", files: restricted, docker: healthyDocker, cpus: 2,
			failing: []string{"max_user_instances"}, fixHas: "sysctl -w fs.inotify.max_user_instances=512", wantFit: 7},
		{name: "no docker", files: restricted, docker: fakeDocker{"version": "ERR"}, cpus: 2,
			failing: []string{"docker", "capabilities", "max_user_instances"}, fixHas: "hack/ensure-docker.sh", wantFit: 7},
		{name: "wrapper not registered", files: restricted, docker: fakeDocker{"version": "20.10", "info": "runc", "image inspect": "x", "run --rm --privileged": "ERR"}, cpus: 2,
			failing: []string{"capabilities", "privileged containers", "max_user_instances"}, fixHas: "kindlab-runc", wantFit: 7},
		{name: "image missing", files: restricted, docker: fakeDocker{"version": "20.10", "info": "kindlab-runc", "image inspect": "ERR"}, cpus: 2,
			failing: []string{"node image", "max_user_instances"}, fixHas: "kindlab images build", wantFit: 7},
		{name: "little memory", files: map[string]string{
			"/proc/self/status": "CapBnd:\t000001ffffffffff\n", "/proc/sys/fs/inotify/max_user_watches": "524288",
			"/proc/sys/fs/inotify/max_user_instances": "512", "/proc/meminfo": "MemAvailable: 1048576 kB\n"},
			docker: healthyDocker, cpus: 2, failing: []string{"capacity"}, fixHas: "MiB", wantFit: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Doctor(context.Background(), Host{ReadFile: fakeFiles(tt.files), NumCPU: tt.cpus, Docker: tt.docker}, "kindlab/node:x")
			var failing []string
			var fixes strings.Builder
			for _, f := range r.Findings {
				if !f.OK {
					failing = append(failing, f.Check)
					if f.Fix == "" {
						t.Errorf("check %s failed without a fix", f.Check)
					}
					fixes.WriteString(f.Fix + "\n")
				}
			}
			if strings.Join(failing, ",") != strings.Join(tt.failing, ",") {
				t.Errorf("failing checks = %v; want %v", failing, tt.failing)
			}
			if !strings.Contains(fixes.String(), tt.fixHas) {
				t.Errorf("fixes %q do not mention %q", fixes.String(), tt.fixHas)
			}
			if r.Fit != tt.wantFit {
				t.Errorf("Fit = %d; want %d", r.Fit, tt.wantFit)
			}
			if r.OK() != (len(tt.failing) == 0) {
				t.Errorf("OK() = %v with failing %v", r.OK(), failing)
			}
		})
	}
}

// TestDoctorUsesMeasuredCapacity: a capacity measured on a host like this one
// (BenchmarkCapacity's file in the state folder) decides Fit, within what memory
// allows; one from another host is not used; a broken file fails the check and
// says how to fix it.
func TestDoctorUsesMeasuredCapacity(t *testing.T) {
	host := map[string]string{
		"/proc/self/status":                       "CapBnd:\t000001ffffffffff\n",
		"/proc/sys/fs/inotify/max_user_watches":   "524288\n",
		"/proc/sys/fs/inotify/max_user_instances": "512\n",
		"/proc/meminfo":                           "MemAvailable:   20971520 kB\n", // 20 GiB: 32 clusters by memory
	}
	docker := fakeDocker{"version": "20.10.24", "info": "kindlab-runc", "image inspect": "sha256:1", "run --rm --privileged": ""}
	measured := func(learners, cpus int) string {
		return fmt.Sprintf(`{"learners": %d, "measured": "2026-12-03T07:00:00Z", "cpus": %d, "green_p95": "612ms", "echo_p95": "9ms"}`, learners, cpus)
	}
	tests := []struct {
		name     string
		file     string // the state folder's capacity.json; "" for none
		wantFit  int
		failing  string
		detailOf string // a word the capacity finding must say
	}{
		{name: "none measured", wantFit: 7, detailOf: "estimate"},
		{name: "measured here", file: measured(6, 2), wantFit: 6, detailOf: "612ms"},
		{name: "measured on a bigger host", file: measured(30, 16), wantFit: 7, detailOf: "estimate"},
		{name: "measured: not even the first level", file: measured(0, 2), wantFit: 0, failing: "capacity"},
		{name: "broken file", file: "{not json", wantFit: 7, failing: "measured capacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := maps.Clone(host)
			if tt.file != "" {
				files["/state/"+CapacityFile] = tt.file
			}
			r := Doctor(context.Background(), Host{ReadFile: fakeFiles(files), NumCPU: 2, Docker: docker, StateDir: "/state"}, "kindlab/node:x")
			if r.Fit != tt.wantFit {
				t.Errorf("Fit = %d; want %d", r.Fit, tt.wantFit)
			}
			for _, f := range r.Findings {
				if f.OK == (f.Check == tt.failing) {
					t.Errorf("finding %s: OK %v (%s)", f.Check, f.OK, f.Detail)
				}
				if f.Check == "capacity" && tt.detailOf != "" && !strings.Contains(f.Detail, tt.detailOf) {
					t.Errorf("capacity says %q; want it to mention %q", f.Detail, tt.detailOf)
				}
				if !f.OK && !strings.Contains(f.Fix, "capacity") && !strings.Contains(f.Fix, "MiB") {
					t.Errorf("finding %s fails with fix %q", f.Check, f.Fix)
				}
			}
		})
	}
}
