package runner

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
)

// localBash opens an interactive bash on this machine in place of the workstation:
// the same program the workstation runs, without a cluster.
func localBash(home string) Opener {
	return func(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
		cmd := exec.CommandContext(ctx, "bash", "--norc", "--noprofile", "-i")
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "HISTFILE=" + filepath.Join(home, ".bash_history"), "HISTCONTROL=ignorespace"}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stdout
		return cmd.Run()
	}
}

func TestShell(t *testing.T) {
	home := t.TempDir()
	ctx := context.Background()
	sh, err := StartShell(ctx, localBash(home))
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	tests := []struct {
		name     string
		command  string
		wantOut  string
		wantCode int
	}{
		{name: "output", command: "echo hello", wantOut: "hello\n"},
		{name: "exit code", command: "false", wantCode: 1},
		{name: "variables carry over (set)", command: "X=42"},
		{name: "variables carry over (read)", command: "echo $X", wantOut: "42\n"},
		{name: "background job then kill", command: "sleep 30 & kill %1; wait 2>/dev/null; echo done", wantOut: "done\n"},
		{name: "exit code of a pipeline", command: "echo a | grep -q b", wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code, err := sh.Run(ctx, tt.command, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || (tt.wantOut != "" && !strings.Contains(out, tt.wantOut)) {
				t.Errorf("Run(%q) = %q, %d; want output with %q, exit %d", tt.command, out, code, tt.wantOut, tt.wantCode)
			}
			if strings.Contains(out, "__KINDLAB_DONE_") {
				t.Errorf("Run(%q) output shows the marker: %q", tt.command, out)
			}
		})
	}
	// The typed commands are in history, the markers are not.
	sh.Run(ctx, "history -a", 5*time.Second)
	hist, _ := os.ReadFile(filepath.Join(home, ".bash_history"))
	if !strings.Contains(string(hist), "echo hello") || strings.Contains(string(hist), "__KINDLAB_DONE_") {
		t.Errorf("history = %q; want the commands without markers", hist)
	}
	if _, _, err := sh.Run(ctx, "sleep 5", 200*time.Millisecond); err == nil {
		t.Error("a command past its timeout reported no error")
	}
}

func TestShellEnds(t *testing.T) {
	sh, err := StartShell(context.Background(), localBash(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if _, _, err := sh.Run(context.Background(), "exit 3", 5*time.Second); err == nil {
		t.Error("Run(exit) = nil error; want the shell's end reported")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !sh.Dead() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !sh.Dead() {
		t.Error("Dead() = false after the shell exited")
	}
}

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
