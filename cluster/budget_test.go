package cluster

import (
	"slices"
	"strings"
	"testing"
)

func TestParseBudget(t *testing.T) {
	for _, tt := range []struct {
		memory, cpus string
		want         Budget
		args         []string
	}{
		{"3Gi", "1.5", Budget{3 << 30, 1.5}, []string{"--memory", "3221225472", "--memory-swap", "3221225472", "--cpus", "1.5"}},
		{"2048Mi", "2", Budget{2 << 30, 2}, []string{"--memory", "2147483648", "--memory-swap", "2147483648", "--cpus", "2"}},
		{"0", "0", Budget{}, nil},
	} {
		b, err := ParseBudget(tt.memory, tt.cpus)
		if err != nil || b != tt.want {
			t.Errorf("ParseBudget(%q, %q) = %+v, %v; want %+v", tt.memory, tt.cpus, b, err, tt.want)
		}
		if got := b.updateArgs(); !slices.Equal(got, tt.args) {
			t.Errorf("%+v: docker update %q; want %q", b, got, tt.args)
		}
	}
	for _, bad := range [][2]string{{"lots", "1"}, {"-1Gi", "1"}, {"512Mi", "1"}, {"3Gi", "x"}, {"3Gi", "-1"}, {"3Gi", "0.1"}} {
		if _, err := ParseBudget(bad[0], bad[1]); err == nil {
			t.Errorf("ParseBudget(%q, %q) succeeded; want an error saying what is wanted", bad[0], bad[1])
		}
	}
}

func TestEvictFirst(t *testing.T) {
	b := Budget{Memory: 3 << 30, CPUs: 1}
	got := b.evictFirst(Config(), 24<<30)
	want := "  kind: KubeletConfiguration\n  kernelMemcgNotification: true\n  evictionHard:\n    memory.available: 22272Mi\n" // 24Gi - 3Gi + 768Mi
	if !strings.Contains(got, want) {
		t.Errorf("config lacks %q:\n%s", want, got)
	}
	if got := (Budget{}).evictFirst(Config(), 24<<30); got != Config() {
		t.Error("no memory budget, yet the config changed")
	}
	if got := b.evictFirst(Config(), 0); got != Config() {
		t.Error("the host's memory unknown, yet the config changed")
	}
	if hostMemTotal() <= 0 {
		t.Error("hostMemTotal found no MemTotal in /proc/meminfo")
	}
}
