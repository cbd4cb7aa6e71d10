package web

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kindlab/kindlab/static"
)

func TestInstructorLogin(t *testing.T) {
	tests := []struct {
		name      string
		v         InstructorLoginView
		wantError string // "" when no error is shown
	}{
		{name: "first visit", v: InstructorLoginView{CSRF: "tok"}},
		{name: "wrong token", v: InstructorLoginView{CSRF: "tok", Error: "That token is not valid"}, wantError: "That token is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := render(t, InstructorLogin(tt.v))
			form := d.must("instructor-login")
			if got := attrOr(form, "action"); got != "/instructor/login" {
				t.Errorf("form action = %q; want /instructor/login", got)
			}
			if got := attrOr(form, "method"); got != "post" {
				t.Errorf("form method = %q; want post", got)
			}
			if got := attrOr(inputNamed(form, "csrf"), "value"); got != "tok" {
				t.Errorf("csrf = %q; want tok", got)
			}
			tok := d.must("instructor-token")
			if attrOr(tok, "type") != "password" || attrOr(tok, "name") != "token" {
				t.Errorf("token input type=%q name=%q; want password, token", attrOr(tok, "type"), attrOr(tok, "name"))
			}
			d.must("instructor-login-submit")
			if got := text(d.byTestID("login-error")); got != tt.wantError {
				t.Errorf("login-error = %q; want %q", got, tt.wantError)
			}
		})
	}
}

func TestInstructorHome(t *testing.T) {
	ends := time.Date(2025, 5, 6, 15, 30, 0, 0, time.UTC)
	tests := []struct {
		name      string
		v         InstructorHomeView
		wantLabs  []string
		wantError string
	}{
		{
			name:     "two labs, one workshop",
			v:        InstructorHomeView{CSRF: "c1", Labs: []LabOption{{"net", "Networking"}, {"dns", "DNS"}}, Workshops: []WorkshopSummary{{ID: "w1", Title: "Tuesday", Code: "ABCD", JoinURL: "https://k.example/join/ABCD", Learners: 3, Capacity: 20, Ends: ends}}},
			wantLabs: []string{"lab-option-net", "lab-option-dns"},
		},
		{
			name:     "one lab",
			v:        InstructorHomeView{CSRF: "c1", Labs: []LabOption{{"net", "Networking"}}},
			wantLabs: []string{"lab-option-net"},
		},
		{
			name:      "create failed",
			v:         InstructorHomeView{CSRF: "c1", Labs: []LabOption{{"net", "Networking"}, {"dns", "DNS"}}, Error: "Pick at least one lab"},
			wantLabs:  []string{"lab-option-net", "lab-option-dns"},
			wantError: "Pick at least one lab",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := render(t, InstructorHome(tt.v))
			form := d.must("create-workshop")
			if got := attrOr(form, "action"); got != "/instructor/workshops" {
				t.Errorf("create action = %q; want /instructor/workshops", got)
			}
			if got := attrOr(inputNamed(form, "csrf"), "value"); got != tt.v.CSRF {
				t.Errorf("csrf = %q; want %q", got, tt.v.CSRF)
			}
			if got := d.testIDsWithPrefix("lab-option-"); !slices.Equal(got, tt.wantLabs) {
				t.Errorf("lab options = %v; want %v", got, tt.wantLabs)
			}
			for i, id := range tt.wantLabs {
				cb := d.must(id)
				if attrOr(cb, "type") != "checkbox" || attrOr(cb, "name") != "lab" || attrOr(cb, "value") != tt.v.Labs[i].ID {
					t.Errorf("%s: type=%q name=%q value=%q; want checkbox, lab, %q", id, attrOr(cb, "type"), attrOr(cb, "name"), attrOr(cb, "value"), tt.v.Labs[i].ID)
				}
				if _, checked := attr(cb, "checked"); checked {
					t.Errorf("%s is checked; want unchecked (the instructor picks)", id)
				}
			}
			for _, f := range []struct{ id, name, value string }{
				{"workshop-title", "title", ""},
				{"workshop-capacity", "capacity", "20"},
				{"workshop-duration", "duration", "120"},
			} {
				in := d.must(f.id)
				if attrOr(in, "name") != f.name || attrOr(in, "value") != f.value {
					t.Errorf("%s: name=%q value=%q; want %q, %q", f.id, attrOr(in, "name"), attrOr(in, "value"), f.name, f.value)
				}
			}
			d.must("create-submit")
			if got := text(d.byTestID("create-error")); got != tt.wantError {
				t.Errorf("create-error = %q; want %q", got, tt.wantError)
			}
			for _, w := range tt.v.Workshops {
				card := d.must("workshop-" + w.ID)
				var links []string
				for _, a := range d.all(func(n *htmlNode) bool { return n.Data == "a" && isInside(n, card) }) {
					links = append(links, attrOr(a, "href"))
				}
				if !slices.Contains(links, "/w/"+w.ID) {
					t.Errorf("workshop %s links to %v; want /w/%s", w.ID, links, w.ID)
				}
				for _, s := range []string{w.Title, w.Code, w.JoinURL, "3 / 20", "15:30"} {
					if !strings.Contains(text(card), s) {
						t.Errorf("workshop card %q does not show %q", text(card), s)
					}
				}
			}
		})
	}
}

