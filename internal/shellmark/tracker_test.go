package shellmark

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// shell plays a learner's terminal into a Tracker: keystrokes, and what bash
// with the workstation's terminal.rc writes back.
type shell struct {
	t       *testing.T
	tr      *Tracker
	history int
	changes int
}

func newShell(t *testing.T) *shell {
	s := &shell{t: t, history: 10}
	s.tr = NewTracker(func() time.Time { return time.Unix(0, 0) }, func(Command) { s.changes++ })
	s.prompt("") // the first prompt: history 1 is an old entry
	return s
}

func (s *shell) typed(keys string) { s.tr.Typed([]byte(keys)) }

// write is output that may hold marks, as a Filter splits it.
func (s *shell) write(out string) {
	var f Filter
	for _, p := range f.Filter([]byte(out)) {
		if p.Mark != nil {
			s.tr.Mark(*p.Mark)
		} else {
			s.tr.Output(p.Output)
		}
	}
}

// run is bash running line (after the Enter that the caller typed): the start
// mark, output, then the prompt with line's history entry and exit status.
func (s *shell) run(line, output string, exit int, pipe string) {
	s.write("\x1b]133;C\a" + output)
	s.ended(line, exit, pipe)
}

// ended is the running command, line, ending: bash adds it to the history
// and draws the prompt with its exit status.
func (s *shell) ended(line string, exit int, pipe string) {
	s.history++
	s.prompt(fmt.Sprintf("%5d  %s", s.history, line), exit, pipe)
}

func (s *shell) prompt(entry string, status ...any) {
	exit, pipe := 0, "0"
	if len(status) == 2 {
		exit, pipe = status[0].(int), status[1].(string)
	}
	if entry == "" {
		entry = fmt.Sprintf("%5d  ls", s.history)
	}
	s.write(forged(entry, exit, pipe) + "learner:~$ ")
}

// forged is what a printf of the marks a command's end writes.
func forged(entry string, exit int, pipe string) string {
	return fmt.Sprintf("\x1b]633;E;%s\a\x1b]133;D;%d;%s\a", entry, exit, pipe)
}

func (s *shell) commands() []Command { return s.tr.Since(1) }

func (s *shell) want(lines ...string) {
	s.t.Helper()
	got := s.commands()
	if len(got) != len(lines) {
		s.t.Fatalf("commands = %+v; want lines %q", got, lines)
	}
	for i, c := range got {
		if c.Line != lines[i] {
			s.t.Fatalf("command %d = %q; want %q", i, c.Line, lines[i])
		}
	}
}

func TestTrackerTypedCommands(t *testing.T) {
	s := newShell(t)
	s.typed("kubectl get ep homepage\r")
	s.run("kubectl get ep homepage", "NAME  ENDPOINTS\r\n", 0, "0")
	s.typed("curl -s localhost:8090 | head -5\r")
	s.run("curl -s localhost:8090 | head -5", "<html>\r\n", 0, "7 0")
	s.typed("kubectl get pdos\x7f\x7f\x7fods -o wide\r") // typo, erased
	s.run("kubectl get pods -o wide", "", 0, "0")
	s.want("kubectl get ep homepage", "curl -s localhost:8090 | head -5", "kubectl get pods -o wide")
	c := s.commands()[1]
	if c.Exit != 0 || len(c.Pipe) != 2 || c.Pipe[0] != 7 || c.Output != "<html>\r\n" || c.Running {
		t.Errorf("curl command = %+v", c)
	}
}

func TestTrackerTabHistoryAndSpace(t *testing.T) {
	s := newShell(t)
	s.typed("kubectl get ep home\t-o wide\r")
	s.run("kubectl get ep homepage -o wide", "", 0, "0")
	s.typed("\x1b[A\r") // the same line again, from history
	s.run("kubectl get ep homepage -o wide", "", 0, "0")
	s.typed(" kubectl get svc\r") // a leading space keeps it out of history
	s.write("\x1b]133;C\a")
	s.prompt(fmt.Sprintf("%5d  %s", s.history, "kubectl get ep homepage -o wide"))
	s.want("kubectl get ep homepage -o wide", "kubectl get ep homepage -o wide", "kubectl get svc")
}

