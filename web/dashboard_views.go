package web

import "time"

// Grid is one lab's progress in a workshop as the instructor's dashboard
// shows it: the server builds it from the workshop's progress grid.
type Grid struct {
	Steps    []string  // the lab's step titles, in order
	Learners []GridRow // sorted by name
	Summary  GridSummary
	Stuck    []StuckLearner // longest stuck first
}

// GridSummary counts a grid's learners.
type GridSummary struct {
	Learners      int
	Present       int // not left
	Done          int
	StuckLearners int
	Waiting       int // waiting for a cluster
	Recovering    int // their cluster lost, a new one on its way
	Failed        int // without a cluster
	Paused        int // idle, their cluster paused
}

// GridRow is one learner's row.
type GridRow struct {
	Session string
	Name    string
	Left    bool
	Done    bool // every step passed
	Current int  // the step they are on, 0 before the first
	Cluster ClusterState
	Queue   int    // place in the queue for a cluster, from 1; 0 when not queued
	Limit   string // the latest limit their cluster hit
	Cells   []GridCell
}

// ClusterState is where a learner's cluster is, as their row says.
type ClusterState string

// Cluster states.
const (
	ClusterReady      ClusterState = "ready"
	ClusterWaiting    ClusterState = "waiting"
	ClusterRecovering ClusterState = "recovering"
	ClusterFailed     ClusterState = "failed"
	ClusterPaused     ClusterState = "paused"
)

// GridCell is one learner on one step.
type GridCell struct {
	Step          int
	State         CellState
	TimeOnStep    time.Duration
	Stuck         StuckReason // when State is CellStuck
	FailingCheck  string      // with StuckRepeatedFailure
	FastForwarded bool        // passed by an instructor's fast-forward
	Messages      []CellMessage
}

// CellState is the state of a learner on a step.
type CellState string

// Cell states.
const (
	CellNotStarted CellState = "not-started"
	CellWorking    CellState = "working"
	CellPassed     CellState = "passed"
	CellStuck      CellState = "stuck"
)

// StuckReason is why a learner is stuck on a step.
type StuckReason string

// Stuck reasons.
const (
	StuckOverEstimate    StuckReason = "over-estimate"
	StuckRepeatedFailure StuckReason = "repeated-failure"
)

// CellMessage is the latest result of one check on a cell.
type CellMessage struct {
	CheckID string
	Status  string
	Message string
}

// StuckLearner is one entry of the stuck list.
type StuckLearner struct {
	Session  string
	Name     string
	Step     int
	For      time.Duration // time on the step
	Reason   StuckReason
	CheckID  string // with StuckRepeatedFailure
	LastFail string // the latest failure of that check
}