func isInside(n, parent *htmlNode) bool {
	for p := n; p != nil; p = p.Parent {
		if p == parent {
			return true
		}
	}
	return false
}

func TestJoin(t *testing.T) {
	two := []LabOption{{"net", "Networking"}, {"dns", "DNS"}}
	tests := []struct {
		name      string
		v         JoinView
		wantTag   string // of join-lab: "select", "input" or "" for none
		wantError string
	}{
		{name: "one lab", v: JoinView{CSRF: "c", Code: "AB12", WorkshopTitle: "Tuesday", Labs: two[:1]}, wantTag: "input"},
		{name: "two labs", v: JoinView{CSRF: "c", Code: "AB12", WorkshopTitle: "Tuesday", Labs: two}, wantTag: "select"},
		{name: "full keeps the name", v: JoinView{CSRF: "c", Code: "AB12", WorkshopTitle: "Tuesday", Labs: two, Name: "Ada", Error: "This workshop is full"}, wantTag: "select", wantError: "This workshop is full"},
		{name: "html name", v: JoinView{CSRF: "c", Code: "AB12", WorkshopTitle: "<b>T</b>", Labs: two[:1], Name: `"><script>x()</script>`}, wantTag: "input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := render(t, Join(tt.v))
			form := d.must("join-form")
			if got := attrOr(form, "action"); got != "/join/"+tt.v.Code {
				t.Errorf("join action = %q; want /join/%s", got, tt.v.Code)
			}
			if got := attrOr(inputNamed(form, "csrf"), "value"); got != "c" {
				t.Errorf("csrf = %q; want c", got)
			}
			if got := attrOr(d.must("join-name"), "value"); got != tt.v.Name {
				t.Errorf("join-name value = %q; want %q", got, tt.v.Name)
			}
			lab := d.must("join-lab")
			if lab.Data != tt.wantTag || attrOr(lab, "name") != "lab" {
				t.Errorf("join-lab is <%s name=%q>; want <%s name=\"lab\">", lab.Data, attrOr(lab, "name"), tt.wantTag)
			}
			if tt.wantTag == "input" && (attrOr(lab, "type") != "hidden" || attrOr(lab, "value") != tt.v.Labs[0].ID) {
				t.Errorf("join-lab type=%q value=%q; want hidden, %q", attrOr(lab, "type"), attrOr(lab, "value"), tt.v.Labs[0].ID)
			}
			if tt.wantTag == "select" {
				if n := len(d.all(func(n *htmlNode) bool { return n.Data == "option" && isInside(n, lab) })); n != len(tt.v.Labs) {
					t.Errorf("join-lab has %d options; want %d", n, len(tt.v.Labs))
				}
			}
			d.must("join-submit")
			if got := text(d.byTestID("join-error")); got != tt.wantError {
				t.Errorf("join-error = %q; want %q", got, tt.wantError)
			}
			if strings.Contains(d.src, "<script>x()") || strings.Contains(d.src, "<b>T</b>") {
				t.Errorf("unescaped HTML in the page:\n%s", d.src)
			}
		})
	}
}

