package web

import (
	"strconv"
	"strings"
	"time"
)

// The instructor's pages: login, home (create a workshop, list them), the
// learners' join page, the live dashboard with its grid fragment and the
// read-only terminal an instructor watches a learner through.

// InstructorLoginView is the instructor's sign-in page.
type InstructorLoginView struct {
	CSRF  string
	Error string // plain words, e.g. "That token is not valid"
}

// InstructorHomeView is the instructor's home: the create-workshop form and
// the instructor's workshops.
type InstructorHomeView struct {
	CSRF      string
	Labs      []LabOption
	Workshops []WorkshopSummary
	Error     string // why the last create failed, in plain words
}

// LabOption is a lab an instructor can put in a workshop or a learner can join.
type LabOption struct {
	ID    string
	Title string
}

// WorkshopSummary is one workshop in the instructor's list.
type WorkshopSummary struct {
	ID       string
	Title    string
	Code     string // the join code
	JoinURL  string // the full join link
	Learners int
	Capacity int
	Ends     time.Time
}

// JoinView is the page a learner opens with a workshop's join link.
type JoinView struct {
	CSRF          string
	Code          string
	WorkshopTitle string
	Labs          []LabOption // a select with more than one, a hidden field with one
	Name          string      // what the learner typed, kept after an error
	Error         string      // e.g. "This workshop is full"
}

// DashboardView is the instructor's live dashboard of one workshop.
type DashboardView struct {
	CSRF       string
	WorkshopID string
	Title      string
	Code       string
	JoinURL    string // the full join link
	Capacity   int
	Ends       time.Time
	Grids      []DashboardGridView // one per lab of the workshop
	MaxMessage int                 // the longest message the instructor may send, in characters
}

// DashboardGridView is the dashboard's live part, rendered by DashboardGrid
// on every change and sent to the browser over the dashboard's websocket.
type DashboardGridView struct {
	WorkshopID string
	LabID      string
	LabTitle   string
	CSRF       string
	Grid       Grid
	Steps      int // steps of the lab; len(Grid.Steps) when 0
}

// WatchView is the read-only terminal of one learner.
type WatchView struct {
	WorkshopID string
	Session    string
	Name       string
	WSURL      string // path of the read-only terminal websocket
}

// The instructor's paths. The server mounts its routes on the same paths.

// steps is how many step columns the grid has.
func (v DashboardGridView) steps() int {
	if v.Steps > 0 {
		return v.Steps
	}
	return len(v.Grid.Steps)
}

// stepTitle is the title of step n (1-based), or "" when the grid lacks it.
func (v DashboardGridView) stepTitle(n int) string {
	if n >= 1 && n <= len(v.Grid.Steps) {
		return v.Grid.Steps[n-1]
	}
	return ""
}

// cellAt returns row's cell for step n (1-based); a missing one is not started.
func cellAt(row GridRow, n int) GridCell {
	if n >= 1 && n <= len(row.Cells) && row.Cells[n-1].Step == n {
		return row.Cells[n-1]
	}
	for _, c := range row.Cells {
		if c.Step == n {
			return c
		}
	}
	return GridCell{Step: n, State: CellNotStarted}
}

// stepNumbers is 1..n.
func stepNumbers(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// ffDefault is the step the fast-forward select offers first: the one after
// the learner's current step.
func ffDefault(row GridRow, steps int) int {
	return min(max(row.Current+1, 1), steps)
}

// shortDuration writes a time on a step compactly: "<1m", "4m", "1h 5m".
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return strconv.Itoa(h) + "h"
	}
	return strconv.Itoa(h) + "h " + strconv.Itoa(m) + "m"
}

// cellTime is what a cell shows: the time on the step, nothing before it starts.
func cellTime(c GridCell) string {
	if c.State == CellNotStarted || c.State == "" {
		return ""
	}
	return shortDuration(c.TimeOnStep)
}

// messageLine writes one check message: "svc: fail — no such service".
func messageLine(m CellMessage) string {
	var b strings.Builder
	if m.CheckID != "" {
		b.WriteString(m.CheckID)
		b.WriteString(": ")
	}
	if m.Status != "" {
		b.WriteString(m.Status)
	}
	if m.Message != "" {
		if m.Status != "" {
			b.WriteString(" — ")
		}
		b.WriteString(m.Message)
	}
	return b.String()
}

// cellTitle is a cell's tooltip: step, state, time and the latest messages.
func cellTitle(row GridRow, c GridCell) string {
	var b strings.Builder
	b.WriteString(row.Name)
	b.WriteString(" · step ")
	b.WriteString(strconv.Itoa(c.Step))
	b.WriteString(": ")
	b.WriteString(string(c.State))
	if t := cellTime(c); t != "" {
		b.WriteString(" (")
		b.WriteString(t)
		b.WriteString(")")
	}
	if c.FastForwarded {
		b.WriteString(", fast-forwarded")
	}
	if c.State == CellStuck {
		b.WriteString("\n⚠ ")
		b.WriteString(stuckReason(c.Stuck, c.FailingCheck))
	}
	for _, m := range c.Messages {
		b.WriteString("\n")
		b.WriteString(messageLine(m))
	}
	return b.String()
}

// latestMessage is the most recent message of a cell, for its small line.
func latestMessage(c GridCell) string {
	if len(c.Messages) == 0 {
		return ""
	}
	return messageLine(c.Messages[len(c.Messages)-1])
}

// stuckReason says in plain words why a learner is stuck.
func stuckReason(reason StuckReason, check string) string {
	switch reason {
	case StuckOverEstimate:
		return "over the step's time estimate"
	case StuckRepeatedFailure:
		if check != "" {
			return "check " + check + " keeps failing"
		}
		return "a check keeps failing"
	}
	if reason == "" {
		return "stuck"
	}
	return string(reason)
}

// endsAt writes when a workshop ends, e.g. "15:30".
func endsAt(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.Format("15:04")
}

func endsAtISO(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// rowClass is the class of a learner's row.
// clusterNote says where a learner's cluster is when it is not simply ready.
func clusterNote(row GridRow) string {
	switch row.Cluster {
	case ClusterWaiting:
		if row.Queue > 0 {
			return "waiting for a cluster: #" + itoa(row.Queue) + " in the queue"
		}
		return "cluster on its way"
	case ClusterRecovering:
		if row.Queue > 0 {
			return "cluster lost: a new one is on its way, #" + itoa(row.Queue) + " in the queue"
		}
		return "cluster lost: a new one is on its way"
	case ClusterFailed:
		return "no cluster: could not be made ready"
	case ClusterPaused:
		return "idle: cluster paused until they are back"
	}
	return ""
}

func rowClass(row GridRow) string {
	switch {
	case row.Left:
		return "grid-row left"
	case row.Done:
		return "grid-row done"
	}
	return "grid-row"
}
