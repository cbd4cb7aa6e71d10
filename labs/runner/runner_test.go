package runner

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
)

func sampleReport() Report {
	return Report{Duration: 90 * time.Second, Labs: []LabResult{
		{Lab: "good", Duration: time.Minute, Steps: []StepResult{{Step: "01.md", Checks: []CheckResult{{ID: "a", Kind: labs.KindPods, After: check.Result{Status: check.Pass}}}}}},
		{Lab: "bad", Duration: 30 * time.Second, Steps: []StepResult{
			{Step: "01.md", Checks: []CheckResult{{ID: "early", Kind: labs.KindResource, Problem: "broken check: passes before the step's solution ran"}}},
			{Step: "02.md", Error: `solution command "x" exited 1: <nope> & "quotes"`},
		}},
		{Lab: "dead", Error: "create cluster: boom"},
	}}
}

func TestReports(t *testing.T) {
	r := sampleReport()
	if !r.Failed() {
		t.Fatal("Failed() = false with failing labs")
	}
	var sum bytes.Buffer
	r.WriteSummary(&sum)
	for _, want := range []string{"PASS good", "FAIL bad", "bad/01.md/early (resource): broken check", "dead: create cluster: boom", "1 of 3 labs passed"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	var junit bytes.Buffer
	if err := r.WriteJUnit(&junit); err != nil {
		t.Fatal(err)
	}
	var parsed junitSuites
	if err := xml.Unmarshal(junit.Bytes(), &parsed); err != nil {
		t.Fatalf("JUnit is not XML: %v\n%s", err, junit.String())
	}
	if parsed.Tests != 4 || parsed.Failures != 2 || parsed.Errors != 1 {
		t.Errorf("JUnit counts = %d tests, %d failures, %d errors; want 4, 2, 1", parsed.Tests, parsed.Failures, parsed.Errors)
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"lab": "dead"`) {
		t.Errorf("JSON: %v\n%s", err, js.String())
	}
}

func TestPlainText(t *testing.T) {
	in := "\x1b[?2004h\x1b[1;32mlearner\x1b[0m:\x1b[1;34m~\x1b[0m$ ^C\r\n\x1b]0;title\x07done"
	if got, want := plainText(in), "learner:~$ ^C\ndone"; got != want {
		t.Errorf("plainText = %q; want %q", got, want)
	}
}

// slowClusters fails every create after a moment, counting how many ran at once.
type slowClusters struct {
	mu           sync.Mutex
	now, most, n int
}

func (s *slowClusters) Create(ctx context.Context, name string) (*cluster.Cluster, error) {
	s.mu.Lock()
	s.now++
	s.n++
	s.most = max(s.most, s.now)
	s.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	return nil, errors.New("no room")
}

func (s *slowClusters) Delete(context.Context, string) error                { return nil }
func (s *slowClusters) LoadImages(context.Context, string, ...string) error { return nil }

// Labs run Parallel at a time, but their clusters are made Creates at a time.
func TestClustersAreMadeCreatesAtATime(t *testing.T) {
	all := []*labs.Lab{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	for _, creates := range []int{0, 1, 2} {
		clusters := &slowClusters{}
		r := &Runner{Clusters: clusters, Manifests: fstest.MapFS{}, Parallel: 3, Creates: creates}
		report := r.Run(t.Context(), all)
		want := max(1, creates)
		if clusters.most != want || clusters.n != len(all) {
			t.Errorf("Creates %d: %d creates, at most %d at once; want %d, at most %d", creates, clusters.n, clusters.most, len(all), want)
		}
		for _, l := range report.Labs {
			if !strings.Contains(l.Error, "no room") {
				t.Errorf("lab %s: error %q; want the create's", l.Lab, l.Error)
			}
		}
	}
}
