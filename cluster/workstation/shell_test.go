package workstation

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