// testGrid is a workshop of 3 steps: ada working on 2, bob stuck on 1 by a
// failing check, <cy> (an HTML name) who left, and dee done.
func testGrid() Grid {
	steps := []string{"Deploy", "Expose", "Scale"}
	passed := func(n int) GridCell {
		return GridCell{Step: n, State: CellPassed, TimeOnStep: 3 * time.Minute}
	}
	ns := func(n int) GridCell { return GridCell{Step: n, State: CellNotStarted} }
	return Grid{
		Steps: steps,
		Learners: []GridRow{
			{Session: "s-ada", Name: "Ada", Current: 2, Cells: []GridCell{
				passed(1),
				{Step: 2, State: CellWorking, TimeOnStep: 4 * time.Minute, Messages: []CellMessage{{CheckID: "svc", Status: "fail", Message: "service homepage not found"}}},
				ns(3),
			}},
			{Session: "s-bob", Name: "Bob", Current: 1, Cells: []GridCell{
				{Step: 1, State: CellStuck, TimeOnStep: 12 * time.Minute, Stuck: StuckRepeatedFailure, FailingCheck: "ready",
					Messages: []CellMessage{{CheckID: "ready", Status: "fail", Message: "0 of 1 pods ready"}}},
				ns(2), ns(3),
			}},
			{Session: "s-cy", Name: `<img src=x onerror=alert(1)>`, Left: true, Cells: []GridCell{ns(1), ns(2), ns(3)}},
			{Session: "s-dee", Name: "Dee", Current: 3, Done: true, Cells: []GridCell{passed(1), passed(2), passed(3)}},
		},
		Summary: GridSummary{Learners: 4, Present: 3, Done: 1, StuckLearners: 1},
		Stuck: []StuckLearner{{Session: "s-bob", Name: "Bob", Step: 1, For: 12 * time.Minute,
			Reason: StuckRepeatedFailure, CheckID: "ready", LastFail: "0 of 1 pods ready"}},
	}
}

