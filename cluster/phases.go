package cluster

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Phase is one step of a cluster's creation and how long it took.
type Phase struct {
	Name string
	Took time.Duration
}

// Phases are the steps of one create, in order.
type Phases []Phase

func (ps Phases) String() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", p.Name, p.Took.Round(10*time.Millisecond))
	}
	return b.String()
}

// phaseClock times the phases of one create: kindlab's own (begin) and kind's,
// read from the status lines kind logs (" • Starting control-plane 🕹️  ..." as a
// phase begins, " ✓ ..." as it ends).
type phaseClock struct {
	mu      sync.Mutex
	phases  Phases
	current string
	since   time.Time
}

// begin ends the current phase, if any, and starts one called name.
func (c *phaseClock) begin(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked()
	c.current, c.since = name, time.Now()
}

// end ends the current phase.
func (c *phaseClock) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked()
}

func (c *phaseClock) endLocked() {
	if c.current != "" {
		c.phases = append(c.phases, Phase{c.current, time.Since(c.since)})
		c.current = ""
	}
}

// kindStatus reads one of kind's log lines; status lines begin or end a phase.
func (c *phaseClock) kindStatus(line string) {
	line = strings.TrimSpace(line)
	if name, ok := strings.CutPrefix(line, "• "); ok && !strings.HasPrefix(name, "Ready after") {
		c.begin(phaseName(name))
	} else if strings.HasPrefix(line, "✓ ") || strings.HasPrefix(line, "✗ ") {
		c.end()
	}
}

// Phases returns the phases timed so far.
func (c *phaseClock) Phases() Phases {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append(Phases(nil), c.phases...)
}

// phaseName is kind's status without its emoji, trailing dots, the image name
// and the wait's limit: "Ensuring node image (kindlab/node:…) 🖼️  ..." is
// "Ensuring node image", "Waiting ≤ 2m0s for control-plane = Ready ⏳" is
// "Waiting for control-plane = Ready".
func phaseName(status string) string {
	status, _, _ = strings.Cut(status, " (")
	var words []string
	for _, w := range strings.Fields(status) {
		if w == "..." || strings.ContainsFunc(w, func(r rune) bool { return r > 0x7f }) ||
			(len(words) > 0 && words[0] == "Waiting" && len(words) == 1 && w != "for") {
			continue
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}
