package workshop

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/server/activity"
)

// DefaultFailLimit is how many consecutive failures of one check make a
// learner Stuck.
const DefaultFailLimit = 5

// MaxCellMessages is how many check messages a cell keeps: the latest one of
// each check id, most recent last.
const MaxCellMessages = 5

// State is the state of one learner on one step.
type State int

// Cell states.
const (
	NotStarted State = iota
	Working
	Passed
	Stuck
)

var stateNames = [...]string{"not-started", "working", "passed", "stuck"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// MarshalText renders the state by name (for JSON and templates).
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Cluster is where a learner's cluster is, as the grid shows it.
type Cluster int

// Cluster states.
const (
	ClusterReady      Cluster = iota // the learner has a working cluster (or the grid never heard otherwise)
	ClusterWaiting                   // a cluster is being made ready, or the learner waits in the queue for one
	ClusterRecovering                // the cluster stopped answering; a new one is on its way, then the earlier steps are redone
	ClusterFailed                    // no cluster could be made ready; the learner must try again
	ClusterPaused                    // the learner went idle; their cluster sleeps until they are back
)

var clusterNames = [...]string{"ready", "waiting", "recovering", "failed", "paused"}

func (c Cluster) String() string {
	if c < 0 || int(c) >= len(clusterNames) {
		return fmt.Sprintf("Cluster(%d)", int(c))
	}
	return clusterNames[c]
}

// MarshalText renders the cluster state by name (for JSON and templates).
func (c Cluster) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Step describes one step of the workshop's lab.
type Step struct {
	Title    string
	Estimate time.Duration // 0: no estimate, never stuck by time
}

// Stuck reasons.
const (
	ReasonOverEstimate   = "over-estimate"
	ReasonRepeatedFailed = "repeated-failure"
)

// CheckMessage is the latest result of one check (or a learner's message,
// with an empty CheckID and Status "message").
type CheckMessage struct {
	At      time.Time
	CheckID string
	Status  string
	Message string
}

// GridView is a snapshot of the grid for rendering. It shares nothing with
// the Grid.
type GridView struct {
	At       time.Time
	Steps    []StepView
	Learners []LearnerRow // sorted by name, ignoring case
	Summary  Summary
	Stuck    []StuckLearner // longest stuck first
}

// StepView is one column of the grid with its counts.
type StepView struct {
	Number     int // from 1
	Title      string
	Estimate   time.Duration
	NotStarted int
	Working    int
	Passed     int
	Stuck      int
}

// LearnerRow is one learner's row.
type LearnerRow struct {
	Session string
	Name    string
	Left    bool
	Current int  // step the learner is on, 0 before the first
	Done    bool // every step passed
	Cluster Cluster
	Queue   int    // place in the queue for a cluster while ClusterWaiting, from 1; 0 when not queued
	Limit   string // the latest limit the learner's cluster hit (KindLimit), until they get a fresh one
	Cells   []CellView
}

// CellView is one learner on one step.
type CellView struct {
	Step          int
	State         State
	TimeOnStep    time.Duration
	StuckReason   string // ReasonOverEstimate or ReasonRepeatedFailed when Stuck
	FailingCheck  string // with ReasonRepeatedFailed
	FastForwarded bool   // passed by an instructor's fast-forward
	Messages      []CheckMessage
}

// Summary counts learners and cells.
type Summary struct {
	Learners      int
	Present       int // not left
	Done          int
	StuckLearners int
	Waiting       int // present learners waiting for a cluster
	Recovering    int // present learners whose cluster is being replaced
	Failed        int // present learners without a cluster
	Paused        int // present learners gone idle, their cluster paused
	NotStarted    int // cells
	Working       int
	Passed        int
	Stuck         int
}

// StuckLearner is one entry of the stuck list.
type StuckLearner struct {
	Session  string
	Name     string
	Step     int
	For      time.Duration // time on the step
	Reason   string
	CheckID  string // with ReasonRepeatedFailed
	LastFail string // message of the latest failure of that check
}

// Grid is the progress of every learner of one workshop, built from events.
// It is safe for concurrent use.
type Grid struct {
	steps     []Step
	failLimit int
	log       *slog.Logger

	mu       sync.Mutex
	learners map[string]*learnerState
}

type learnerState struct {
	session string
	name    string
	key     string // lower-case name, for sorting
	left    bool
	current int
	cluster Cluster
	queue   int
	limit   string // the latest limit their cluster hit, until a fresh one
	cells   []cell // index step-1
}

type cell struct {
	state         State // NotStarted, Working or Passed; Stuck is derived
	started       time.Time
	passed        time.Time
	fastForwarded bool
	streak        map[string]int // consecutive failures per check id
	failing       string         // a check id whose streak reached the limit
	msgs          []CheckMessage
}

// NewGrid returns an empty grid for a lab with these steps. Options:
// WithFailLimit, WithLogger.
func NewGrid(steps []Step, opts ...Option) (*Grid, error) {
	if len(steps) == 0 {
		return nil, errors.New("new grid: no steps")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("new grid: %w", err)
	}
	return &Grid{
		steps:     slices.Clone(steps),
		failLimit: cfg.failLimit,
		log:       cfg.log,
		learners:  make(map[string]*learnerState),
	}, nil
}

// Apply updates the grid with one event. Events for a session never seen
// create the learner, so a grid rebuilt from a partial log still shows
// everyone. Events with a step out of range are ignored (logged at debug).
func (g *Grid) Apply(e activity.Event) {
	if e.Session == "" {
		return // workshop-wide message
	}
	g.mu.Lock()
	defer g.mu.Unlock()

	l := g.learners[e.Session]
	if l == nil {
		l = &learnerState{session: e.Session, cells: make([]cell, len(g.steps))}
		g.learners[e.Session] = l
		l.setName(e.Session)
	}
	if e.Name != "" {
		l.setName(e.Name)
	}

	needStep := e.Kind == activity.KindStepStart || e.Kind == activity.KindStepPass || e.Kind == activity.KindCheck || e.Kind == activity.KindFastForward
	if (needStep && (e.Step < 1 || e.Step > len(g.steps))) || e.Step < 0 || e.Step > len(g.steps) {
		g.log.Debug("grid: step out of range", slog.String("learner", e.Session),
			slog.String("kind", string(e.Kind)), slog.Int("step", e.Step))
		return
	}

	switch e.Kind {
	case activity.KindJoin:
		l.left = false
		l.cluster, l.queue = ClusterWaiting, 0
	case activity.KindQueued: // a learner whose cluster was lost is still recovering while they wait
		if l.cluster != ClusterRecovering {
			l.cluster = ClusterWaiting
		}
		l.queue, _ = strconv.Atoi(e.Message)
	case activity.KindReady: // after a loss, the earlier steps are redone until KindRecovered
		if l.cluster != ClusterRecovering {
			l.cluster = ClusterReady
		}
		l.queue = 0
	case activity.KindRecovered:
		l.cluster, l.queue, l.limit = ClusterReady, 0, ""
	case activity.KindLimit:
		l.limit = e.Message
	case activity.KindLost:
		l.cluster, l.queue = ClusterRecovering, 0
	case activity.KindFailed:
		l.cluster, l.queue = ClusterFailed, 0
	case activity.KindPaused:
		if l.cluster == ClusterReady {
			l.cluster = ClusterPaused
		}
	case activity.KindResumed:
		if l.cluster == ClusterPaused {
			l.cluster = ClusterReady
		}
	case activity.KindLeave:
		l.left = true
	case activity.KindStepStart:
		c := &l.cells[e.Step-1]
		c.start(e.At)
		l.current = e.Step
	case activity.KindStepPass:
		c := &l.cells[e.Step-1]
		if c.state != Passed {
			c.start(e.At)
			c.state = Passed
			c.passed = e.At
			c.streak, c.failing = nil, ""
		}
		if l.current < e.Step {
			l.current = e.Step
		}
	case activity.KindCheck:
		c := &l.cells[e.Step-1]
		c.start(e.At)
		if l.current < e.Step {
			l.current = e.Step
		}
		c.addMessage(CheckMessage{At: e.At, CheckID: e.CheckID, Status: string(e.Status), Message: e.Message})
		if c.state == Passed {
			return
		}
		switch e.Status {
		case check.Fail:
			if c.streak == nil {
				c.streak = make(map[string]int)
			}
			c.streak[e.CheckID]++
			if c.streak[e.CheckID] >= g.failLimit && c.failing == "" {
				c.failing = e.CheckID
			}
		case check.Pass:
			delete(c.streak, e.CheckID)
			if c.failing == e.CheckID {
				c.failing = ""
				for id, n := range c.streak { // another check may be over the limit too
					if n >= g.failLimit {
						c.failing = id
						break
					}
				}
			}
		}
	case activity.KindReset:
		l.cluster, l.queue, l.limit = ClusterWaiting, 0, ""
		if e.Step == 0 {
			clear(l.cells)
			l.current = 0
		} else {
			l.cells[e.Step-1] = cell{}
		}
	case activity.KindFastForward:
		for i := 0; i < e.Step-1; i++ {
			c := &l.cells[i]
			if c.state != Passed {
				c.start(e.At)
				c.state, c.passed, c.fastForwarded = Passed, e.At, true
				c.streak, c.failing = nil, ""
			}
		}
		l.cells[e.Step-1].start(e.At)
		l.current = e.Step
	case activity.KindMessage:
		step := e.Step
		if step == 0 {
			step = l.current
		}
		if step > 0 {
			l.cells[step-1].addMessage(CheckMessage{At: e.At, Status: string(activity.KindMessage), Message: e.Message})
		}
	default:
		g.log.Debug("grid: unknown event kind", slog.String("learner", e.Session), slog.String("kind", string(e.Kind)))
	}
}

func (l *learnerState) setName(n string) {
	l.name = n
	l.key = strings.ToLower(n)
}

// start moves a NotStarted cell to Working at t.
func (c *cell) start(t time.Time) {
	if c.state == NotStarted {
		c.state = Working
		c.started = t
	}
}

// addMessage keeps the latest message per check id, at most MaxCellMessages.
func (c *cell) addMessage(m CheckMessage) {
	if m.CheckID != "" {
		c.msgs = slices.DeleteFunc(c.msgs, func(x CheckMessage) bool { return x.CheckID == m.CheckID })
	}
	if len(c.msgs) >= MaxCellMessages {
		c.msgs = slices.Delete(c.msgs, 0, len(c.msgs)-MaxCellMessages+1)
	}
	c.msgs = append(c.msgs, m)
}

// Snapshot returns the grid as of now.
func (g *Grid) Snapshot(now time.Time) GridView {
	g.mu.Lock()
	defer g.mu.Unlock()

	v := GridView{
		At:       now,
		Steps:    make([]StepView, len(g.steps)),
		Learners: make([]LearnerRow, 0, len(g.learners)),
	}
	for i, s := range g.steps {
		v.Steps[i] = StepView{Number: i + 1, Title: s.Title, Estimate: s.Estimate}
	}
	// One backing array for every row's cells: one allocation, not one per learner.
	order := make([]*learnerState, 0, len(g.learners))
	for _, l := range g.learners {
		order = append(order, l)
	}
	slices.SortFunc(order, func(a, b *learnerState) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.session, b.session))
	})
	cells := make([]CellView, len(g.learners)*len(g.steps))
	nmsgs := 0
	for _, l := range order {
		for i := range l.cells {
			nmsgs += len(l.cells[i].msgs)
		}
	}
	msgs := make([]CheckMessage, nmsgs) // one backing array for every cell's messages
	for _, l := range order {
		row := LearnerRow{Session: l.session, Name: l.name, Left: l.left, Current: l.current, Done: true, Cluster: l.cluster, Queue: l.queue, Limit: l.limit}
		row.Cells, cells = cells[:len(g.steps):len(g.steps)], cells[len(g.steps):]
		stuck := false
		for i := range l.cells {
			c := &l.cells[i]
			cv := CellView{Step: i + 1, State: c.state, FastForwarded: c.fastForwarded}
			if n := len(c.msgs); n > 0 {
				cv.Messages, msgs = msgs[:n:n], msgs[n:]
				copy(cv.Messages, c.msgs)
			}
			switch c.state {
			case Working:
				cv.TimeOnStep = max(now.Sub(c.started), 0)
				if c.failing != "" {
					cv.State, cv.StuckReason, cv.FailingCheck = Stuck, ReasonRepeatedFailed, c.failing
				} else if est := g.steps[i].Estimate; est > 0 && cv.TimeOnStep > est {
					cv.State, cv.StuckReason = Stuck, ReasonOverEstimate
				}
			case Passed:
				cv.TimeOnStep = max(c.passed.Sub(c.started), 0)
			}
			sv := &v.Steps[i]
			switch cv.State {
			case NotStarted:
				sv.NotStarted++
				v.Summary.NotStarted++
			case Working:
				sv.Working++
				v.Summary.Working++
			case Passed:
				sv.Passed++
				v.Summary.Passed++
			case Stuck:
				sv.Stuck++
				v.Summary.Stuck++
				stuck = true
				sl := StuckLearner{Session: l.session, Name: l.name, Step: i + 1, For: cv.TimeOnStep,
					Reason: cv.StuckReason, CheckID: cv.FailingCheck}
				for _, m := range slices.Backward(c.msgs) {
					if cv.FailingCheck != "" && m.CheckID == cv.FailingCheck {
						sl.LastFail = m.Message
						break
					}
				}
				v.Stuck = append(v.Stuck, sl)
			}
			if cv.State != Passed {
				row.Done = false
			}
			row.Cells[i] = cv
		}
		v.Summary.Learners++
		if !l.left {
			v.Summary.Present++
			switch l.cluster {
			case ClusterWaiting:
				v.Summary.Waiting++
			case ClusterRecovering:
				v.Summary.Recovering++
			case ClusterFailed:
				v.Summary.Failed++
			case ClusterPaused:
				v.Summary.Paused++
			}
		}
		if row.Done {
			v.Summary.Done++
		}
		if stuck {
			v.Summary.StuckLearners++
		}
		v.Learners = append(v.Learners, row)
	}
	// Entries were appended in learner order (name, session) then step, so a
	// stable sort on time alone keeps that order among equals.
	slices.SortStableFunc(v.Stuck, func(a, b StuckLearner) int { return cmp.Compare(b.For, a.For) })
	return v
}
