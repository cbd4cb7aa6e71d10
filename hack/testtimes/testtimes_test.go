package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// run is a go test -json stream of one package: a test that passed, one that
// failed with a subtest, a benchmark, and a test cut short by a timeout.
const run = `{"Time":"2026-12-07T10:00:00Z","Action":"start","Package":"example.com/p"}
{"Time":"2026-12-07T10:00:00Z","Action":"run","Package":"example.com/p","Test":"TestFast"}
{"Time":"2026-12-07T10:00:00Z","Action":"output","Package":"example.com/p","Test":"TestFast","Output":"=== RUN   TestFast\n"}
{"Time":"2026-12-07T10:00:01Z","Action":"output","Package":"example.com/p","Test":"TestFast","Output":"--- PASS: TestFast (1.00s)\n"}
{"Time":"2026-12-07T10:00:01Z","Action":"pass","Package":"example.com/p","Test":"TestFast","Elapsed":1}
{"Time":"2026-12-07T10:00:01Z","Action":"run","Package":"example.com/p","Test":"TestSlow"}
{"Time":"2026-12-07T10:00:01Z","Action":"output","Package":"example.com/p","Test":"TestSlow","Output":"=== RUN   TestSlow\n"}
{"Time":"2026-12-07T10:00:01Z","Action":"run","Package":"example.com/p","Test":"TestSlow/case"}
{"Time":"2026-12-07T10:00:01Z","Action":"output","Package":"example.com/p","Test":"TestSlow/case","Output":"    slow_test.go:9: got 1; want 2\n"}
{"Time":"2026-12-07T10:01:01Z","Action":"output","Package":"example.com/p","Test":"TestSlow/case","Output":"--- FAIL: TestSlow/case (60.00s)\n"}
{"Time":"2026-12-07T10:01:01Z","Action":"fail","Package":"example.com/p","Test":"TestSlow/case","Elapsed":60}
{"Time":"2026-12-07T10:01:01Z","Action":"output","Package":"example.com/p","Test":"TestSlow","Output":"--- FAIL: TestSlow (60.00s)\n"}
{"Time":"2026-12-07T10:01:01Z","Action":"fail","Package":"example.com/p","Test":"TestSlow","Elapsed":60}
{"Time":"2026-12-07T10:01:01Z","Action":"run","Package":"example.com/p","Test":"BenchmarkThing"}
{"Time":"2026-12-07T10:01:01Z","Action":"output","Package":"example.com/p","Test":"BenchmarkThing","Output":"BenchmarkThing\n"}
{"Time":"2026-12-07T10:01:31Z","Action":"output","Package":"example.com/p","Test":"BenchmarkThing","Output":"BenchmarkThing-2  1  30000000000 ns/op\n"}
{"Time":"2026-12-07T10:01:31Z","Action":"run","Package":"example.com/p","Test":"TestHangs"}
{"Time":"2026-12-07T10:01:31Z","Action":"output","Package":"example.com/p","Test":"TestHangs","Output":"    hangs_test.go:3: waiting for the cluster\n"}
{"Time":"2026-12-07T10:03:31Z","Action":"output","Package":"example.com/p","Output":"panic: test timed out after 2m0s\n"}
{"Time":"2026-12-07T10:03:31Z","Action":"output","Package":"example.com/p","Output":"FAIL\texample.com/p\t211.000s\n"}
{"Time":"2026-12-07T10:03:31Z","Action":"fail","Package":"example.com/p","Elapsed":211}
`

