package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// phase is one line of phases.tsv: NAME START END STATUS, times in Unix
// seconds; END and STATUS are "-" while the phase runs.
type phase struct {
	name       string
	start, end time.Time
	status     string
}

// result is how long one test, benchmark or package took.
type result struct {
	phase, pkg, name string
	took             time.Duration
	start, end       time.Time
	status           string // pass, fail, skip, or "cut" for one that never ended
	budget           time.Duration
}

// budget is one line of a budgets file: tests of a phase (a glob) whose name
// matches the regexp are expected to take at most max.
type budget struct {
	phase string
	name  *regexp.Regexp
	max   time.Duration
}

func readBudgets(file string) ([]budget, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var bs []budget
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want PHASE NAME-REGEXP DURATION, got %q", file, n, line)
		}
		re, err := regexp.Compile(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		d, err := time.ParseDuration(fields[2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		bs = append(bs, budget{fields[0], re, d})
	}
	return bs, sc.Err()
}

func budgetOf(bs []budget, phase, name string) time.Duration {
	for _, b := range bs {
		if ok, _ := path.Match(b.phase, phase); ok && b.name.MatchString(name) {
			return b.max
		}
	}
	return 0
}

func readPhases(file string) ([]phase, error) {
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ps []phase
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		p := phase{name: f[0], status: f[3]}
		p.start = unix(f[1])
		p.end = unix(f[2])
		ps = append(ps, p)
	}
	return ps, nil
}

func unix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// readResults reads one go test -json file. Tests and packages take the time
// go test gives them; a benchmark (which gets none) from its start to its
// last line; a test that never ended (its package cut short), until the
// stream's last event.
func readResults(file, phaseName string) ([]result, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type key struct{ pkg, test string }
	started := map[key]time.Time{}
	lastOut := map[key]time.Time{}
	var order []key
	var rs []result
	var last time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Action == "" {
			continue
		}
		last = e.Time
		k := key{e.Package, e.Test}
		switch e.Action {
		case "run":
			if _, ok := started[k]; !ok {
				order = append(order, k)
			}
			started[k] = e.Time
		case "output":
			lastOut[k] = e.Time
		case "pass", "fail", "skip":
			name := e.Test
			if name == "" {
				name = "(package)"
			}
			took := time.Duration(e.Elapsed * float64(time.Second))
			rs = append(rs, result{phase: phaseName, pkg: e.Package, name: name, status: e.Action,
				took: took, start: e.Time.Add(-took), end: e.Time})
			delete(started, k)
		}
	}
	for _, k := range order {
		t0, running := started[k]
		if !running {
			continue
		}
		if strings.HasPrefix(k.test, "Benchmark") {
			rs = append(rs, result{phase: phaseName, pkg: k.pkg, name: k.test, status: "pass", took: lastOut[k].Sub(t0), start: t0, end: lastOut[k]})
		} else {
			rs = append(rs, result{phase: phaseName, pkg: k.pkg, name: k.test, status: "cut", took: last.Sub(t0), start: t0, end: last})
		}
	}
	return rs, sc.Err()
}

// report prints the phases and results of dir and returns how many tests
// ran past their budget.
func report(dir string, bs []budget, top int, w io.Writer) (over int, err error) {
	phases, err := readPhases(filepath.Join(dir, "phases.tsv"))
	if err != nil {
		return 0, err
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var tests, pkgs []result
	for _, file := range files {
		rs, err := readResults(file, strings.TrimSuffix(filepath.Base(file), ".json"))
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			if r.name == "(package)" {
				pkgs = append(pkgs, r)
				continue
			}
			if !strings.Contains(r.name, "/") {
				r.budget = budgetOf(bs, r.phase, r.name)
			}
			tests = append(tests, r)
		}
	}
	if len(phases) == 0 && len(files) == 0 {
		return 0, fmt.Errorf("%s holds no phases.tsv and no go test -json files: run make test first", dir)
	}
	cpu, err := readCPU(filepath.Join(dir, "cpu.tsv"))
	if err != nil {
		return 0, err
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(phases) > 0 {
		fmt.Fprintln(w, "== phases (wall clock; start and end from the start of the run; cpu: the share of the host's cores busy meanwhile)")
		fmt.Fprintln(tw, "phase\tstart\tend\ttook\tcpu\tresult\t")
		t0, t1 := phases[0].start, phases[0].end
		for _, p := range phases {
			t0 = minTime(t0, p.start)
			t1 = maxTime(t1, p.end)
		}
		for _, p := range phases {
			end, took, share := "-", "-", "-"
			if !p.end.IsZero() {
				end, took = clock(p.end.Sub(t0)), p.end.Sub(p.start).String()
				share = percent(busy(cpu, p.start, p.end))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", p.name, clock(p.start.Sub(t0)), end, took, share, p.status)
		}
		fmt.Fprintf(tw, "all\t%s\t%s\t%s\t%s\t\t\n", clock(0), clock(t1.Sub(t0)), t1.Sub(t0), percent(busy(cpu, t0, t1)))
		tw.Flush()
	}
	if len(pkgs) > 0 {
		slices.SortFunc(pkgs, func(a, b result) int { return cmp.Compare(b.took, a.took) })
		fmt.Fprintln(w, "\n== packages, slowest first (go test's time for each)")
		fmt.Fprintln(tw, "took\tphase\tpackage\tresult\t")
		for _, p := range pkgs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", round(p.took), p.phase, p.pkg, p.status)
		}
		tw.Flush()
	}
	slices.SortStableFunc(tests, func(a, b result) int { return cmp.Compare(b.took, a.took) })
	fmt.Fprintf(w, "\n== tests and benchmarks, slowest first (%d in all", len(tests))
	if top > 0 && top < len(tests) {
		fmt.Fprintf(w, "; the %d slowest, `make test-times` prints all", top)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintln(tw, "took\tcpu\tphase\tpackage\ttest\tresult\t")
	var overs []result
	for i, t := range tests {
		note := t.status
		if t.budget > 0 && t.took > t.budget {
			note += fmt.Sprintf(", OVER ITS BUDGET of %s", t.budget)
			overs = append(overs, t)
		}
		if top == 0 || i < top {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", round(t.took), percent(busy(cpu, t.start, t.end)), t.phase, short(t.pkg), t.name, note)
		}
	}
	tw.Flush()
	for _, t := range overs {
		fmt.Fprintf(w, "over budget: %s %s took %s, its budget is %s (hack/test-budgets)\n", t.pkg, t.name, round(t.took), t.budget)
	}
	return len(overs), nil
}

func short(pkg string) string {
	if s := strings.TrimPrefix(strings.TrimPrefix(pkg, "github.com/kindlab/kindlab"), "/"); s != "" {
		return s
	}
	return "."
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
