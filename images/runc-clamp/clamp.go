// Command kindlab-runc is an OCI runtime wrapper that lets privileged containers
// start on hosts whose capability bounding set is smaller than Docker assumes.
//
// Docker and containerd ask runc for every capability a privileged container could
// have, and for rlimits above the host's hard limits. Where root lacks a capability in
// its bounding set (CAP_SYS_RESOURCE on some VMs), runc fails with "unable to apply
// caps: operation not permitted". kindlab-runc edits the OCI spec before handing it to
// the real runc: it drops every capability the current bounding set lacks and, when
// CAP_SYS_RESOURCE is missing, lowers rlimits to what the process may set. On a host
// with a full bounding set the spec passes through unchanged.
//
// runc reads the spec from <bundle>/config.json on create and run, and from the file
// named by --process on exec; both are edited.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// capNames maps capability numbers to their names, as in linux/capability.h.
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// Limits is what the running process may grant: its capability bounding set and,
// per rlimit type (e.g. "RLIMIT_NOFILE"), the hard limit it can raise to.
type Limits struct {
	Bounding map[string]bool
	Hard     map[string]uint64
}

// ParseCapBnd reads the CapBnd line of /proc/self/status into a set of names.
func ParseCapBnd(status string) (map[string]bool, error) {
	for _, line := range strings.Split(status, "\n") {
		hex, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("parse CapBnd %q: %w", hex, err)
		}
		set := make(map[string]bool)
		for bit, name := range capNames {
			if mask&(1<<bit) != 0 {
				set[name] = true
			}
		}
		return set, nil
	}
	return nil, errors.New("no CapBnd line in process status")
}

// ClampProcess edits an OCI process object (decoded JSON) in place so that it asks for
// nothing the limits cannot grant. It reports whether anything changed.
func ClampProcess(proc map[string]any, lim Limits) bool {
	changed := false
	if caps, ok := proc["capabilities"].(map[string]any); ok {
		for set, v := range caps {
			list, ok := v.([]any)
			if !ok {
				continue
			}
			kept := list[:0:0]
			for _, c := range list {
				if name, ok := c.(string); ok && lim.Bounding[name] {
					kept = append(kept, c)
				}
			}
			if len(kept) != len(list) {
				caps[set] = kept
				changed = true
			}
		}
	}
	if lim.Bounding["CAP_SYS_RESOURCE"] {
		return changed
	}
	rlimits, ok := proc["rlimits"].([]any)
	if !ok {
		return changed
	}
	for _, r := range rlimits {
		rl, ok := r.(map[string]any)
		if !ok {
			continue
		}
		typ, _ := rl["type"].(string)
		hard, known := lim.Hard[typ]
		if !known {
			continue
		}
		for _, k := range []string{"hard", "soft"} {
			if v, ok := rl[k].(float64); ok && (v > float64(hard) || v < 0) {
				rl[k] = hard
				changed = true
			}
		}
	}
	return changed
}

// ClampFile rewrites the JSON file at path. For a bundle's config.json the process
// object sits under "process"; a --process file is the process object itself.
func ClampFile(path string, isSpec bool, lim Limits) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	proc := doc
	if isSpec {
		p, ok := doc["process"].(map[string]any)
		if !ok {
			return nil
		}
		proc = p
	}
	if !ClampProcess(proc, lim) {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	tmp := path + ".kindlab-runc"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Target is the file a runc invocation reads its process from.
type Target struct {
	Path   string
	IsSpec bool // a whole config.json rather than a process object
}

// FindTarget finds the spec file in runc's arguments: the bundle's config.json for
// create and run, the --process file for exec. It returns ok=false for commands that
// read no spec.
func FindTarget(args []string, cwd string) (Target, bool) {
	cmd, bundle, process := "", "", ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func(flag string) (string, bool) {
			if v, ok := strings.CutPrefix(a, flag+"="); ok {
				return v, true
			}
			if a == flag && i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		if v, ok := val("--bundle"); ok {
			bundle = v
		} else if v, ok := val("-b"); ok {
			bundle = v
		} else if v, ok := val("--process"); ok {
			process = v
		} else if v, ok := val("-p"); ok && cmd == "exec" {
			process = v
		} else if cmd == "" && !strings.HasPrefix(a, "-") {
			cmd = a
		} else if cmd == "" && globalFlagTakesValue(a) {
			i++
		}
	}
	switch cmd {
	case "create", "run":
		if bundle == "" {
			bundle = cwd
		}
		return Target{Path: filepath.Join(bundle, "config.json"), IsSpec: true}, true
	case "exec":
		if process != "" {
			return Target{Path: process}, true
		}
	}
	return Target{}, false
}

// globalFlagTakesValue reports whether a runc global flag given without "=" consumes
// the next argument.
func globalFlagTakesValue(flag string) bool {
	switch flag {
	case "--root", "--log", "--log-format", "--criu", "--rootless":
		return true
	}
	return false
}
