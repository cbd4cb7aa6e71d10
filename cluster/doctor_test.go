package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
