package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/kindlab/kindlab/manifests"
)

func TestFullName(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{name: "short", in: "ada-1", want: "kindlab-ada-1"},
		{name: "already prefixed", in: "kindlab-ada", want: "kindlab-ada"},
		{name: "upper case", in: "Ada", err: ErrInvalidName},
		{name: "trailing dash", in: "ada-", err: ErrInvalidName},
		{name: "too long", in: strings.Repeat("a", 43), err: ErrInvalidName},
		{name: "longest allowed", in: strings.Repeat("a", 42), want: "kindlab-" + strings.Repeat("a", 42)},
		{name: "empty", in: "", err: ErrInvalidName},
		{name: "shell metacharacters", in: "a;rm -rf", err: ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FullName(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("FullName(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	var cfg v1alpha4.Cluster
	if err := yaml.UnmarshalStrict([]byte(Config()), &cfg); err != nil {
		t.Fatalf("Config() is not a valid kind config: %v", err)
	}
	if cfg.Networking.APIServerAddress != "127.0.0.1" {
		t.Errorf("API server address = %q; want 127.0.0.1 (host traffic stays on loopback)", cfg.Networking.APIServerAddress)
	}
	if !cfg.Networking.DisableDefaultCNI {
		t.Error("default CNI enabled; it needs the kindnetd image from a registry")
	}
	if len(cfg.Nodes) != 1 || len(cfg.Nodes[0].ExtraPortMappings) != 1 {
		t.Fatalf("want one node with one port mapping, got %+v", cfg.Nodes)
	}
	pm := cfg.Nodes[0].ExtraPortMappings[0]
	if pm.ListenAddress != "127.0.0.1" || pm.ContainerPort != NodePort {
		t.Errorf("port mapping = %+v; want %d on 127.0.0.1", pm, NodePort)
	}
	if !strings.Contains(Config(), "failCgroupV1: false") {
		t.Error("kubelet patch for cgroup v1 hosts missing")
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"kindlab/toolbox:lab", "docker.io/kindlab/toolbox:lab"},
		{"busybox", "docker.io/library/busybox:latest"},
		{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
		{"localhost/x:1", "localhost/x:1"},
		{"kindlab/homepage", "docker.io/kindlab/homepage:latest"},
	}
	for _, tt := range tests {
		if got := normalize(tt.in); got != tt.want {
			t.Errorf("normalize(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestExplain(t *testing.T) {
	err := explain(errors.New(`docker run: unable to apply caps: operation not permitted`))
	if !strings.Contains(err.Error(), "hack/ensure-docker.sh") {
		t.Errorf("explain(caps error) = %q; want the fix", err)
	}
	plain := errors.New("something else")
	if got := explain(plain); got != plain {
		t.Errorf("explain(unknown) = %v; want it unchanged", got)
	}
}

// Images every cluster of a manager has are not looked for in the node again
// (no round trip on a learner's start); others are.
func TestLoadImagesSkipsWhatEveryClusterHas(t *testing.T) {
	m, err := New(Options{NodeImage: "kindlab/node:x", LabImages: []string{"kindlab/toolbox:lab"}, KubeconfigDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.LoadImages(ctx, "kindlab-no-such-cluster", "kindlab/toolbox:lab"); err != nil {
		t.Errorf("LoadImages of an image every cluster has = %v; want nil, the node untouched", err)
	}
	if err := m.LoadImages(ctx, "kindlab-no-such-cluster", "kindlab/toolbox:lab", "example/other:1"); err == nil {
		t.Error("LoadImages of another image into a cluster that does not exist = nil; want an error")
	}
}

// Every tuning can be left out on its own; each one's patch is a list of JSON
// patch operations, and leaving them all out leaves none of their settings.
func TestConfigTunings(t *testing.T) {
	var names []string
	for _, tu := range Tunings() {
		if slices.Contains(names, tu.Name) || tu.Why == "" {
			t.Errorf("tuning %q: names must be unique and say why", tu.Name)
		}
		if tu.dns != "" {
			var op struct{ Op, Path string }
			if err := json.Unmarshal([]byte(tu.dns), &op); err != nil || op.Op != "replace" || !strings.HasPrefix(op.Path, "/spec/") {
				t.Errorf("tuning %q: CoreDNS operation %s: %+v, %v", tu.Name, tu.dns, op, err)
			}
		}
		names = append(names, tu.Name)
	}
	for _, skip := range append([][]string{nil, names}, names) {
		var cfg v1alpha4.Cluster
		if err := yaml.UnmarshalStrict([]byte(Config(skip...)), &cfg); err != nil {
			t.Fatalf("Config(%v) is not a valid kind config: %v", skip, err)
		}
		for _, p := range cfg.KubeadmConfigPatchesJSON6902 {
			var ops []struct {
				Op, Path string
				Value    any
			}
			if err := yaml.UnmarshalStrict([]byte(p.Patch), &ops); err != nil || len(ops) == 0 {
				t.Fatalf("Config(%v): patch is not a list of operations: %v\n%s", skip, err, p.Patch)
			}
			for _, op := range ops {
				if op.Op != "add" || !strings.HasPrefix(op.Path, "/") {
					t.Errorf("Config(%v): operation %+v", skip, op)
				}
			}
		}
	}
	all, none := Config(), Config(names...)
	quota := fmt.Sprintf(`{name: quota-backend-bytes, value: "%d"}`, EtcdQuota)
	if !strings.Contains(all, quota) || !strings.Contains(none, quota) {
		t.Errorf("etcd's quota %s: in Config() %v, in Config(every tuning skipped) %v; want it in both", quota, strings.Contains(all, quota), strings.Contains(none, quota))
	}
	for _, setting := range []string{"leader-elect", "controllers", "GOGC"} {
		if !strings.Contains(all, setting) || strings.Contains(none, setting) {
			t.Errorf("%s: in Config() %v, in Config(every tuning skipped) %v", setting, strings.Contains(all, setting), strings.Contains(none, setting))
		}
	}
}

// The workstation's init stops a fork bomb just below the kubelet's PID limit; it
// must be told the same limit.
func TestWorkstationKnowsThePIDLimit(t *testing.T) {
	data, err := fs.ReadFile(manifests.FS(), "platform/workstation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{name: PIDS_LIMIT, value: "%d"}`, PodPidsLimit)
	if !strings.Contains(string(data), want) {
		t.Errorf("platform/workstation.yaml does not set %s", want)
	}
	if !strings.Contains(Config(), fmt.Sprintf("podPidsLimit: %d", PodPidsLimit)) {
		t.Errorf("Config() does not set the kubelet's podPidsLimit to %d", PodPidsLimit)
	}
}

func TestParseNode(t *testing.T) {
	at := time.Date(2026, 12, 7, 23, 35, 2, 123456789, time.UTC)
	for out, want := range map[string]Node{
		"running 2026-12-07T23:35:02.123456789Z\n": {State: NodeRunning, Started: at},
		"paused 2026-12-07T23:35:02.123456789Z":    {State: NodePaused, Started: at},
		"dead 0001-01-01T00:00:00Z":                {State: "dead"},
		"":                                         {State: NodeGone},
	} {
		if got := parseNode(out); got != want {
			t.Errorf("parseNode(%q) = %+v; want %+v", out, got, want)
		}
	}
}
