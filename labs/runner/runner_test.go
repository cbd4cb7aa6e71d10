package runner

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

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
