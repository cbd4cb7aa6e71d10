// Package images builds every image kindlab needs from source, with no container
// registry: Kubernetes, etcd and CoreDNS from the Go module proxy, Debian root
// filesystems from Debian's packages (debootstrap), the kind node image, the toolbox
// and the lab apps. Each image is tagged with a hash of everything it is built from,
// so a rebuild with nothing changed finds its tags and does nothing.
package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// KubeVersion is the Kubernetes release the node image runs.
const KubeVersion = "v1.37.2"

// Apps are the lab app images built from images/apps/<name>.
var Apps = []string{"homepage", "numbers-api", "numbers-web"}

// LabTag is the stable tag lab manifests use for lab images (kindlab/<name>:lab).
const LabTag = "lab"

// Set names the images a build produced, by role.
type Set struct {
	Node    string   // kind node image, e.g. kindlab/node:v1.37.2-1a2b3c4d5e6f
	Toolbox string   // toolbox image by content tag
	Apps    []string // lab app images by content tag
	// Dind is the Docker-in-Docker image learner clusters run in on a host
	// Kubernetes cluster (it holds the node image).
	Dind string
	// Postgres is the PostgreSQL image manifests/kindlab runs.
	Postgres string
}

// LabImages are the images loaded into every learner cluster, by their stable tags.
func (s Set) LabImages() []string {
	out := []string{"kindlab/toolbox:" + LabTag}
	for _, a := range Apps {
		out = append(out, "kindlab/"+a+":"+LabTag)
	}
	return out
}

// Builder builds the images. Src is the kindlab source tree; Cache holds build
// outputs and step logs between runs.
type Builder struct {
	Src   string
	Cache string
	Out   io.Writer // progress lines
	Run   Runner
	// Force rebuilds images even when their content tag exists.
	Force bool
	// Tick is how often a running step reports that it is still running.
	Tick time.Duration
}

// step is one unit of the build: a status line, a log file, a known fix.
type step struct {
	name string
	deps []string
	cpu  bool // CPU-bound: run one at a time on small machines
	done func(ctx context.Context) bool
	run  func(ctx context.Context, log io.Writer) error
}

// StepError is a failed build step with the tail of its log and a fix if one is known.
type StepError struct {
	Step string
	Log  string // path of the full log
	Tail string
	Fix  string
	Err  error
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("step %q failed: %v\n--- last lines of %s ---\n%s", e.Step, e.Err, e.Log, e.Tail)
	if e.Fix != "" {
		msg += "\nfix: " + e.Fix
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }

// knownFixes maps a substring of a failing step's log to the fix to show.
var knownFixes = []struct{ match, fix string }{
	{"Cannot connect to the Docker daemon", "start a Docker engine: make docker (runs hack/ensure-docker.sh)"},
	{"unable to apply caps", "this host's capability bounding set is restricted: run hack/ensure-docker.sh, which registers the kindlab-runc wrapper as dockerd's default runtime"},
	{"debootstrap: not found", "install debootstrap: apt-get install debootstrap (hack/ensure-docker.sh does it)"},
	{"executable file not found in $PATH", "a build tool is missing: run hack/ensure-docker.sh (installs docker.io and debootstrap); Go must be on PATH"},
	{"Failed getting release file", "debootstrap could not reach the Debian mirror: check /etc/apt/sources.list and the network"},
	{"no space left on device", "free disk space (docker system prune, or remove ~/.cache/kindlab)"},
	{"proxy.golang.org", "the Go module proxy is unreachable: check GOPROXY and the network"},
}

func fixFor(log string) string {
	for _, k := range knownFixes {
		if strings.Contains(log, k.match) {
			return k.fix
		}
	}
	return ""
}

// execute runs steps respecting dependencies, at most one CPU-bound step at a time,
// printing a line when each starts and ends and a periodic line while any runs.
func (b *Builder) execute(ctx context.Context, steps []*step) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logDir := filepath.Join(b.Cache, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	type result struct {
		s   *step
		err error
	}
	var (
		mu       sync.Mutex
		running  = map[string]time.Time{}
		done     = map[string]bool{}
		results  = make(chan result)
		cpuBusy  bool
		firstErr error
	)
	pending := slices.Clone(steps)
	tick := b.Tick
	if tick == 0 {
		tick = 30 * time.Second
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	total, n := len(steps), 0

	ready := func(s *step) bool {
		for _, d := range s.deps {
			if !done[d] {
				return false
			}
		}
		return !s.cpu || !cpuBusy
	}
	start := func(s *step) {
		n++
		if s.done != nil && !b.Force && s.done(ctx) {
			fmt.Fprintf(b.Out, "[%d/%d] %-22s up to date\n", n, total, s.name)
			go func() { results <- result{s: s} }()
			return
		}
		if s.cpu {
			cpuBusy = true
		}
		mu.Lock()
		running[s.name] = time.Now()
		mu.Unlock()
		logPath := filepath.Join(logDir, s.name+".log")
		fmt.Fprintf(b.Out, "[%d/%d] %-22s running (log: %s)\n", n, total, s.name, logPath)
		go func() {
			f, err := os.Create(logPath)
			if err == nil {
				err = s.run(ctx, f)
				f.Close()
			}
			if err != nil {
				data, _ := os.ReadFile(logPath)
				err = &StepError{Step: s.name, Log: logPath, Tail: tail(string(data), 30), Fix: fixFor(string(data) + err.Error()), Err: err}
			}
			results <- result{s: s, err: err}
		}()
	}

	inFlight := 0
	for {
		if firstErr == nil {
			for i := 0; i < len(pending); {
				if s := pending[i]; ready(s) {
					pending = slices.Delete(pending, i, i+1)
					inFlight++
					start(s)
					continue
				}
				i++
			}
		}
		if inFlight == 0 {
			if firstErr == nil && len(pending) > 0 {
				return fmt.Errorf("build steps with unmet dependencies: %v", names(pending))
			}
			return firstErr
		}
		select {
		case r := <-results:
			inFlight--
			mu.Lock()
			began, ran := running[r.s.name]
			delete(running, r.s.name)
			mu.Unlock()
			if r.s.cpu && ran {
				cpuBusy = false
			}
			if r.err != nil {
				if firstErr == nil {
					firstErr = r.err
					cancel()
				}
				fmt.Fprintf(b.Out, "      %-22s FAILED after %s\n", r.s.name, since(began))
				continue
			}
			done[r.s.name] = true
			if ran {
				fmt.Fprintf(b.Out, "      %-22s done in %s\n", r.s.name, since(began))
			}
		case <-ticker.C:
			mu.Lock()
			var parts []string
			for name, began := range running {
				parts = append(parts, fmt.Sprintf("%s %s", name, since(began)))
			}
			mu.Unlock()
			slices.Sort(parts)
			if len(parts) > 0 {
				fmt.Fprintf(b.Out, "      still running: %s\n", strings.Join(parts, ", "))
			}
		}
	}
}

func names(steps []*step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.name)
	}
	return out
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// ErrNoSource is returned when the kindlab source tree cannot be found.
var ErrNoSource = errors.New("images: kindlab source tree not found (run from the repository, or pass --src)")

// FindSource walks up from dir to the kindlab module root.
func FindSource(dir string) (string, error) {
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/kindlab/kindlab\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoSource
		}
		dir = parent
	}
}
