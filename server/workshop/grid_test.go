package workshop

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/server/activity"
)

var t0 = time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

var testSteps = []Step{
	{Title: "Create a pod", Estimate: 10 * time.Minute},
	{Title: "Explore", Estimate: 0}, // no estimate
	{Title: "Expose it", Estimate: 5 * time.Minute},
}

func fails(id string, n int, from time.Duration) []activity.Event {
	var es []activity.Event
	for i := range n {
		es = append(es, activity.Event{At: at(from + time.Duration(i)*time.Second), Session: "s1", Kind: activity.KindCheck, Step: 1,
			CheckID: id, Status: check.Fail, Message: fmt.Sprintf("%s failed #%d", id, i+1)})
	}
	return es
}

func seq(parts ...[]activity.Event) []activity.Event { return slices.Concat(parts...) }

func ev(d time.Duration, kind activity.Kind, step int) activity.Event {
	return activity.Event{At: at(d), Session: "s1", Kind: kind, Step: step}
}

// msgEv is ev with a Message.
func msgEv(d time.Duration, kind activity.Kind, step int, msg string) activity.Event {
	e := ev(d, kind, step)
	e.Message = msg
	return e
}

func checkEv(d time.Duration, id string, status check.Status) activity.Event {
	return activity.Event{At: at(d), Session: "s1", Kind: activity.KindCheck, Step: 1, CheckID: id, Status: status, Message: id + " " + string(status)}
}

