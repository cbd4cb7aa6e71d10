package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// realRuncCandidates are tried in order; KINDLAB_RUNC overrides them.
var realRuncCandidates = []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kindlab-runc:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	runc, err := findRunc()
	if err != nil {
		return err
	}
	if target, ok := FindTarget(args, mustGetwd()); ok {
		lim, err := currentLimits()
		if err != nil {
			return err
		}
		if err := ClampFile(target.Path, target.IsSpec, lim); err != nil {
			return fmt.Errorf("clamp %s: %w", target.Path, err)
		}
	}
	return syscall.Exec(runc, append([]string{"runc"}, args...), os.Environ())
}

func findRunc() (string, error) {
	self, _ := os.Executable()
	self, _ = filepath.EvalSymlinks(self)
	candidates := realRuncCandidates
	if env := os.Getenv("KINDLAB_RUNC"); env != "" {
		candidates = []string{env}
	}
	for _, c := range candidates {
		resolved, err := filepath.EvalSymlinks(c)
		if err != nil || resolved == self {
			continue
		}
		if _, err := exec.LookPath(resolved); err == nil {
			return resolved, nil
		}
	}
	return "", fmt.Errorf("no runc found (tried %v; set KINDLAB_RUNC)", candidates)
}

func currentLimits() (Limits, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return Limits{}, err
	}
	bnd, err := ParseCapBnd(string(status))
	if err != nil {
		return Limits{}, err
	}
	hard := make(map[string]uint64)
	for name, res := range rlimitResources {
		var rl syscall.Rlimit
		if syscall.Getrlimit(res, &rl) == nil {
			hard[name] = rl.Max
		}
	}
	return Limits{Bounding: bnd, Hard: hard}, nil
}

var rlimitResources = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
	"RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
	"RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
	"RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}
