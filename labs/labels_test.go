package labs

import "testing"

func TestCheckLabel(t *testing.T) {
	one, three := 1, 3
	tests := []struct {
		name  string
		check Check
		want  string
	}{
		{name: "pods", check: Check{Pods: &PodsCheck{Selector: "app=x", Ready: &one}}, want: "1 pod ready (app=x)"},
		{name: "pods min", check: Check{Pods: &PodsCheck{Selector: "app=x", Ready: &three, Min: true}}, want: "At least 3 pods ready (app=x)"},
		{name: "endpoints", check: Check{Endpoints: &EndpointsCheck{Service: "web", Ready: &three, MatchPods: true}}, want: "Service web has 3 ready endpoints matching its pods"},
		{name: "absent", check: Check{Resource: &ResourceCheck{Resource: "services", Name: "web", Absent: true}}, want: "service web is gone"},
		{name: "dns", check: Check{DNS: &DNSCheck{Name: "web.default", Service: "web"}}, want: "web.default resolves to Service web"},
		{name: "script", check: Check{ID: "custom", Script: &ScriptCheck{Run: "true"}}, want: "Check custom"},
		{name: "command running", check: Check{Command: &CommandCheck{Command: []string{"kubectl port-forward svc/web 8080:80"}, Running: true}}, want: "You started kubectl port-forward svc/web 8080:80"},
		{name: "no kind", check: Check{ID: "empty"}, want: "Check empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.check.Label(); got != tt.want {
				t.Errorf("Label of %s = %q; want %q", tt.name, got, tt.want)
			}
		})
	}
}