func TestGridCellStates(t *testing.T) {
	join := []activity.Event{{At: t0, Session: "s1", Kind: activity.KindJoin, Name: "Ada"}}
	tests := []struct {
		name       string
		opts       []Option
		events     []activity.Event
		now        time.Duration
		step       int
		wantState  State
		wantTime   time.Duration
		wantReason string
		wantCheck  string
	}{
		{name: "not started", events: join, now: time.Hour, step: 1, wantState: NotStarted},
		{name: "working", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}), now: 5 * time.Minute, step: 1,
			wantState: Working, wantTime: 5 * time.Minute},
		{name: "at estimate is not stuck", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}), now: 10 * time.Minute, step: 1,
			wantState: Working, wantTime: 10 * time.Minute},
		{name: "stuck over estimate", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}), now: 11 * time.Minute, step: 1,
			wantState: Stuck, wantTime: 11 * time.Minute, wantReason: ReasonOverEstimate},
		{name: "no estimate never stuck by time", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 2)}), now: 10 * time.Hour, step: 2,
			wantState: Working, wantTime: 10 * time.Hour},
		{name: "passed clears stuck over estimate", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1), ev(20*time.Minute, activity.KindStepPass, 1)}),
			now: time.Hour, step: 1, wantState: Passed, wantTime: 20 * time.Minute},
		{name: "four failures is working", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}, fails("pod-running", 4, time.Minute)),
			now: 2 * time.Minute, step: 1, wantState: Working, wantTime: 2 * time.Minute},
		{name: "five failures is stuck", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}, fails("pod-running", 5, time.Minute)),
			now: 2 * time.Minute, step: 1, wantState: Stuck, wantTime: 2 * time.Minute, wantReason: ReasonRepeatedFailed, wantCheck: "pod-running"},
		{name: "other checks passing in between do not hide the streak",
			events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1),
				checkEv(1, "a", check.Fail), checkEv(2, "b", check.Pass), checkEv(3, "a", check.Fail), checkEv(4, "b", check.Pass),
				checkEv(5, "a", check.Fail), checkEv(6, "b", check.Fail), checkEv(7, "a", check.Fail), checkEv(8, "a", check.Fail)}),
			now: time.Minute, step: 1, wantState: Stuck, wantTime: time.Minute, wantReason: ReasonRepeatedFailed, wantCheck: "a"},
		{name: "a pass of the same check breaks the streak",
			events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}, fails("a", 4, time.Second), []activity.Event{checkEv(10*time.Second, "a", check.Pass)},
				fails("a", 4, 20*time.Second)),
			now: time.Minute, step: 1, wantState: Working, wantTime: time.Minute},
		{name: "a later pass clears repeated failure",
			events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}, fails("a", 6, time.Second), []activity.Event{checkEv(time.Minute, "a", check.Pass)}),
			now:    2 * time.Minute, step: 1, wantState: Working, wantTime: 2 * time.Minute},
		{name: "failures of different checks do not add up",
			events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}, fails("a", 3, time.Second), fails("b", 3, 10*time.Second)),
			now:    time.Minute, step: 1, wantState: Working, wantTime: time.Minute},
		{name: "checker errors do not count",
			events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1),
				checkEv(1, "a", check.Error), checkEv(2, "a", check.Error), checkEv(3, "a", check.Error),
				checkEv(4, "a", check.Error), checkEv(5, "a", check.Error), checkEv(6, "a", check.Error)}),
			now: time.Minute, step: 1, wantState: Working, wantTime: time.Minute},
		{name: "step pass clears repeated failure",
			events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}, fails("a", 7, time.Second), []activity.Event{ev(3*time.Minute, activity.KindStepPass, 1)}),
			now:    time.Hour, step: 1, wantState: Passed, wantTime: 3 * time.Minute},
		{name: "fail limit option", opts: []Option{WithFailLimit(2)},
			events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}, fails("a", 2, time.Second)),
			now:    time.Minute, step: 1, wantState: Stuck, wantTime: time.Minute, wantReason: ReasonRepeatedFailed, wantCheck: "a"},
		{name: "check starts a step", events: seq(join, fails("a", 1, 30*time.Second)),
			now: time.Minute, step: 1, wantState: Working, wantTime: 30 * time.Second},
		{name: "failures after a pass do not unpass",
			events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1), ev(time.Minute, activity.KindStepPass, 1)}, fails("a", 5, 2*time.Minute)),
			now:    time.Hour, step: 1, wantState: Passed, wantTime: time.Minute},
		{name: "reset step clears it", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1)}, fails("a", 5, time.Second), []activity.Event{ev(time.Minute, activity.KindReset, 1)}),
			now: time.Hour, step: 1, wantState: NotStarted},
		{name: "reset then restart", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1), ev(time.Minute, activity.KindReset, 0), ev(2*time.Minute, activity.KindStepStart, 1)}),
			now: 5 * time.Minute, step: 1, wantState: Working, wantTime: 3 * time.Minute},
		{name: "fast-forward passes earlier steps", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1), ev(time.Minute, activity.KindFastForward, 3)}),
			now: 5 * time.Minute, step: 2, wantState: Passed},
		{name: "fast-forward starts the target step", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1), ev(time.Minute, activity.KindFastForward, 3)}),
			now: 5 * time.Minute, step: 3, wantState: Working, wantTime: 4 * time.Minute},
		{name: "step out of range ignored", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 4), ev(0, activity.KindStepStart, -1)}),
			now: time.Minute, step: 3, wantState: NotStarted},
		{name: "restart of a passed step keeps it passed", events: seq(join, []activity.Event{ev(0, activity.KindStepStart, 1), ev(time.Minute, activity.KindStepPass, 1), ev(2*time.Minute, activity.KindStepStart, 1)}),
			now: time.Hour, step: 1, wantState: Passed, wantTime: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGrid(testSteps, tt.opts...)
			if err != nil {
				t.Fatalf("NewGrid: %v", err)
			}
			for _, e := range tt.events {
				g.Apply(e)
			}
			v := g.Snapshot(at(tt.now))
			if len(v.Learners) != 1 {
				t.Fatalf("Snapshot: %d learners; want 1", len(v.Learners))
			}
			c := v.Learners[0].Cells[tt.step-1]
			if c.State != tt.wantState || c.TimeOnStep != tt.wantTime || c.StuckReason != tt.wantReason || c.FailingCheck != tt.wantCheck {
				t.Errorf("step %d = %v, %v, %q, %q; want %v, %v, %q, %q", tt.step, c.State, c.TimeOnStep, c.StuckReason, c.FailingCheck,
					tt.wantState, tt.wantTime, tt.wantReason, tt.wantCheck)
			}
			wantStuck := 0
			if tt.wantState == Stuck {
				wantStuck = 1
			}
			if len(v.Stuck) != wantStuck {
				t.Errorf("Stuck list = %+v; want %d entries", v.Stuck, wantStuck)
			}
		})
	}
}

