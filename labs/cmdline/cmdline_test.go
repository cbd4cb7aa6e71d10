package cmdline

import (
	"testing"
)

// matches reports whether a call of line (which exited with exit) matches
// pattern with its own exit status 0, as a command check asks by default.
func matches(t *testing.T, pattern, line string, exit int) bool {
	t.Helper()
	p, err := Compile(pattern)
	if err != nil {
		t.Fatal(err)
	}
	calls, err := Parse(line, exit, nil)
	if err != nil {
		return false
	}
	for _, c := range calls {
		if c.Status == 0 && p.Match(c, "default", "default") {
			return true
		}
	}
	return false
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, line string
		exit          int
		want          bool
	}{
		// Equivalent forms pass.
		{"kubectl get endpoints homepage", "kubectl get endpoints homepage", 0, true},
		{"kubectl get endpoints homepage", "kubectl get ep homepage", 0, true},
		{"kubectl get endpoints homepage", "kubectl get ep/homepage", 0, true},
		{"kubectl get endpoints homepage", "k get endpoint homepage -o wide", 0, true},
		{"kubectl get endpoints homepage", "kubectl -n default get ep homepage", 0, true},
		{"kubectl get endpoints homepage", "kubectl get ep homepage --namespace=default", 0, true},
		{"kubectl get endpoints homepage", "/usr/local/bin/kubectl get ep homepage", 0, true},
		{"kubectl get pods -o wide", "kubectl get po -owide", 0, true},
		{"kubectl get pods -o wide", "kubectl get pods --output=wide -l app=sleep-1", 0, true},
		{"kubectl get pods -o wide", "kubectl get pod sleep-1-7d9c8b6f4-x2x9z -o wide", 0, true},
		{"kubectl get pods -o wide", "kubectl get pods,services -o wide", 0, true},
		{"kubectl logs --selector app=signup,component=homepage", "kubectl logs -l component=homepage,app=signup", 0, true},
		{"kubectl logs --selector app=signup,component=homepage", "kubectl logs -l 'app=signup, component=homepage' --tail 5", 0, true},
		{"kubectl port-forward deploy/homepage 8090:80", "kubectl port-forward deployment/homepage 8090:80", 0, true},
		{"kubectl port-forward deploy/homepage 8090:80", "kubectl port-forward homepage-6d4cf56db6-k2x7p 8090:80", 0, true},
		{"kubectl exec deploy/sleep-1 -- ping", "kubectl exec -it deploy/sleep-1 -- ping -c 3 $IP", 0, true},
		{"kubectl exec deploy/sleep-1 -- ping", "kubectl exec deploy/sleep-1 -c sleep -- ping 10.244.0.7", 0, true},
		{"curl *:30080", "curl -sS 172.18.0.2:30080 && echo ok", 0, true},
		{"kubectl get endpoints homepage", "kubectl get nodes; kubectl get ep homepage", 0, true},
		{"kubectl get endpoints homepage", "time kubectl get ep homepage", 0, true},
		// Wrong ones fail.
		{"kubectl get endpoints homepage", "kubectl get endpoints numbers", 0, false},
		{"kubectl get endpoints homepage", "kubectl describe endpoints homepage", 0, false},
		{"kubectl get endpoints homepage", "kubectl get ep homepage -n kube-system", 0, false},
		{"kubectl get endpoints homepage", "kubectl get services homepage", 0, false},
		{"kubectl get pods -o wide", "kubectl get pods", 0, false},
		{"kubectl get pods -o wide", "kubectl get pods -o yaml", 0, false},
		{"kubectl logs --selector app=signup,component=homepage", "kubectl logs -l app=signup", 0, false},
		{"kubectl exec deploy/sleep-1 -- ping", "kubectl exec deploy/sleep-2 -- ping 10.0.0.1", 0, false},
		{"kubectl exec deploy/sleep-1 -- ping", "kubectl exec deploy/sleep-1 -- curl 10.0.0.1", 0, false},
		{"curl *:30080", "curl http://172.18.0.2:30081", 0, false},
		{"curl *:30080", "echo curl http://172.18.0.2:30080", 0, false},
		{"kubectl get endpoints homepage", "# kubectl get ep homepage", 0, false},
		{"kubectl get endpoints homepage", "echo 'kubectl get ep homepage'", 0, false},
		// Failed commands fail, and so do commands whose own status is unknown.
		{"kubectl get endpoints homepage", "kubectl get ep homepage", 1, false},
		{"curl *:30080", "curl 172.18.0.2:30080", 7, false},
		{"curl *:30080", "curl 172.18.0.2:30080 || true", 0, false},
		{"curl *:30080", "curl 172.18.0.2:30080; true", 0, false},
		{"curl *:30080", "curl 172.18.0.2:30080 | head", 0, false}, // no PIPESTATUS: only head's status is known
		{"curl *:30080", "! curl 172.18.0.2:30080", 0, false},
		{"curl *:30080", "curl 172.18.0.2:30080 &", 0, false},
		{"kubectl get endpoints homepage", "kubectl get ep homepage &&", 0, false}, // does not parse
	}
	for _, tt := range tests {
		if got := matches(t, tt.pattern, tt.line, tt.exit); got != tt.want {
			t.Errorf("%q ran %q (exit %d): match = %v; want %v", tt.pattern, tt.line, tt.exit, got, tt.want)
		}
	}
}

func TestPipeStatus(t *testing.T) {
	p, _ := Compile("curl *:30080")
	for _, tt := range []struct {
		pipe []int
		want bool
	}{{[]int{0, 0}, true}, {[]int{7, 0}, false}, {[]int{0}, false}} {
		calls, err := Parse("curl 172.18.0.2:30080 | head -5", 0, tt.pipe)
		if err != nil {
			t.Fatal(err)
		}
		got := calls[0].Status == 0 && p.Match(calls[0], "default", "default")
		if got != tt.want {
			t.Errorf("PIPESTATUS %v: match = %v; want %v", tt.pipe, got, tt.want)
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, s := range []string{"", "kubectl get pods; kubectl get svc", "kubectl get pods | head", "ping $IP", "kubectl get 'pods"} {
		if _, err := Compile(s); err == nil {
			t.Errorf("Compile(%q) accepted it", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"kubectl get ep homepage", "a && b | c; d &", "k exec -it x -- sh -c 'echo $((1+2))'", "$(x) `y` ${z:-1}"} {
		f.Add(s)
	}
	p, _ := Compile("kubectl get endpoints homepage")
	f.Fuzz(func(t *testing.T, line string) {
		calls, err := Parse(line, 0, []int{0, 1})
		if err != nil {
			return
		}
		for _, c := range calls {
			p.Match(c, "default", "default")
		}
	})
}