func TestDashboardGrid(t *testing.T) {
	v := DashboardGridView{WorkshopID: "w1", CSRF: "csrf-1", Grid: testGrid(), Steps: 3}
	d := render(t, DashboardGrid(v))

	if strings.Contains(d.src, "<html") || strings.Contains(d.src, "<!DOCTYPE") {
		t.Errorf("DashboardGrid renders a whole page; want a fragment")
	}

	t.Run("cells", func(t *testing.T) {
		tests := []struct {
			cell, state, time string
		}{
			{"cell-s-ada-1", "passed", "3m"},
			{"cell-s-ada-2", "working", "4m"},
			{"cell-s-ada-3", "not-started", ""},
			{"cell-s-bob-1", "stuck", "12m"},
			{"cell-s-bob-2", "not-started", ""},
			{"cell-s-cy-1", "not-started", ""},
			{"cell-s-dee-3", "passed", "3m"},
		}
		for _, tt := range tests {
			c := d.must(tt.cell)
			if got := attrOr(c, "data-state"); got != tt.state {
				t.Errorf("%s data-state = %q; want %q", tt.cell, got, tt.state)
			}
			if tt.time != "" && !strings.Contains(text(c), tt.time) {
				t.Errorf("%s text = %q; want the time %q", tt.cell, text(c), tt.time)
			}
		}
		if got := len(d.testIDsWithPrefix("cell-")); got != 4*3 {
			t.Errorf("%d cells; want 4 learners × 3 steps = 12", got)
		}
		if got := d.testIDsWithPrefix("row-"); !slices.Equal(got, []string{"row-s-ada", "row-s-bob", "row-s-cy", "row-s-dee"}) {
			t.Errorf("rows = %v; want ada, bob, cy, dee in order", got)
		}
		ada := d.must("cell-s-ada-2")
		if !strings.Contains(attrOr(ada, "title"), "service homepage not found") || !strings.Contains(text(ada), "service homepage not found") {
			t.Errorf("cell-s-ada-2 title=%q text=%q; want the check message in both", attrOr(ada, "title"), text(ada))
		}
	})

	t.Run("stuck", func(t *testing.T) {
		c := d.must("cell-s-bob-1")
		if !strings.Contains(text(c), "⚠") {
			t.Errorf("stuck cell text = %q; want the ⚠ marker", text(c))
		}
		list := d.must("stuck-list")
		if got := d.testIDsWithPrefix("stuck-s"); !slices.Equal(got, []string{"stuck-s-bob"}) {
			t.Errorf("stuck items = %v; want [stuck-s-bob]", got)
		}
		if !isInside(d.must("stuck-s-bob"), list) {
			t.Errorf("stuck-s-bob is not in the stuck list")
		}
		item := text(d.must("stuck-s-bob"))
		for _, s := range []string{"Bob", "step 1", "ready", "12m", "0 of 1 pods ready"} {
			if !strings.Contains(item, s) {
				t.Errorf("stuck item %q does not show %q", item, s)
			}
		}
	})

	t.Run("summary", func(t *testing.T) {
		got := text(d.must("grid-summary"))
		for _, s := range []string{"4 learners", "3 present", "1 done", "1 stuck"} {
			if !strings.Contains(got, s) {
				t.Errorf("summary %q does not show %q", got, s)
			}
		}
	})

	t.Run("actions", func(t *testing.T) {
		tests := []struct {
			id, action string
			fields     map[string]string // hidden fields besides csrf
		}{
			{id: "reset-s-bob", action: "/w/w1/learners/s-bob/reset"},
			{id: "ff-s-bob", action: "/w/w1/learners/s-bob/fast-forward"},
			{id: "extend-s-bob", action: "/w/w1/learners/s-bob/extend", fields: map[string]string{"minutes": "15"}},
		}
		for _, tt := range tests {
			f := d.must(tt.id)
			if f.Data != "form" || attrOr(f, "method") != "post" {
				t.Errorf("%s is <%s method=%q>; want a post form", tt.id, f.Data, attrOr(f, "method"))
			}
			if _, ok := attr(f, "data-action"); !ok {
				t.Errorf("%s has no data-action", tt.id)
			}
			if got := attrOr(f, "action"); got != tt.action {
				t.Errorf("%s action = %q; want %q", tt.id, got, tt.action)
			}
			if got := attrOr(inputNamed(f, "csrf"), "value"); got != "csrf-1" {
				t.Errorf("%s csrf = %q; want csrf-1", tt.id, got)
			}
			for k, want := range tt.fields {
				if got := attrOr(inputNamed(f, k), "value"); got != want {
					t.Errorf("%s %s = %q; want %q", tt.id, k, got, want)
				}
			}
		}
		if _, ok := attr(d.must("reset-s-bob"), "data-confirm"); !ok {
			t.Errorf("reset form has no data-confirm")
		}
		var steps []string
		ff := d.must("ff-s-ada")
		for _, o := range d.all(func(n *htmlNode) bool { return n.Data == "option" && isInside(n, ff) }) {
			steps = append(steps, attrOr(o, "value"))
			if _, sel := attr(o, "selected"); sel && attrOr(o, "value") != "3" {
				t.Errorf("fast-forward for ada selects step %s; want 3 (after her current step)", attrOr(o, "value"))
			}
		}
		if !slices.Equal(steps, []string{"1", "2", "3"}) {
			t.Errorf("fast-forward steps = %v; want 1..3", steps)
		}
		w := d.must("watch-s-ada")
		if attrOr(w, "href") != "/w/w1/watch/s-ada" || attrOr(w, "target") != "_blank" {
			t.Errorf("watch link href=%q target=%q; want /w/w1/watch/s-ada, _blank", attrOr(w, "href"), attrOr(w, "target"))
		}
	})

	t.Run("left and escaped", func(t *testing.T) {
		row := d.must("row-s-cy")
		if attrOr(row, "data-left") != "true" || !strings.Contains(attrOr(row, "class"), "left") {
			t.Errorf("left row data-left=%q class=%q; want true and class left", attrOr(row, "data-left"), attrOr(row, "class"))
		}
		if strings.Contains(d.src, "<img") {
			t.Errorf("learner name rendered as HTML:\n%s", d.src)
		}
		if got := text(row); !strings.Contains(got, `<img src=x onerror=alert(1)>`) {
			t.Errorf("row text = %q; want the name as text", got)
		}
	})
}

func TestDashboardGridEmpty(t *testing.T) {
	d := render(t, DashboardGrid(DashboardGridView{WorkshopID: "w1", Grid: Grid{Steps: []string{""}}}))
	if got := text(d.must("grid-empty")); got != "No learners yet — share the join link" {
		t.Errorf("grid-empty = %q", got)
	}
	if d.byTestID("stuck-list") != nil || len(d.testIDsWithPrefix("row-")) != 0 {
		t.Errorf("empty grid shows rows or a stuck list")
	}
}