func TestStreamPrintsWhatGoTestPrints(t *testing.T) {
	tests := []struct {
		name    string
		verbose bool
		want    []string
		notWant []string
	}{
		{"quiet", false,
			[]string{"got 1; want 2", "--- FAIL: TestSlow (60.00s)", "waiting for the cluster", "panic: test timed out", "FAIL\texample.com/p"},
			[]string{"--- PASS: TestFast", "=== RUN"}},
		{"verbose", true,
			[]string{"=== RUN   TestFast", "--- PASS: TestFast", "got 1; want 2", "BenchmarkThing-2"},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kept, out bytes.Buffer
			failed, err := stream(strings.NewReader(run), &kept, &out, tt.verbose)
			if err != nil {
				t.Fatal(err)
			}
			if !failed {
				t.Error("stream did not report the failure")
			}
			if kept.String() != run {
				t.Error("the kept stream differs from its input")
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestStreamOfPassingRunIsNotAFailure(t *testing.T) {
	pass := strings.Join(strings.Split(run, "\n")[:5], "\n") + "\n"
	var kept, out bytes.Buffer
	if failed, err := stream(strings.NewReader(pass), &kept, &out, false); err != nil || failed {
		t.Fatalf("stream(passing run) = %v, %v; want false, nil", failed, err)
	}
}

func TestReportSlowestFirstWithPhasesAndBudgets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("e2e-p.json", run)
	write("phases.tsv", "images\t1000\t2000\tok\nunit\t1100\t1400\tok\ne2e-p\t2000\t2211\tfailed\n")
	budgets := filepath.Join(dir, "budgets")
	write("budgets", "# phase name budget\ne2e-* ^TestSlow$ 30s\n* . 10m\n")
	bs, err := readBudgets(budgets)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	over, err := report(dir, bs, 0, &out)
	if err != nil {
		t.Fatal(err)
	}
	if over != 1 {
		t.Errorf("report found %d over budget; want 1 (TestSlow)", over)
	}
	s := out.String()
	order := []string{"TestHangs", "TestSlow ", "BenchmarkThing", "TestFast"}
	at := -1
	for _, name := range order {
		i := strings.Index(s, name)
		if i < at {
			t.Errorf("%s is not in slowest-first order:\n%s", name, s)
		}
		at = i
	}
	for _, w := range []string{
		"2m0s", // TestHangs, cut short: until the stream's last event
		"cut",
		"30s", // the benchmark, from its start to its result
		"OVER ITS BUDGET of 30s",
		"over budget: example.com/p TestSlow took 1m0s",
		"images  0:00   16:40",
		"all", "20:11",
	} {
		if !strings.Contains(s, w) {
			t.Errorf("report lacks %q:\n%s", w, s)
		}
	}
}

func TestReadBudgetsRefusesABrokenLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "budgets")
	os.WriteFile(file, []byte("e2e TestX\n"), 0o644)
	if _, err := readBudgets(file); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("readBudgets(line without a duration) = %v; want an error naming line 1", err)
	}
}

func TestParseProcStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	s, err := parseProcStat("cpu  100 5 20 800 50 3 2 0 40 0\n", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if s.busy != 130 || s.total != 980 {
		t.Errorf("busy, total = %d, %d; want 130, 980 (idle and iowait are not busy; guest is in user already)", s.busy, s.total)
	}
	for _, line := range []string{"", "cpu0 1 2 3 4 5", "cpu  1 2 x 4 5 6"} {
		if _, err := parseProcStat(line, time.Time{}); err == nil {
			t.Errorf("parseProcStat(%q) succeeded; want an error", line)
		}
	}
}

func TestReportGivesTheShareOfCPUBusy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	at := func(clock string) int64 {
		tm, err := time.Parse(time.RFC3339, "2026-12-07T"+clock+"Z")
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	write("e2e-p.json", run)
	write("phases.tsv", fmt.Sprintf("e2e-p\t%d\t%d\tok\n", at("10:00:00")/1000, at("10:03:31")/1000))
	// Busy a quarter of the time during TestSlow (10:00:01 to 10:01:01), all
	// of it afterwards; the last line was cut short when the sampler stopped.
	write("cpu.tsv", fmt.Sprintf("%d 0 0\n%d 100 400\n%d 400 700\n%d 400", at("10:00:01"), at("10:01:01"), at("10:03:31"), at("10:03:33")))
	var out bytes.Buffer
	if _, err := report(dir, nil, 0, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, w := range []string{
		"1m0s  25%  e2e-p  example.com/p  TestSlow ", // TestSlow
		"e2e-p  0:00   3:31  3m31s  57%",
		"TestFast", // no two samples within its second: no share
	} {
		if !strings.Contains(s, w) {
			t.Errorf("report lacks %q:\n%s", w, s)
		}
	}
	if !regexp.MustCompile(`1s +- +e2e-p +example.com/p +TestFast`).MatchString(s) {
		t.Errorf("TestFast's share is not \"-\" (no two samples in its second):\n%s", s)
	}
}
