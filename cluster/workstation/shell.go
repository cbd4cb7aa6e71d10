package workstation

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"
)

// Shell is one long-lived interactive bash in the workstation pod, fed commands the
// way a learner types them: they land in bash history, variables and background jobs
// carry over from one command to the next. Each command is followed by a marker line
// starting with a space (HISTCONTROL=ignorespace keeps it out of history) that echoes
// the exit code.
type Shell struct {
	stdin  io.WriteCloser
	lines  chan string
	done   chan error
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
	ended  atomic.Bool
}

// Dead reports whether the shell's stream has ended.
func (s *Shell) Dead() bool { return s.ended.Load() }

// Opener starts the stream of a shell: Conn.Shell execs into the workstation, tests
// run a local bash.
type Opener func(ctx context.Context, stdin io.Reader, stdout io.Writer) error

// Shell starts the scripted shell (bash --login -i, no TTY) in the workstation.
func (c *Conn) Shell(ctx context.Context) (*Shell, error) {
	return StartShell(ctx, func(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
		ex, err := c.executor(Namespace, Pod, &corev1.PodExecOptions{
			Container: Container, Command: []string{"bash", "--login", "-i"}, Stdin: true, Stdout: true, Stderr: true,
		})
		if err != nil {
			return err
		}
		return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stdout})
	})
}

// StartShell opens a shell with open and prepares it.
func StartShell(ctx context.Context, open Opener) (*Shell, error) {
	ctx, cancel := context.WithCancel(ctx)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &Shell{stdin: inW, lines: make(chan string, 256), done: make(chan error, 1), cancel: cancel}
	go func() {
		err := open(ctx, inR, outW)
		s.ended.Store(true)
		outW.CloseWithError(fmt.Errorf("shell ended: %v", err))
		s.done <- err
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	// No prompts in the output; marker lines stay out of history.
	if _, _, err := s.Run(ctx, " export HISTCONTROL=ignorespace PS1= PS2= PROMPT_COMMAND='history -a'", 30*time.Second); err != nil {
		s.Close()
		return nil, fmt.Errorf("start workstation shell: %w", err)
	}
	return s, nil
}

var markerRE = regexp.MustCompile(`__KINDLAB_DONE_(\d+)__ (\d+)`)

// Run types command into the shell and waits for it to finish, returning what it
// printed and its exit code.
func (s *Shell) Run(ctx context.Context, command string, timeout time.Duration) (output string, exitCode int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	id := s.n
	if _, err := fmt.Fprintf(s.stdin, "%s\n echo \"__KINDLAB_DONE_%d__ $?\"\n", command, id); err != nil {
		return "", -1, fmt.Errorf("type into shell: %w", err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var out strings.Builder
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				return out.String(), -1, fmt.Errorf("the workstation shell ended while running %q", command)
			}
			if m := markerRE.FindStringSubmatch(line); m != nil {
				if n, _ := strconv.Atoi(m[1]); n == id {
					if before, _, ok := strings.Cut(line, "__KINDLAB_DONE_"); ok && before != "" {
						out.WriteString(before)
					}
					code, _ := strconv.Atoi(m[2])
					return out.String(), code, nil
				}
				continue // a marker of an earlier, timed-out command
			}
			if strings.Contains(line, "__KINDLAB_DONE_") || (out.Len() == 0 && line == command) {
				continue // the shell echoing what was typed
			}
			out.WriteString(line)
			out.WriteByte('\n')
		case <-timer.C:
			// Interrupt the command like a learner pressing Ctrl-C would not reach a
			// non-TTY shell; kill its jobs instead and move on.
			fmt.Fprint(s.stdin, " kill %% 2>/dev/null\n")
			return out.String(), -1, fmt.Errorf("%q did not finish within %s", command, timeout)
		case <-ctx.Done():
			return out.String(), -1, ctx.Err()
		}
	}
}

// Close ends the shell.
func (s *Shell) Close() error {
	s.stdin.Close()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	return nil
}
