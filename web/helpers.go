package web

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kindlab/kindlab/labs/check"
)

func itoa(n int) string { return strconv.Itoa(n) }

// stageView is a provisioning stage with its state: done, active, failed or pending.
type stageView struct {
	ProgressStage
	State string
}

// stages lists the provisioning stages with their states: those before the
// current stage are done, the current one is active (failed on error).
func (v ProgressView) stages() []stageView {
	names := v.Stages
	cur := -1
	for i, n := range names {
		if n.ID == v.Stage.ID {
			cur = i
		}
	}
	if cur < 0 && v.Stage.ID != "" {
		names = append(names[:len(names):len(names)], v.Stage)
		cur = len(names) - 1
	}
	out := make([]stageView, len(names))
	for i, n := range names {
		state := "pending"
		switch {
		case i < cur:
			state = "done"
		case i == cur && v.Error != "":
			state = "failed"
		case i == cur:
			state = "active"
		}
		out[i] = stageView{ProgressStage: n, State: state}
	}
	return out
}

// progressState is the whole view's state: waiting, queued or failed.
func progressState(v ProgressView) string {
	switch {
	case v.Error != "":
		return "failed"
	case v.Queue > 0:
		return "queued"
	}
	return "waiting"
}

func boolString(b bool) string { return strconv.FormatBool(b) }

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func joinLines(lines []string) string { return strings.Join(lines, "\n") }

// checksSummary is "1 of 3 passing" for the check list's header.
func checksSummary(checks []CheckView) string {
	n := 0
	for _, c := range checks {
		if c.Status == check.Pass {
			n++
		}
	}
	if n == len(checks) {
		return "all passing"
	}
	return strconv.Itoa(n) + " of " + strconv.Itoa(len(checks)) + " passing"
}

// statusText is a check status for screen readers.
func statusText(s check.Status) string {
	switch s {
	case check.Pass:
		return "passed"
	case check.Fail:
		return "not yet"
	case check.Error:
		return "could not run"
	}
	return "waiting"
}

// plural counts noun: "1 step", "3 steps".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
