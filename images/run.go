package images

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Cmd is one command to run.
type Cmd struct {
	Name   string
	Args   []string
	Dir    string
	Env    []string // added to the current environment
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

func (c Cmd) String() string { return strings.Join(append([]string{c.Name}, c.Args...), " ") }

// Runner runs commands; tests substitute a fake.
type Runner interface {
	Run(ctx context.Context, c Cmd) error
}

// ExecRunner runs commands as processes.
type ExecRunner struct{}

var _ Runner = ExecRunner{}

// Run runs c, killing it when ctx ends.
func (ExecRunner) Run(ctx context.Context, c Cmd) error {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Dir, c.Stdin, c.Stdout, c.Stderr
	cmd.WaitDelay = 10 * time.Second
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	return nil
}

// output runs a command and returns its trimmed stdout; stderr goes to the error.
func output(ctx context.Context, r Runner, name string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := r.Run(ctx, Cmd{Name: name, Args: args, Stdout: &out, Stderr: &errb})
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// logged runs a command with its output going to log, echoing the command first.
func logged(ctx context.Context, r Runner, log io.Writer, c Cmd) error {
	fmt.Fprintf(log, "$ %s\n", c)
	c.Stdout, c.Stderr = log, log
	return r.Run(ctx, c)
}
