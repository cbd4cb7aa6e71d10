package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// thawNested thaws the frozen cgroups below a container's, on cgroup v1 and
// v2 layouts, and leaves the container's own cgroup (Docker's pause) and
// other containers' alone.
func TestThawNested(t *testing.T) {
	id := strings.Repeat("ab12", 16)
	other := strings.Repeat("cd34", 16)
	sysfs := t.TempDir()
	files := map[string]string{ // path under sysfs → state
		"sys/fs/cgroup/freezer/docker/" + id + "/freezer.state":                        "FROZEN", // the node, paused
		"sys/fs/cgroup/freezer/docker/" + id + "/kubepods/pod1/freezer.state":          "THAWED",
		"sys/fs/cgroup/freezer/docker/" + id + "/kubepods/pod1/ctr-a/freezer.state":    "FROZEN", // runc's, left behind
		"sys/fs/cgroup/freezer/docker/" + id + "/kubepods/pod1/ctr-b/freezer.state":    "FREEZING",
		"sys/fs/cgroup/freezer/docker/" + other + "/kubepods/x/freezer.state":          "FROZEN", // another node
		"sys/fs/cgroup/system.slice/docker-" + id + ".scope/kubelet/pod/cgroup.freeze": "1",      // v2
		"sys/fs/cgroup/system.slice/docker-" + id + ".scope/init/cgroup.freeze":        "0",
	}
	for p, state := range files {
		path := filepath.Join(sysfs, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(state+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := thawNested(sysfs, id)
	if err != nil || n != 3 {
		t.Fatalf("thawNested = %d, %v; want 3, nil", n, err)
	}
	want := map[string]string{
		"sys/fs/cgroup/freezer/docker/" + id + "/freezer.state":                        "FROZEN",
		"sys/fs/cgroup/freezer/docker/" + id + "/kubepods/pod1/freezer.state":          "THAWED",
		"sys/fs/cgroup/freezer/docker/" + id + "/kubepods/pod1/ctr-a/freezer.state":    "THAWED",
		"sys/fs/cgroup/freezer/docker/" + id + "/kubepods/pod1/ctr-b/freezer.state":    "THAWED",
		"sys/fs/cgroup/freezer/docker/" + other + "/kubepods/x/freezer.state":          "FROZEN",
		"sys/fs/cgroup/system.slice/docker-" + id + ".scope/kubelet/pod/cgroup.freeze": "0",
		"sys/fs/cgroup/system.slice/docker-" + id + ".scope/init/cgroup.freeze":        "0",
	}
	for p, w := range want {
		got, err := os.ReadFile(filepath.Join(sysfs, p))
		if err != nil || strings.TrimSpace(string(got)) != w {
			t.Errorf("%s = %q, %v; want %q", p, got, err, w)
		}
	}
	if n, err := thawNested(sysfs, "short"); n != 0 || err != nil {
		t.Errorf("thawNested of a short ID = %d, %v; want 0, nil (it could match anything)", n, err)
	}
}
