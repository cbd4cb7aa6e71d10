package check

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/cmdline"
)

// kubectlNamespace is the namespace of the workstation's kubectl context.
const kubectlNamespace = labs.DefaultNamespace

// command judges the commands run since the step began; ns is the namespace a
// model command without -n is in.
func command(st StepState, ns string, c *labs.CommandCheck) (string, error) {
	if st.Commands == nil {
		return "", errors.New("no terminal is attached to this step, so commands cannot be seen")
	}
	var patterns []cmdline.Pattern
	for _, m := range c.Command {
		p, err := cmdline.Compile(m)
		if err != nil {
			return "", fmt.Errorf("the lab's command check is broken: %w", err)
		}
		patterns = append(patterns, p)
	}
	var re *regexp.Regexp
	if c.Matches != "" {
		var err error
		if re, err = regexp.Compile(c.Matches); err != nil {
			return "", fmt.Errorf("the lab's command check is broken: %w", err)
		}
	}
	want := wantedCommand(c)
	cmds := st.Commands()
	var near string // why the closest command did not count
	for _, cmd := range slices.Backward(cmds) {
		calls := matchingCalls(cmd, patterns, re, ns)
		if len(calls) == 0 {
			continue
		}
		why := judge(cmd, calls, c)
		if why == "" {
			return "you ran " + excerpt(cmd.Line), nil
		}
		if near == "" {
			near = why
		}
	}
	if near != "" {
		return "", failf("%s", near)
	}
	if len(cmds) == 0 {
		return "", failf("run %s in the terminal", want)
	}
	return "", failf("run %s in the terminal; none of the %s you ran in this step does that", want, plural(len(cmds), "command"))
}

// matchingCalls returns the calls of cmd that do what the check asks.
func matchingCalls(cmd shellmark.Command, patterns []cmdline.Pattern, re *regexp.Regexp, ns string) []cmdline.Call {
	exit := cmd.Exit
	if cmd.Running {
		exit = cmdline.Unknown
	}
	calls, err := cmdline.Parse(cmd.Line, exit, cmd.Pipe)
	if err != nil {
		return nil
	}
	if re != nil {
		if !re.MatchString(cmd.Line) || len(calls) == 0 {
			return nil
		}
		return calls[len(calls)-1:] // the line as a whole: its last call's status
	}
	var out []cmdline.Call
	for _, call := range calls {
		if slices.ContainsFunc(patterns, func(p cmdline.Pattern) bool { return p.Match(call, ns, kubectlNamespace) }) {
			out = append(out, call)
		}
	}
	return out
}

// judge says why cmd, which holds calls that match, does not count ("" if it does).
func judge(cmd shellmark.Command, calls []cmdline.Call, c *labs.CommandCheck) string {
	line := excerpt(cmd.Line)
	switch {
	case cmd.Running && !c.Running:
		return fmt.Sprintf("%s is still running; the check looks at it when it ends", line)
	case c.Output != "" && !strings.Contains(cmd.Output, c.Output):
		if cmd.Running {
			return fmt.Sprintf("%s has not printed %q yet", line, c.Output)
		}
		return fmt.Sprintf("%s did not print %q", line, c.Output)
	case c.Running || c.Exit == labs.ExitAny:
		return ""
	}
	want, _ := strconv.Atoi(c.Exit) // "" is 0
	for _, call := range calls {
		if call.Status == want {
			return ""
		}
	}
	switch status := calls[len(calls)-1].Status; {
	case status == cmdline.Unknown:
		return fmt.Sprintf("you ran %s, but kindlab cannot tell whether that part succeeded; run it on its own", line)
	case want == 0:
		return fmt.Sprintf("you ran %s but it failed (exit status %d); look at what it printed and run it again", line, status)
	default:
		return fmt.Sprintf("you ran %s; it exited with %d, not %d as this step expects", line, status, want)
	}
}

// wantedCommand is what the learner is asked to run, in plain words.
func wantedCommand(c *labs.CommandCheck) string {
	if len(c.Command) == 0 {
		return "the command this step shows"
	}
	s := "`" + c.Command[0] + "`"
	if c.Running {
		s += " and leave it running"
	}
	if len(c.Command) > 1 {
		s += " (or a command like it)"
	}
	return s
}