func TestGridMessages(t *testing.T) {
	tests := []struct {
		name   string
		events []activity.Event
		want   []string // messages of step 1, oldest first
	}{
		{name: "latest per check", events: []activity.Event{checkEv(1, "a", check.Fail), checkEv(2, "b", check.Fail), checkEv(3, "a", check.Pass)},
			want: []string{"b fail", "a pass"}},
		{name: "capped", events: []activity.Event{checkEv(1, "a", check.Fail), checkEv(2, "b", check.Fail), checkEv(3, "c", check.Fail),
			checkEv(4, "d", check.Fail), checkEv(5, "e", check.Fail), checkEv(6, "f", check.Fail)},
			want: []string{"b fail", "c fail", "d fail", "e fail", "f fail"}},
		{name: "learner message on current step", events: []activity.Event{ev(0, activity.KindStepStart, 1), {At: t0, Session: "s1", Kind: activity.KindMessage, Message: "help?"}},
			want: []string{"help?"}},
		{name: "broadcast ignored", events: []activity.Event{ev(0, activity.KindStepStart, 1), {At: t0, Kind: activity.KindMessage, Message: "break"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGrid(testSteps)
			if err != nil {
				t.Fatalf("NewGrid: %v", err)
			}
			for _, e := range tt.events {
				g.Apply(e)
			}
			var got []string
			for _, m := range g.Snapshot(t0).Learners[0].Cells[0].Messages {
				got = append(got, m.Message)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("messages = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestGridSnapshotView(t *testing.T) {
	g, err := NewGrid(testSteps)
	if err != nil {
		t.Fatalf("NewGrid: %v", err)
	}
	for _, e := range []activity.Event{
		{At: t0, Session: "s-zed", Kind: activity.KindJoin, Name: "zed"},
		{At: t0, Session: "s-amy", Kind: activity.KindJoin, Name: "Amy"},
		{At: t0, Session: "s-bob", Kind: activity.KindJoin, Name: "bob"},
		{At: t0, Session: "s-amy", Kind: activity.KindReady},
		{At: t0, Session: "s-bob", Kind: activity.KindReady},
		{At: t0, Session: "s-amy", Kind: activity.KindFastForward, Step: 3},
		{At: at(time.Minute), Session: "s-amy", Kind: activity.KindStepPass, Step: 3},
		{At: t0, Session: "s-bob", Kind: activity.KindStepStart, Step: 1}, // stuck by time at +30m
		{At: at(25 * time.Minute), Session: "s-zed", Kind: activity.KindStepStart, Step: 1},
		{At: at(26 * time.Minute), Session: "s-zed", Kind: activity.KindLeave},
	} {
		g.Apply(e)
	}
	for i := range 5 {
		g.Apply(activity.Event{At: at(27*time.Minute + time.Duration(i)), Session: "s-zed", Kind: activity.KindCheck, Step: 1,
			CheckID: "pod", Status: check.Fail, Message: fmt.Sprint("no pod ", i)})
	}
	v := g.Snapshot(at(30 * time.Minute))

	var names []string
	for _, l := range v.Learners {
		names = append(names, l.Name)
	}
	if want := []string{"Amy", "bob", "zed"}; !slices.Equal(names, want) {
		t.Errorf("learners = %q; want %q (by name, ignoring case)", names, want)
	}
	wantSummary := Summary{Learners: 3, Present: 2, Done: 1, StuckLearners: 2, NotStarted: 4, Working: 0, Passed: 3, Stuck: 2}
	if v.Summary != wantSummary {
		t.Errorf("Summary = %+v; want %+v", v.Summary, wantSummary)
	}
	wantStuck := []StuckLearner{
		{Session: "s-bob", Name: "bob", Step: 1, For: 30 * time.Minute, Reason: ReasonOverEstimate},
		{Session: "s-zed", Name: "zed", Step: 1, For: 5 * time.Minute, Reason: ReasonRepeatedFailed, CheckID: "pod", LastFail: "no pod 4"},
	}
	if !slices.Equal(v.Stuck, wantStuck) {
		t.Errorf("Stuck = %+v; want %+v", v.Stuck, wantStuck)
	}
	if s := v.Steps[0]; s.Number != 1 || s.Passed != 1 || s.Stuck != 2 || s.Title != "Create a pod" {
		t.Errorf("Steps[0] = %+v; want step 1 with 1 passed, 2 stuck", s)
	}
	if !v.Learners[0].Done || !v.Learners[0].Cells[0].FastForwarded || v.Learners[0].Cells[2].FastForwarded {
		t.Errorf("Amy = %+v; want done, steps 1-2 fast-forwarded, step 3 passed by her", v.Learners[0])
	}
	if !v.Learners[2].Left {
		t.Errorf("zed Left = false; want true")
	}

	// The view shares nothing with the grid.
	v.Learners[2].Cells[0].Messages[0].Message = "changed"
	if m := g.Snapshot(t0).Learners[2].Cells[0].Messages[0].Message; m != "no pod 4" {
		t.Errorf("after changing a view, grid message = %q; want %q", m, "no pod 4")
	}
}

func TestNewGridErrors(t *testing.T) {
	tests := []struct {
		name  string
		steps []Step
		opts  []Option
	}{
		{name: "no steps"},
		{name: "zero fail limit", steps: testSteps, opts: []Option{WithFailLimit(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewGrid(tt.steps, tt.opts...); err == nil {
				t.Errorf("NewGrid() = nil error; want error")
			}
		})
	}
}

func TestStateString(t *testing.T) {
	tests := []struct {
		name string
		s    State
		want string
	}{
		{name: "not started", s: NotStarted, want: "not-started"},
		{name: "stuck", s: Stuck, want: "stuck"},
		{name: "out of range", s: State(9), want: "State(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("State(%d).String() = %q; want %q", int(tt.s), got, tt.want)
			}
		})
	}
}

// The grid follows each learner's cluster through the queue, a loss and its
// recovery, and counts the present learners in each state.
// TestGridLimitHits: the latest limit a learner's cluster hit shows on their
// row until they get a fresh cluster (a reset, or a replacement after a loss).
func TestGridLimitHits(t *testing.T) {
	limit := func(d time.Duration, text string) activity.Event { return msgEv(d, activity.KindLimit, 1, text) }
	tests := []struct {
		name   string
		events []activity.Event
		want   string
	}{
		{"none", []activity.Event{ev(0, activity.KindReady, 0)}, ""},
		{"evicted", []activity.Event{ev(0, activity.KindReady, 0), limit(time.Minute, "pod default/filler was evicted")}, "pod default/filler was evicted"},
		{"the latest", []activity.Event{limit(0, "pod default/filler was evicted"), limit(time.Minute, "container app of pod default/hog was killed")}, "container app of pod default/hog was killed"},
		{"reset", []activity.Event{limit(0, "pod default/filler was evicted"), ev(time.Minute, activity.KindReset, 1)}, ""},
		{"recovered", []activity.Event{limit(0, "pod default/filler was evicted"), ev(time.Minute, activity.KindLost, 1), ev(2*time.Minute, activity.KindRecovered, 1)}, ""},
		{"paused and back", []activity.Event{limit(0, "pod default/filler was evicted"), ev(time.Minute, activity.KindPaused, 1), ev(2*time.Minute, activity.KindResumed, 1)}, "pod default/filler was evicted"},
	}
	for _, tt := range tests {
		g, err := NewGrid(testSteps)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tt.events {
			g.Apply(e)
		}
		if got := g.Snapshot(at(time.Hour)).Learners[0].Limit; got != tt.want {
			t.Errorf("%s: limit %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestGridClusterStates(t *testing.T) {
	queued := func(d time.Duration, pos string) activity.Event { return msgEv(d, activity.KindQueued, 0, pos) }
	tests := []struct {
		name      string
		events    []activity.Event
		want      Cluster
		wantQueue int
	}{
		{name: "never heard of", events: []activity.Event{ev(0, activity.KindStepStart, 1)}, want: ClusterReady},
		{name: "joined", events: []activity.Event{ev(0, activity.KindJoin, 0)}, want: ClusterWaiting},
		{name: "queued", events: []activity.Event{ev(0, activity.KindJoin, 0), queued(time.Second, "3")}, want: ClusterWaiting, wantQueue: 3},
		{name: "moved up the queue", events: []activity.Event{ev(0, activity.KindJoin, 0), queued(time.Second, "3"), queued(2*time.Second, "1")}, want: ClusterWaiting, wantQueue: 1},
		{name: "ready", events: []activity.Event{ev(0, activity.KindJoin, 0), queued(time.Second, "2"), ev(time.Minute, activity.KindReady, 0)}, want: ClusterReady},
		{name: "lost", events: []activity.Event{ev(0, activity.KindReady, 0), ev(time.Minute, activity.KindLost, 2)}, want: ClusterRecovering},
		{name: "lost, waiting in the queue", events: []activity.Event{ev(0, activity.KindLost, 2), queued(time.Second, "2")}, want: ClusterRecovering, wantQueue: 2},
		{name: "lost, new cluster ready, steps being redone", events: []activity.Event{ev(0, activity.KindLost, 2), queued(time.Second, "1"), ev(time.Minute, activity.KindReady, 0)}, want: ClusterRecovering},
		{name: "recovered", events: []activity.Event{ev(0, activity.KindLost, 2), ev(time.Minute, activity.KindRecovered, 2)}, want: ClusterReady},
		{name: "reset", events: []activity.Event{ev(0, activity.KindReady, 0), ev(time.Minute, activity.KindReset, 1)}, want: ClusterWaiting},
		{name: "failed", events: []activity.Event{ev(0, activity.KindJoin, 0), ev(time.Minute, activity.KindFailed, 0)}, want: ClusterFailed},
		{name: "idle, paused", events: []activity.Event{ev(0, activity.KindReady, 0), ev(10*time.Minute, activity.KindPaused, 1)}, want: ClusterPaused},
		{name: "back from idle", events: []activity.Event{ev(0, activity.KindReady, 0), ev(10*time.Minute, activity.KindPaused, 1), ev(20*time.Minute, activity.KindResumed, 1)}, want: ClusterReady},
		{name: "paused as it was lost", events: []activity.Event{ev(0, activity.KindLost, 1), ev(time.Second, activity.KindPaused, 1)}, want: ClusterRecovering},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGrid(testSteps)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tt.events {
				g.Apply(e)
			}
			v := g.Snapshot(at(time.Hour))
			row := v.Learners[0]
			if row.Cluster != tt.want || row.Queue != tt.wantQueue {
				t.Errorf("cluster %s, queue %d; want %s, %d", row.Cluster, row.Queue, tt.want, tt.wantQueue)
			}
			counts := map[Cluster]int{ClusterWaiting: v.Summary.Waiting, ClusterRecovering: v.Summary.Recovering, ClusterFailed: v.Summary.Failed, ClusterPaused: v.Summary.Paused}
			for c, n := range counts {
				if want := map[bool]int{true: 1}[c == tt.want]; n != want {
					t.Errorf("summary counts %d %s; want %d", n, c, want)
				}
			}
		})
	}

	// A learner who left is not counted.
	g, _ := NewGrid(testSteps)
	g.Apply(ev(0, activity.KindLost, 1))
	g.Apply(ev(time.Second, activity.KindLeave, 0))
	if s := g.Snapshot(at(time.Minute)).Summary; s.Recovering != 0 {
		t.Errorf("a learner who left counts as recovering: %+v", s)
	}
}
