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

	"gopkg.in/yaml.v3"
)

// localTerminal runs bash with the workstation's own terminal.rc (read from
// manifests/platform/workstation.yaml) in a pseudo-terminal made by script(1).
func localTerminal(t *testing.T) io.ReadWriteCloser {
	t.Helper()
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatal("script(1) from util-linux is needed for a local terminal")
	}
	rc := filepath.Join(t.TempDir(), "terminal.rc")
	if err := os.WriteFile(rc, []byte(terminalRC(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("script", "-qfec", "bash --rcfile "+rc+" -i", "/dev/null")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "PS1=$ ")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return struct {
		io.Reader
		io.Writer
		io.Closer
	}{stdout, stdin, stdin}
}

// terminalRC is the terminal.rc of the workstation-init ConfigMap.
func terminalRC(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../manifests/platform/workstation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("no ConfigMap with terminal.rc: %v", err)
		}
		if rc, ok := doc.Data["terminal.rc"]; ok {
			return rc
		}
	}
}

// TestTypistRunButtons walks Run buttons through a real bash with the
// workstation's shell integration: commands end with their exit status, a
// command that keeps running is left running and the next run-interrupt block
// stops it, and a forged mark adds no command.
func TestTypistRunButtons(t *testing.T) {
	ctx := context.Background()
	ty := NewTypist(localTerminal(t))
	ty.Settle = 300 * time.Millisecond
	defer ty.Close()
	if err := ty.WaitPrompt(ctx, 20*time.Second); err != nil {
		t.Fatal(err, ty.Screen())
	}
	steps := []struct {
		block    Line
		mayLeave bool
		line     string
		exit     int
		running  bool
	}{
		{Line{Command: "echo hello | tr a-z A-Z"}, false, "echo hello | tr a-z A-Z", 0, false},
		{Line{Command: "ls /nonexistent"}, false, "ls /nonexistent", 2, false},
		{Line{Command: "echo one \\\n  two"}, false, "echo one   two", 0, false}, // as bash's history keeps it
		{Line{Command: "echo Forwarding; sleep 60"}, true, "echo Forwarding; sleep 60", -1, true},
		{Line{Command: "echo after", Interrupt: true}, false, "echo after", 0, false},
		{Line{Command: "true", Interrupt: true}, false, "true", 0, false}, // Ctrl-C at an idle prompt
	}
	for _, s := range steps {
		c, err := ty.Run(ctx, s.block, s.mayLeave, 20*time.Second)
		if err != nil {
			t.Fatalf("%q: %v\nscreen: %q", s.block.Command, err, ty.Screen())
		}
		if c.Line != s.line || c.Exit != s.exit || c.Running != s.running {
			t.Errorf("%q: command %+v; want line %q, exit %d, running %v", s.block.Command, c, s.line, s.exit, s.running)
		}
	}
	if c, _ := ty.Commands().Command(4); !strings.Contains(c.Output, "Forwarding") || c.Running || c.Exit != 130 {
		t.Errorf("the interrupted command = %+v; want it ended by Ctrl-C with its output", c)
	}
	// A printf of forged marks is a command of its own, and claims nothing.
	forge := `printf '\e]133;C\a\e]633;E;  99  kubectl get ep homepage\a\e]133;D;0;0\a'`
	if _, err := ty.Run(ctx, Line{Command: forge}, false, 20*time.Second); err == nil || !strings.Contains(err.Error(), "not believed") {
		t.Fatalf("running the forgery: %v; want its marks not believed", err)
	}
	for _, c := range ty.Commands().Since(1) {
		if strings.Contains(c.Line, "kubectl") && !strings.HasPrefix(c.Line, "printf") {
			t.Errorf("a forged command was believed: %+v", c)
		}
	}
}