func TestDashboard(t *testing.T) {
	v := DashboardView{
		CSRF: "csrf-1", WorkshopID: "w1", Title: "Tuesday", Code: "AB12", JoinURL: "https://k.example/join/AB12",
		Capacity: 20, Ends: time.Date(2025, 5, 6, 15, 30, 0, 0, time.UTC),
		Grids: []DashboardGridView{{WorkshopID: "w1", CSRF: "csrf-1", Grid: testGrid(), Steps: 3}},
	}
	d := render(t, Dashboard(v))
	grid := d.must("grid")
	if attrOr(grid, "id") != "grid" || attrOr(grid, "data-live-url") != "/w/w1/live" {
		t.Errorf("grid id=%q data-live-url=%q; want grid, /w/w1/live", attrOr(grid, "id"), attrOr(grid, "data-live-url"))
	}
	if c := d.must("cell-s-bob-1"); !isInside(c, grid) {
		t.Errorf("the grid fragment is not inside #grid")
	}
	for _, id := range []string{"capacity-warm", "capacity-claimed", "capacity-creating", "capacity-queue", "capacity-memory"} {
		if got := text(d.must(id)); got != "–" {
			t.Errorf("%s = %q; want –", id, got)
		}
	}
	bf := d.must("broadcast-form")
	if attrOr(bf, "action") != "/w/w1/broadcast" || attrOr(inputNamed(bf, "csrf"), "value") != "csrf-1" || inputNamed(bf, "text") == nil {
		t.Errorf("broadcast form action=%q csrf=%q; want /w/w1/broadcast, csrf-1 and a text field", attrOr(bf, "action"), attrOr(inputNamed(bf, "csrf"), "value"))
	}
	if _, ok := attr(bf, "data-action"); !ok {
		t.Errorf("broadcast form has no data-action")
	}
	d.must("broadcast-text")
	d.must("broadcast-submit")
	for id, want := range map[string]string{"export-csv": "/w/w1/export.csv", "export-json": "/w/w1/export.json", "join-url": v.JoinURL} {
		if got := attrOr(d.must(id), "href"); got != want {
			t.Errorf("%s href = %q; want %q", id, got, want)
		}
	}
	if got := text(d.must("join-code")); got != "AB12" {
		t.Errorf("join-code = %q; want AB12", got)
	}
	if got := attrOr(d.must("copy-join-link"), "data-copy-value"); got != v.JoinURL {
		t.Errorf("copy button copies %q; want %q", got, v.JoinURL)
	}
	if got := text(d.must("ends-at")); got != "15:30" {
		t.Errorf("ends-at = %q; want 15:30", got)
	}
	d.must("toast")
	if got := attrOr(d.must("live-status"), "data-state"); got == "" {
		t.Errorf("live-status has no data-state")
	}
	if !slices.ContainsFunc(d.tags("script"), func(n *htmlNode) bool { return attrOr(n, "src") == static.URL("dashboard.js") }) {
		t.Errorf("the dashboard does not load /static/dashboard.js")
	}
}

func TestWatch(t *testing.T) {
	d := render(t, Watch(WatchView{WorkshopID: "w1", Session: "s-ada", Name: "<b>Ada</b>", WSURL: "/w/w1/watch/s-ada/terminal"}))
	term := d.must("terminal")
	for k, want := range map[string]string{"data-ws-url": "/w/w1/watch/s-ada/terminal", "data-token": "", "data-protocol": "kindlab.term.v1"} {
		if got, ok := attr(term, k); !ok || got != want {
			t.Errorf("terminal %s = %q (present %v); want %q", k, got, ok, want)
		}
	}
	d.must("terminal-status")
	d.must("terminal-readonly")
	if got := text(d.must("watch-note")); !strings.Contains(got, "read-only") || !strings.Contains(got, "<b>Ada</b>") {
		t.Errorf("watch-note = %q; want the name as text and read-only", got)
	}
	if strings.Contains(d.src, "<b>Ada") {
		t.Errorf("name rendered as HTML")
	}
}

func TestShortDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "<1m"}, {59 * time.Second, "<1m"}, {4*time.Minute + 30*time.Second, "4m"},
		{time.Hour, "1h"}, {65 * time.Minute, "1h 5m"},
	}
	for _, tt := range tests {
		if got := shortDuration(tt.d); got != tt.want {
			t.Errorf("shortDuration(%v) = %q; want %q", tt.d, got, tt.want)
		}
	}
}

