package cluster

import (
	"slices"
	"strings"
	"testing"
)

func TestParseBudget(t *testing.T) {
	for _, tt := range []struct {
		memory, cpus, disk string
		want               Budget
		args               []string
	}{
		{"3Gi", "1.5", "2Gi", Budget{3 << 30, 1.5, 2 << 30}, []string{"--memory", "3221225472", "--memory-swap", "3221225472", "--cpus", "1.5"}},
		{"2048Mi", "2", "512Mi", Budget{2 << 30, 2, 512 << 20}, []string{"--memory", "2147483648", "--memory-swap", "2147483648", "--cpus", "2"}},
		{"0", "0", "0", Budget{}, nil},
	} {
		b, err := ParseBudget(tt.memory, tt.cpus, tt.disk)
		if err != nil || b != tt.want {
			t.Errorf("ParseBudget(%q, %q, %q) = %+v, %v; want %+v", tt.memory, tt.cpus, tt.disk, b, err, tt.want)
		}
		if got := b.updateArgs(); !slices.Equal(got, tt.args) {
			t.Errorf("%+v: docker update %q; want %q", b, got, tt.args)
		}
	}
	for _, bad := range [][3]string{{"lots", "1", "1Gi"}, {"-1Gi", "1", "1Gi"}, {"512Mi", "1", "1Gi"}, {"3Gi", "x", "1Gi"}, {"3Gi", "-1", "1Gi"},
		{"3Gi", "0.1", "1Gi"}, {"3Gi", "1", "much"}, {"3Gi", "1", "-1Gi"}, {"3Gi", "1", "1Mi"}} {
		if _, err := ParseBudget(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("ParseBudget(%q, %q, %q) succeeded; want an error saying what is wanted", bad[0], bad[1], bad[2])
		}
	}
}

// TestDiskOver: what the learner's pods hold is summed (their workstation
// counts, Kubernetes' and kindlab's own pods do not), and past the budget the
// pod holding the most is the one to delete, never the workstation.
func TestSize(t *testing.T) {
	for n, want := range map[int64]string{512 << 20: "512Mi", 2 << 30: "2Gi", 1536 << 20: "1.5Gi", 1000: "1000B"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q; want %q", n, got, want)
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