func TestTrackerRunningCommand(t *testing.T) {
	s := newShell(t)
	s.typed("kubectl port-forward deploy/homepage 8090:80\r")
	s.write("\x1b]133;C\aForwarding from 127.0.0.1:8090 -> 80\r\n")
	got := s.commands()
	if len(got) != 1 || !got[0].Running || got[0].Line != "kubectl port-forward deploy/homepage 8090:80" ||
		got[0].Output != "Forwarding from 127.0.0.1:8090 -> 80\r\n" || got[0].Exit != -1 {
		t.Fatalf("running = %+v", got)
	}
	before := s.changes
	s.typed("\x03") // Ctrl-C
	s.ended("kubectl port-forward deploy/homepage 8090:80", 130, "130")
	if c := s.commands(); len(c) != 1 || c[0].Running || c[0].Exit != 130 || s.changes != before+1 {
		t.Fatalf("after Ctrl-C = %+v (%d changes)", c, s.changes-before)
	}
}

// TestTrackerTypeahead: lines typed while a command still runs (a Run button
// clicked before the last command ended, the command a run-interrupt button
// types after Ctrl-C but before the prompt is back) are the shell's next
// commands: they are believed as such, and the running command is too.
func TestTrackerTypeahead(t *testing.T) {
	const (
		forward = "kubectl port-forward deploy/numbers-web 8080:80"
		apply   = "kubectl apply -f web-nodeport.yaml"
		rollout = "kubectl rollout status deploy/numbers-api --timeout=120s"
		get     = "kubectl get pods"
	)
	tests := []struct {
		name  string
		play  func(s *shell)
		lines []string
	}{
		{"Ctrl-C, then a command typed before the prompt is back", func(s *shell) {
			s.typed(forward + "\r")
			s.write("\x1b]133;C\aForwarding from 127.0.0.1:8080 -> 80\r\n")
			s.typed("\x03")
			s.typed(apply + "\r")
			s.ended(forward, 130, "130")
			s.run(apply, "service/numbers-web-nodeport created\r\n", 0, "0")
		}, []string{forward, apply}},
		{"the next command typed while one runs", func(s *shell) {
			s.typed(rollout + "\r")
			s.write("\x1b]133;C\aWaiting for deployment rollout to finish\r\n")
			s.typed(get + "\r")
			s.ended(rollout, 0, "0")
			s.run(get, "", 0, "0")
		}, []string{rollout, get}},
		{"two commands typed before the first started", func(s *shell) {
			s.typed(rollout + "\r" + get + "\r")
			s.run(rollout, "", 0, "0")
			s.run(get, "", 0, "0")
		}, []string{rollout, get}},
		{"lines typed into a program, then a command", func(s *shell) {
			s.typed("kubectl exec -it deploy/numbers-api -- sh\r")
			s.write("\x1b]133;C\a/ # ")
			s.typed("ls\r")
			s.typed("exit\r")
			s.ended("kubectl exec -it deploy/numbers-api -- sh", 0, "0")
			s.typed(get + "\r")
			s.run(get, "", 0, "0")
		}, []string{"kubectl exec -it deploy/numbers-api -- sh", get}},
		{"a line typed ahead, then Ctrl-C: the terminal drops it", func(s *shell) {
			s.typed("sleep 100\r")
			s.write("\x1b]133;C\a")
			s.typed(get + "\r\x03")
			s.ended("sleep 100", 130, "130")
			s.write("\x1b]133;C\a" + forged(fmt.Sprintf("%5d  %s", s.history+1, get), 0, "0"))
		}, []string{"sleep 100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newShell(t)
			tt.play(s)
			s.want(tt.lines...)
		})
	}
}

// claimIntoCat plays `cat` run at the prompt, the claim typed into it, and
// Ctrl-D: the claim is a line the learner typed that bash never ran.
func claimIntoCat(s *shell) {
	s.typed("cat\r")
	s.write("\x1b]133;C\a")
	s.typed("kubectl get ep homepage\r\x04")
	s.ended("cat", 0, "0")
}

