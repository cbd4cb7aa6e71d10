package check

import (
	"context"
	"testing"

	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/labs"
)

func TestCommandCheck(t *testing.T) {
	ended := func(line string, exit int, pipe ...int) shellmark.Command {
		return shellmark.Command{Line: line, Exit: exit, Pipe: pipe}
	}
	running := func(line, output string) shellmark.Command {
		return shellmark.Command{Line: line, Exit: -1, Running: true, Output: output}
	}
	endpoints := &labs.CommandCheck{Command: labs.OneOrMore{"kubectl get endpoints homepage"}}
	portForward := &labs.CommandCheck{Command: labs.OneOrMore{"kubectl port-forward deploy/homepage 8090:80"}, Running: true, Output: "Forwarding from"}
	tests := []struct {
		name   string
		check  *labs.CommandCheck
		cmds   []shellmark.Command
		status Status
		msg    string
	}{
		{"nothing run yet", endpoints, nil, Fail, "run `kubectl get endpoints homepage` in the terminal"},
		{"another command", endpoints, []shellmark.Command{ended("kubectl get pods", 0)}, Fail,
			"run `kubectl get endpoints homepage` in the terminal; none of the 1 command you ran in this step does that"},
		{"an equivalent form", endpoints, []shellmark.Command{ended("k get ep homepage -o wide", 0)}, Pass, `you ran "k get ep homepage -o wide"`},
		{"it failed", endpoints, []shellmark.Command{ended("kubectl get ep homepage", 1)}, Fail,
			`you ran "kubectl get ep homepage" but it failed (exit status 1); look at what it printed and run it again`},
		{"failed, then ran again", endpoints, []shellmark.Command{ended("kubectl get ep homepage", 1), ended("kubectl get ep homepage", 0)}, Pass,
			`you ran "kubectl get ep homepage"`},
		{"its status is unknown", endpoints, []shellmark.Command{ended("kubectl get ep homepage || true", 0)}, Fail,
			`you ran "kubectl get ep homepage || true", but kindlab cannot tell whether that part succeeded; run it on its own`},
		{"a pipeline with PIPESTATUS", endpoints, []shellmark.Command{ended("kubectl get ep homepage | grep 10.", 0, 0, 0)}, Pass,
			`you ran "kubectl get ep homepage | grep 10."`},
		{"still running", endpoints, []shellmark.Command{running("kubectl get ep homepage -w", "")}, Fail,
			`"kubectl get ep homepage -w" is still running; the check looks at it when it ends`},
		{"port-forward running", portForward, []shellmark.Command{running("kubectl port-forward deploy/homepage 8090:80", "Forwarding from 127.0.0.1:8090 -> 80\r\n")}, Pass,
			`you ran "kubectl port-forward deploy/homepage 8090:80"`},
		{"port-forward before its output", portForward, []shellmark.Command{running("kubectl port-forward deploy/homepage 8090:80", "")}, Fail,
			`"kubectl port-forward deploy/homepage 8090:80" has not printed "Forwarding from" yet`},
		{"port-forward that could not listen", portForward, []shellmark.Command{ended("kubectl port-forward deploy/homepage 8090:80", 1)}, Fail,
			`"kubectl port-forward deploy/homepage 8090:80" did not print "Forwarding from"`},
		{"exit any", &labs.CommandCheck{Command: labs.OneOrMore{"kubectl apply -f bad-nodeport.yaml"}, Exit: "any"},
			[]shellmark.Command{ended("kubectl apply -f bad-nodeport.yaml", 1)}, Pass, `you ran "kubectl apply -f bad-nodeport.yaml"`},
		{"exit 1 wanted", &labs.CommandCheck{Command: labs.OneOrMore{"kubectl apply -f bad-nodeport.yaml"}, Exit: "1"},
			[]shellmark.Command{ended("kubectl apply -f bad-nodeport.yaml", 0)}, Fail,
			`you ran "kubectl apply -f bad-nodeport.yaml"; it exited with 0, not 1 as this step expects`},
		{"alternatives", &labs.CommandCheck{Command: labs.OneOrMore{"kubectl get endpoints homepage", "kubectl describe service homepage"}},
			[]shellmark.Command{ended("kubectl describe svc homepage", 0)}, Pass, `you ran "kubectl describe svc homepage"`},
		{"regexp escape hatch", &labs.CommandCheck{Matches: `^env\b.*KUBECONFIG`}, []shellmark.Command{ended("env | grep KUBECONFIG", 0, 0, 0)}, Pass,
			`you ran "env | grep KUBECONFIG"`},
		{"regexp without a match", &labs.CommandCheck{Matches: `^env\b`}, []shellmark.Command{ended("ls", 0)}, Fail,
			"run the command this step shows in the terminal; none of the 1 command you ran in this step does that"},
	}
	e := New(Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := StepState{Namespace: "default", Commands: func() []shellmark.Command { return tt.cmds }}
			r := e.Evaluate(context.Background(), st, labs.Check{ID: "c", Kind: labs.KindCommand, Command: tt.check})
			if r.Status != tt.status || r.Message != tt.msg {
				t.Errorf("got %s %q\nwant %s %q", r.Status, r.Message, tt.status, tt.msg)
			}
		})
	}
	r := e.Evaluate(context.Background(), StepState{}, labs.Check{ID: "c", Kind: labs.KindCommand, Command: endpoints})
	if r.Status != Error {
		t.Errorf("without a terminal: %s %q; want an error, not the learner's failure", r.Status, r.Message)
	}
}
