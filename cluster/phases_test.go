package cluster

import (
	"slices"
	"testing"
)

// kind's status lines, as its docker provider and create actions print them
// through a logger that is not a terminal, become named phases.
func TestPhaseClockReadsKindStatus(t *testing.T) {
	var c phaseClock
	c.begin("network")
	for _, line := range []string{
		" • Ensuring node image (kindlab/node:v1.37.2-855a1b77789f) 🖼️  ...\n",
		" ✓ Ensuring node image (kindlab/node:v1.37.2-855a1b77789f) 🖼️\n",
		" • Preparing nodes 📦   ...\n",
		"some other line from kind",
		" ✓ Preparing nodes 📦 \n",
		" • Starting control-plane 🕹️  ...\n",
		" ✓ Starting control-plane 🕹️\n",
		" • Waiting ≤ 2m0s for control-plane = Ready ⏳  ...\n",
		" ✓ Waiting ≤ 2m0s for control-plane = Ready ⏳\n",
		" • Ready after 14s 💚",
	} {
		c.kindStatus(line)
	}
	var names []string
	for _, p := range c.Phases() {
		names = append(names, p.Name)
	}
	if want := []string{"network", "Ensuring node image", "Preparing nodes", "Starting control-plane", "Waiting for control-plane = Ready"}; !slices.Equal(names, want) {
		t.Errorf("phases = %q; want %q", names, want)
	}
}