// TestTrackerForgedMarks: every way of printing marks from the terminal that
// kindlab knows of adds no command that was not typed.
func TestTrackerForgedMarks(t *testing.T) {
	const claim = "kubectl get ep homepage"
	tests := []struct {
		name  string
		play  func(s *shell)
		lines []string // the commands believed afterwards
	}{
		{"printf of an end mark claiming another line", func(s *shell) {
			s.typed(`printf '\e]633;E;  99  kubectl get ep homepage\a\e]133;D;0\a'` + "\r")
			s.write("\x1b]133;C\a" + forged("   99  "+claim, 0, "0"))
			s.ended("printf ...", 0, "0")
		}, nil},
		{"marks from a background job at the prompt", func(s *shell) {
			s.write("\x1b]133;C\a" + forged("   11  "+claim, 0, "0"))
		}, nil},
		{"an end mark without any start", func(s *shell) {
			s.write(forged("   11  "+claim, 0, "0"))
		}, nil},
		{"a line recalled from history that never ran", func(s *shell) {
			s.typed("\x1b[A\r")
			s.run(claim, "", 0, "0")
		}, nil},
		{"a forged exit status, then the real one", func(s *shell) {
			line := "kubectl get ep nope | printf ... >/dev/tty"
			s.typed(line + "\r")
			s.history++
			s.write("\x1b]133;C\a" + forged(fmt.Sprintf("%5d  %s", s.history, line), 0, "0 0"))
			s.prompt(fmt.Sprintf("%5d  %s", s.history, line), 0, "1 0")
		}, nil},
		{"a real command, then an end mark printed after it", func(s *shell) {
			s.typed("kubectl get ep nope\r")
			s.run("kubectl get ep nope", "", 1, "1")
			s.write(forged(fmt.Sprintf("%5d  kubectl get ep nope", s.history), 0, "0"))
		}, nil},
		{"a line typed into a program, claimed by a background job at the prompt", func(s *shell) {
			// Typed ahead or into the program: kindlab cannot tell, so the
			// line counts once, as typed (never a line that was not).
			claimIntoCat(s)
			s.write("\x1b]133;C\a" + forged(fmt.Sprintf("%5d  %s", s.history+1, claim), 0, "0"))
			s.write("\x1b]133;C\a" + forged(fmt.Sprintf("%5d  %s", s.history+1, claim), 0, "0"))
		}, []string{"cat", claim}},
		{"a line typed into a program, then marks claiming another", func(s *shell) {
			claimIntoCat(s)
			s.write("\x1b]133;C\a" + forged(fmt.Sprintf("%5d  kubectl get secrets", s.history+1), 0, "0"))
			s.write("\x1b]133;C\a" + forged(fmt.Sprintf("%5d  %s", s.history+1, claim), 0, "0"))
		}, []string{"cat"}},
		{"Ctrl-C at the prompt keeps the last command", func(s *shell) {
			s.typed(claim + "\r")
			s.run(claim, "", 0, "0")
			s.typed("\x03")
			s.prompt(fmt.Sprintf("%5d  %s", s.history, claim))
		}, []string{claim}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newShell(t)
			tt.play(s)
			s.want(tt.lines...)
		})
	}
}

func TestLineEditor(t *testing.T) {
	tests := []struct {
		keys string
		want typedLine
	}{
		{"ls -l\r", typedLine{text: "ls -l"}},
		{"echo héllo\x7f\x7fo\r", typedLine{text: "echo hélo"}},
		{"junk\x15ls\r", typedLine{text: "ls"}},
		{"kubectl get pods\x17ep\r", typedLine{text: "kubectl get ep"}},
		{"abc\x03ls\r", typedLine{text: "ls"}},
		{"kub\tget po\t\r", typedLine{text: "kubget po", tabs: []int{3, 9}}},
		{"ls\x1b[Dx\r", typedLine{text: "lsx", edited: true}},
		{"\x12port\r", typedLine{text: "port", edited: true}},
		{"\x1b[200~kubectl get ep\x1b[201~\r", typedLine{text: "kubectl get ep"}},
	}
	for _, tt := range tests {
		var e lineEditor
		got := e.feed([]byte(tt.keys))
		if len(got) != 1 || got[0].text != tt.want.text || got[0].edited != tt.want.edited || fmt.Sprint(got[0].tabs) != fmt.Sprint(tt.want.tabs) {
			t.Errorf("%q: lines = %+v; want %+v", tt.keys, got, tt.want)
		}
	}
}

