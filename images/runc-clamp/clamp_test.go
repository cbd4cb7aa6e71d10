package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseCapBnd(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		has     []string
		lacks   []string
		wantErr bool
	}{
		{name: "full set", status: "Name:\tx\nCapBnd:\t000001ffffffffff\n", has: []string{"CAP_SYS_RESOURCE", "CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"}},
		{name: "no sys_resource", status: "CapBnd:\t000001fffeffffff\n", has: []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}, lacks: []string{"CAP_SYS_RESOURCE"}},
		{name: "empty set", status: "CapBnd:\t0000000000000000\n", lacks: []string{"CAP_CHOWN"}},
		{name: "missing line", status: "Name:\tx\n", wantErr: true},
		{name: "garbage", status: "CapBnd:\tzz\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := ParseCapBnd(tt.status)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseCapBnd(%q) error = %v; wantErr %v", tt.status, err, tt.wantErr)
			}
			for _, c := range tt.has {
				if !set[c] {
					t.Errorf("ParseCapBnd(%q) lacks %s", tt.status, c)
				}
			}
			for _, c := range tt.lacks {
				if set[c] {
					t.Errorf("ParseCapBnd(%q) has %s", tt.status, c)
				}
			}
		})
	}
}

func TestFindTarget(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Target
		ok   bool
	}{
		{name: "create with bundle", args: []string{"--root", "/run/runc", "--log", "/l", "create", "--bundle", "/b", "id"}, want: Target{Path: "/b/config.json", IsSpec: true}, ok: true},
		{name: "create bundle equals", args: []string{"create", "--bundle=/b", "id"}, want: Target{Path: "/b/config.json", IsSpec: true}, ok: true},
		{name: "run in cwd", args: []string{"run", "id"}, want: Target{Path: "/cwd/config.json", IsSpec: true}, ok: true},
		{name: "exec process", args: []string{"--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "id"}, want: Target{Path: "/tmp/p.json"}, ok: true},
		{name: "exec short flag", args: []string{"exec", "-p", "/tmp/p.json", "id"}, want: Target{Path: "/tmp/p.json"}, ok: true},
		{name: "exec without process file", args: []string{"exec", "id", "ls"}},
		{name: "start", args: []string{"start", "id"}},
		{name: "version", args: []string{"--version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FindTarget(tt.args, "/cwd")
			if ok != tt.ok || got != tt.want {
				t.Errorf("FindTarget(%q) = %+v, %v; want %+v, %v", tt.args, got, ok, tt.want, tt.ok)
			}
		})
	}
}

const privilegedSpec = `{"ociVersion":"1.0.2","process":{"args":["/sbin/init"],
 "capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE","CAP_SYS_ADMIN"],
  "effective":["CAP_CHOWN","CAP_SYS_RESOURCE"],"permitted":["CAP_SYS_RESOURCE"]},
 "rlimits":[{"type":"RLIMIT_NOFILE","hard":1048576,"soft":1048576},{"type":"RLIMIT_CORE","hard":10,"soft":5}]},
 "root":{"path":"rootfs"}}`

func TestClampFile(t *testing.T) {
	restricted := Limits{
		Bounding: map[string]bool{"CAP_CHOWN": true, "CAP_SYS_ADMIN": true},
		Hard:     map[string]uint64{"RLIMIT_NOFILE": 20000, "RLIMIT_CORE": 1 << 62},
	}
	full := Limits{
		Bounding: map[string]bool{"CAP_CHOWN": true, "CAP_SYS_ADMIN": true, "CAP_SYS_RESOURCE": true},
		Hard:     map[string]uint64{"RLIMIT_NOFILE": 20000},
	}
	tests := []struct {
		name        string
		lim         Limits
		wantCaps    map[string][]string
		wantRlimits []any
	}{
		{
			name: "restricted host drops missing caps and clamps rlimits",
			lim:  restricted,
			wantCaps: map[string][]string{
				"bounding": {"CAP_CHOWN", "CAP_SYS_ADMIN"}, "effective": {"CAP_CHOWN"}, "permitted": {},
			},
			wantRlimits: []any{
				map[string]any{"type": "RLIMIT_NOFILE", "hard": 20000.0, "soft": 20000.0},
				map[string]any{"type": "RLIMIT_CORE", "hard": 10.0, "soft": 5.0},
			},
		},
		{
			name: "full host passes through",
			lim:  full,
			wantCaps: map[string][]string{
				"bounding": {"CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"}, "effective": {"CAP_CHOWN", "CAP_SYS_RESOURCE"}, "permitted": {"CAP_SYS_RESOURCE"},
			},
			wantRlimits: []any{
				map[string]any{"type": "RLIMIT_NOFILE", "hard": 1048576.0, "soft": 1048576.0},
				map[string]any{"type": "RLIMIT_CORE", "hard": 10.0, "soft": 5.0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(path, []byte(privilegedSpec), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := ClampFile(path, true, tt.lim); err != nil {
				t.Fatalf("ClampFile: %v", err)
			}
			var doc struct {
				Process struct {
					Capabilities map[string][]string
					Rlimits      []any
				}
				Root map[string]any
			}
			data, _ := os.ReadFile(path)
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatalf("result is not JSON: %v", err)
			}
			for set, want := range tt.wantCaps {
				got := doc.Process.Capabilities[set]
				if len(got) == 0 && len(want) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("capabilities.%s = %v; want %v", set, got, want)
				}
			}
			if !reflect.DeepEqual(doc.Process.Rlimits, tt.wantRlimits) {
				t.Errorf("rlimits = %v; want %v", doc.Process.Rlimits, tt.wantRlimits)
			}
			if doc.Root["path"] != "rootfs" {
				t.Errorf("root.path = %v; the rest of the spec must survive", doc.Root["path"])
			}
		})
	}
}

func TestClampFileProcessObject(t *testing.T) {
	path := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(path, []byte(`{"args":["sh"],"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_KILL"]}}`), 0o600)
	lim := Limits{Bounding: map[string]bool{"CAP_KILL": true}}
	if err := ClampFile(path, false, lim); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var p struct{ Capabilities map[string][]string }
	json.Unmarshal(data, &p)
	if got := p.Capabilities["bounding"]; !reflect.DeepEqual(got, []string{"CAP_KILL"}) {
		t.Errorf("bounding = %v; want [CAP_KILL]", got)
	}
}

func TestClampFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	if err := ClampFile(bad, true, Limits{}); err == nil {
		t.Error("ClampFile(garbage) = nil; want a parse error")
	}
	if err := ClampFile(filepath.Join(dir, "missing.json"), true, Limits{}); err == nil {
		t.Error("ClampFile(missing) = nil; want an error")
	}
}