// bigGrid is 200 learners × 8 steps in every state, with check messages.
func bigGrid() DashboardGridView {
	const learners, steps = 200, 8
	g := Grid{}
	for s := 1; s <= steps; s++ {
		g.Steps = append(g.Steps, fmt.Sprintf("Step %d", s))
	}
	for i := range learners {
		row := GridRow{Session: fmt.Sprintf("sess-%04d", i), Name: fmt.Sprintf("Learner %d", i), Current: i%steps + 1, Left: i%17 == 0}
		for s := 1; s <= steps; s++ {
			c := GridCell{Step: s, State: CellNotStarted}
			switch {
			case s < row.Current:
				c.State, c.TimeOnStep = CellPassed, 3*time.Minute
			case s == row.Current && i%5 == 0:
				c.State, c.TimeOnStep, c.Stuck, c.FailingCheck = CellStuck, 9*time.Minute, StuckRepeatedFailure, "ready"
				g.Stuck = append(g.Stuck, StuckLearner{Session: row.Session, Name: row.Name, Step: s, For: c.TimeOnStep, Reason: c.Stuck, CheckID: "ready", LastFail: "0 of 2 pods ready"})
			case s == row.Current:
				c.State, c.TimeOnStep = CellWorking, 2*time.Minute
			}
			if c.State != CellNotStarted {
				c.Messages = []CellMessage{{CheckID: "ready", Status: "fail", Message: "0 of 2 pods ready"}, {CheckID: "svc", Status: "pass", Message: "ok"}}
			}
			row.Cells = append(row.Cells, c)
		}
		g.Learners = append(g.Learners, row)
	}
	g.Summary = GridSummary{Learners: learners, Present: learners - 12, StuckLearners: len(g.Stuck)}
	return DashboardGridView{WorkshopID: "w1", CSRF: "csrf-token-0123456789", Grid: g, Steps: steps}
}

func BenchmarkDashboardGrid200(b *testing.B) {
	v := bigGrid()
	var buf bytes.Buffer
	ctx := context.Background()
	if err := DashboardGrid(v).Render(ctx, &buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := DashboardGrid(v).Render(ctx, &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "html-bytes")
}

// Learners whose cluster is not simply ready are marked in their row and
// counted in the summary; the others carry no note.
func TestDashboardGridClusters(t *testing.T) {
	g := testGrid()
	g.Learners[0].Cluster = ClusterRecovering
	g.Learners[1].Cluster, g.Learners[1].Queue = ClusterWaiting, 2
	g.Learners[2].Cluster = ClusterFailed // left: no note
	g.Summary.Recovering, g.Summary.Waiting = 1, 1
	d := render(t, DashboardGrid(DashboardGridView{WorkshopID: "w1", CSRF: "c", Grid: g, Steps: 3}))
	for id, want := range map[string]string{
		"cluster-s-ada":      "cluster lost: a new one is on its way",
		"cluster-s-bob":      "waiting for a cluster: #2 in the queue",
		"summary-recovering": "1 cluster lost, being replaced",
		"summary-waiting":    "1 waiting for a cluster",
	} {
		if got := strings.Join(strings.Fields(text(d.must(id))), " "); got != want {
			t.Errorf("%s = %q; want %q", id, got, want)
		}
	}
	for _, id := range []string{"cluster-s-cy", "cluster-s-dee", "summary-failed"} {
		if d.byTestID(id) != nil {
			t.Errorf("%s is shown; want nothing", id)
		}
	}
}

// TestDashboardGridLimits: a learner whose cluster hit a limit has it on
// their row, in the words kindlab heard it in.
func TestDashboardGridLimits(t *testing.T) {
	g := testGrid()
	g.Learners[0].Limit = "pod default/filler was evicted by its node: Pod ephemeral local storage usage exceeds the total limit of containers 32Mi."
	g.Learners[2].Limit = "container app of pod default/hog was killed" // left: no note
	d := render(t, DashboardGrid(DashboardGridView{WorkshopID: "w1", CSRF: "c", Grid: g, Steps: 3}))
	if got := strings.Join(strings.Fields(text(d.must("limit-s-ada"))), " "); got != "hit a limit: "+g.Learners[0].Limit {
		t.Errorf("limit-s-ada = %q", got)
	}
	for _, id := range []string{"limit-s-bob", "limit-s-cy"} {
		if d.byTestID(id) != nil {
			t.Errorf("%s is shown; want nothing", id)
		}
	}
}