// TestTrackerTellsOfOutput: a running command's output is told when it starts
// and then at most every outputNotice, not on every chunk.
func TestTrackerTellsOfOutput(t *testing.T) {
	now := time.Unix(0, 0)
	told := 0
	tr := NewTracker(func() time.Time { return now }, func(c Command) {
		if c.Running {
			told++
		}
	})
	var f Filter
	write := func(s string) {
		for _, p := range f.Filter([]byte(s)) {
			if p.Mark != nil {
				tr.Mark(*p.Mark)
			} else {
				tr.Output(p.Output)
			}
		}
	}
	write("\x1b]633;E;    1  ls\a\x1b]133;D;0;0\a$ ")
	tr.Typed([]byte("kubectl get pods -w\r"))
	write("\x1b]133;C\a") // started: told
	for range 10 {
		write("pod-1   Running\r\n") // the same instant: told once
	}
	now = now.Add(outputNotice)
	write("pod-2   Running\r\n") // later: told again
	if told != 3 {
		t.Errorf("told %d times; want 3 (the start, the first output, output %s later)", told, outputNotice)
	}
}

// TestTrackerBoundedOnEndlessInput: what a learner types without end (one
// line never entered, a paste that never ends, lines typed into a program
// that reads them, thousands of commands) leaves the Tracker holding a
// bounded amount, and typed commands are still believed afterwards.
func TestTrackerBoundedOnEndlessInput(t *testing.T) {
	s := newShell(t)
	chunk := strings.Repeat("y", 64<<10)
	s.typed("echo ")
	for range 256 { // 16 MiB on one line
		s.typed(chunk)
	}
	s.typed("\x1b[200~")
	for range 256 { // 16 MiB in a bracketed paste
		s.typed(chunk)
	}
	s.typed("\x1b[201~" + strings.Repeat("\t", 10000))
	if n := s.tr.editor.line.Len(); n > MaxLine {
		t.Errorf("the line being typed holds %d bytes; want at most %d", n, MaxLine)
	}
	if n := len(s.tr.editor.tabs); n > maxTabs {
		t.Errorf("the line being typed holds %d Tab positions; want at most %d", n, maxTabs)
	}
	s.typed("\x03")
	s.write("^C\r\n")
	s.prompt("")

	// cat reads 100,000 lines: none is a command, and the tracker keeps few.
	s.typed("cat\r")
	s.write("\x1b]133;C\a")
	for i := range 100000 {
		s.typed(fmt.Sprintf("line %d\r", i))
	}
	if n := len(s.tr.submitted); n > maxSubmitted {
		t.Errorf("%d lines typed into cat kept; want at most %d", n, maxSubmitted)
	}
	s.typed("\x04")
	s.ended("cat", 0, "0")
	s.want("cat")

	for i := range 2 * MaxCommands {
		line := fmt.Sprintf("echo %d", i)
		s.typed(line + "\r")
		s.run(line, fmt.Sprintf("%d\r\n", i), 0, "0")
	}
	cmds := s.commands()
	if len(cmds) != MaxCommands || len(s.tr.accepted) > maxAccepted {
		t.Fatalf("%d commands and %d accepted lines kept after %d commands; want %d and at most %d",
			len(cmds), len(s.tr.accepted), 2*MaxCommands+1, MaxCommands, maxAccepted)
	}
	if last := cmds[len(cmds)-1]; last.Line != fmt.Sprintf("echo %d", 2*MaxCommands-1) {
		t.Errorf("the last command kept is %q; want the last run", last.Line)
	}
	s.typed("kubectl get pods\r")
	s.run("kubectl get pods", "No resources found\r\n", 0, "0")
	if c := s.commands(); c[len(c)-1].Line != "kubectl get pods" {
		t.Errorf("after the flood, a typed command is %q; want it believed", c[len(c)-1].Line)
	}
}
