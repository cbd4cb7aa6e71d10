package web

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/static"
)

// stepSource is a step file with every kind of code block.
const stepSource = "---\n" + `title: Deploy the homepage
estimate: 3m
checks:
  - id: homepage-ready
    kind: pods
    selector: app=signup
    ready: 1
  - id: svc
    kind: resource
    apiVersion: v1
    resource: services
    name: homepage
  - id: answers
    kind: http
    service: homepage
  - id: ran-it
    kind: command
    command: kubectl apply -f homepage.yaml
solution:
  - kubectl apply -f homepage.yaml
hints:
  - The manifest is ` + "`homepage.yaml`" + `.
---
Look at the labels:

` + "```yaml" + `
selector: {app: signup}
` + "```" + `

Deploy it:

` + "```bash run" + `
kubectl apply -f homepage.yaml
` + "```" + `

| kind | name |
|------|------|
| Deployment | homepage |

1. Stop the port-forward and look again:

   ` + "```bash run-interrupt" + `
   kubectl get pods \
     -l app=signup
   ` + "```" + `
`

func parseStep(t *testing.T, src string) labs.Step {
	t.Helper()
	step, probs := labs.ParseStep("01-deploy.md", []byte(src))
	if len(probs) > 0 {
		t.Fatalf("ParseStep: %v", probs)
	}
	return step
}

func stepView(t *testing.T, n int, step labs.Step, results []CheckResult) StepView {
	t.Helper()
	v, err := NewStepView(n, step, results)
	if err != nil {
		t.Fatalf("NewStepView: %v", err)
	}
	return v
}

func TestCatalog(t *testing.T) {
	tests := []struct {
		name string
		view CatalogView
	}{
		{
			name: "two labs",
			view: CatalogView{CSRF: "tok-123", Labs: []LabCard{
				{ID: "services-dns", Title: "Services and DNS", Summary: "Put a Service in front of pods.", Duration: 35 * time.Minute, Steps: 8},
				{ID: "numbers", Title: "Numbers", Summary: "Fix a broken app.", Duration: 90 * time.Minute, Steps: 1},
			}},
		},
		{name: "no labs", view: CatalogView{CSRF: "tok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := render(t, Catalog(tt.view))
			if got := d.testIDsWithPrefix("lab-card-"); len(got) != len(tt.view.Labs) {
				t.Errorf("lab cards = %v; want %d", got, len(tt.view.Labs))
			}
			if (len(tt.view.Labs) == 0) != (d.byTestID("catalog-empty") != nil) {
				t.Errorf("catalog-empty shown = %v; want %v", d.byTestID("catalog-empty") != nil, len(tt.view.Labs) == 0)
			}
			for _, c := range tt.view.Labs {
				card := d.must("lab-card-" + c.ID)
				for _, want := range []string{c.Title, c.Summary} {
					if !strings.Contains(text(card), want) {
						t.Errorf("card %s text %q lacks %q", c.ID, text(card), want)
					}
				}
				form := d.must("start-form-" + c.ID)
				if got, want := attrOr(form, "action"), "/labs/"+c.ID+"/start"; got != want {
					t.Errorf("start form action = %q; want %q", got, want)
				}
				if got := strings.ToLower(attrOr(form, "method")); got != "post" {
					t.Errorf("start form method = %q; want post", got)
				}
				csrf := inputNamed(form, "csrf")
				if csrf == nil || attrOr(csrf, "type") != "hidden" || attrOr(csrf, "value") != tt.view.CSRF {
					t.Errorf("start form csrf input = %v; want hidden with value %q", csrf, tt.view.CSRF)
				}
				if btn := d.must("start-" + c.ID); attrOr(btn, "type") != "submit" {
					t.Errorf("start button type = %q; want submit", attrOr(btn, "type"))
				}
				steps := text(d.must("steps-" + c.ID))
				if !strings.Contains(steps, plural(c.Steps, "step")) {
					t.Errorf("steps = %q; want %q", steps, plural(c.Steps, "step"))
				}
				if got, want := text(d.must("duration-"+c.ID)), formatDuration(c.Duration); !strings.Contains(got, want) {
					t.Errorf("duration = %q; want it to contain %q", got, want)
				}
			}
		})
	}
}

func TestLabPageRunButtons(t *testing.T) {
	step := parseStep(t, stepSource)
	if len(step.Runnable) != 2 {
		t.Fatalf("test step has %d runnable blocks; want 2", len(step.Runnable))
	}
	v := LabPageView{SessionID: "sid1", CSRF: "c", LabTitle: "L", Steps: []StepLink{{Number: 1, Title: step.Title}}, Step: stepView(t, 1, step, nil)}
	d := render(t, LabPage(v))

	if got, want := d.testIDsWithPrefix("run-"), []string{"run-1", "run-2"}; !slices.Equal(got, want) {
		t.Fatalf("run buttons = %v; want %v", got, want)
	}
	tests := []struct {
		name      string
		id        string
		command   string
		interrupt string
		label     string
	}{
		{name: "plain", id: "run-1", command: "kubectl apply -f homepage.yaml", interrupt: "false", label: "Run"},
		{name: "interrupt in a list item", id: "run-2", command: "kubectl get pods \\\n  -l app=signup", interrupt: "true", label: "Stop & run"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			btn := d.must(tt.id)
			if got := attrOr(btn, "data-command"); got != tt.command {
				t.Errorf("%s data-command = %q; want %q", tt.id, got, tt.command)
			}
			if got := attrOr(btn, "data-command"); got != step.Runnable[i].Command {
				t.Errorf("%s data-command = %q; Step.Runnable[%d] = %q", tt.id, got, i, step.Runnable[i].Command)
			}
			if got := attrOr(btn, "data-interrupt"); got != tt.interrupt {
				t.Errorf("%s data-interrupt = %q; want %q", tt.id, got, tt.interrupt)
			}
			if _, ok := attr(btn, "data-run"); !ok {
				t.Errorf("%s lacks data-run", tt.id)
			}
			if got := text(btn); !strings.Contains(got, tt.label) {
				t.Errorf("%s label = %q; want it to contain %q", tt.id, got, tt.label)
			}
		})
	}
	// Every code block (yaml, two runnable, solution) has a copy button.
	if got := d.testIDsWithPrefix("copy-"); len(got) != 4 {
		t.Errorf("copy buttons = %v; want 3 in the body and 1 for the solution", got)
	}
	if d.must("step-body") == nil || len(d.tags("table")) != 1 {
		t.Errorf("GFM table not rendered: %d tables", len(d.tags("table")))
	}
	if !strings.Contains(text(d.must("hints")), "homepage.yaml") {
		t.Errorf("hints = %q; want the hint", text(d.must("hints")))
	}
	if got := d.must("hints").Data; got != "details" {
		t.Errorf("hints element = %s; want details (collapsible)", got)
	}
}

func TestLabPageChecks(t *testing.T) {
	step := parseStep(t, stepSource)
	allPass := []CheckResult{
		{ID: "homepage-ready", Status: check.Pass}, {ID: "svc", Status: check.Pass},
		{ID: "answers", Status: check.Pass}, {ID: "ran-it", Status: check.Pass},
	}
	manual := labs.Step{Title: "Read this", Manual: true, Body: "Just prose."}
	tests := []struct {
		name       string
		step       labs.Step
		number     int // of 3 steps
		results    []CheckResult
		wantStatus map[string]string
		wantMsg    map[string]string
		wantNext   bool // next-step (or complete-link on the last step) shown
	}{
		{
			name: "mixed", step: step, number: 1,
			results: []CheckResult{
				{ID: "homepage-ready", Status: check.Pass, Message: "1 pod ready"},
				{ID: "svc", Status: check.Fail, Message: "Service homepage not found"},
				{ID: "answers", Status: check.Error, Message: "API server unreachable"},
				{ID: "unknown", Status: check.Pass},
			},
			wantStatus: map[string]string{"homepage-ready": "pass", "svc": "fail", "answers": "error", "ran-it": "pending"},
			wantMsg:    map[string]string{"homepage-ready": "1 pod ready", "svc": "Service homepage not found", "answers": "API server unreachable", "ran-it": ""},
		},
		{
			name: "no results yet", step: step, number: 2,
			wantStatus: map[string]string{"homepage-ready": "pending", "svc": "pending", "answers": "pending", "ran-it": "pending"},
		},
		{
			name: "bogus status is pending", step: step, number: 1,
			results:    []CheckResult{{ID: "svc", Status: "bogus"}},
			wantStatus: map[string]string{"svc": "pending"},
		},
		{
			name: "all pass", step: step, number: 1, results: allPass,
			wantStatus: map[string]string{"homepage-ready": "pass", "svc": "pass", "answers": "pass", "ran-it": "pass"},
			wantNext:   true,
		},
		{
			name: "last step, all pass", step: step, number: 3, results: allPass,
			wantStatus: map[string]string{"svc": "pass"},
			wantNext:   true,
		},
		{name: "last step, not all pass", step: step, number: 3, results: allPass[:1]},
		{name: "manual step", step: manual, number: 2, wantNext: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := LabPageView{
				SessionID: "s1", LabTitle: "Lab",
				Steps: []StepLink{{Number: 1, Title: "a"}, {Number: 2, Title: "b"}, {Number: 3, Title: "c"}},
				Step:  stepView(t, tt.number, tt.step, tt.results),
			}
			d := render(t, LabPage(v))
			for id, want := range tt.wantStatus {
				if got := attrOr(d.must("check-"+id), "data-status"); got != want {
					t.Errorf("check-%s data-status = %q; want %q", id, got, want)
				}
			}
			for id, want := range tt.wantMsg {
				if got := text(d.must("check-msg-" + id)); got != want {
					t.Errorf("check-msg-%s = %q; want %q", id, got, want)
				}
			}
			if got, want := len(d.testIDsWithPrefix("check-msg-")), len(tt.step.Checks); got != want {
				t.Errorf("%d check messages; want one per check (%d)", got, want)
			}
			last := tt.number == len(v.Steps)
			next, other := "next-step", "complete-link"
			if last {
				next, other = other, next
			}
			if d.byTestID(other) != nil {
				t.Errorf("%s rendered on step %d of %d", other, tt.number, len(v.Steps))
			}
			el := d.must(next)
			if shown := !hidden(el); shown != tt.wantNext {
				t.Errorf("%s shown = %v; want %v", next, shown, tt.wantNext)
			}
			wantHref := fmt.Sprintf("/s/s1/step step=%d", tt.number+1)
			if last {
				wantHref = "/s/s1/complete"
			}
			if got := goesTo(el); got != wantHref {
				t.Errorf("%s href = %q; want %q", next, got, wantHref)
			}
			if tt.step.Manual && d.byTestID("checks-none") == nil {
				t.Error("manual step does not say there is nothing to check")
			}
		})
	}
}

func TestLabPageFrame(t *testing.T) {
	step := parseStep(t, stepSource)
	v := LabPageView{
		SessionID: "s/1", CSRF: "csrf-9", LabID: "services-dns", LabTitle: "Services and DNS",
		Steps: []StepLink{
			{Number: 1, Title: "Deploy", Passed: true},
			{Number: 2, Title: "Port-forward"},
			{Number: 3, Title: "Logs"},
		},
		Step:          stepView(t, 2, step, nil),
		AppLinks:      []AppLink{{Name: "homepage", Label: "the homepage app", URL: AppURL("s/1", "homepage")}},
		TerminalToken: "term-tok",
	}
	d := render(t, LabPage(v))

	term := d.must("terminal")
	if got, want := attrOr(term, "data-ws-url"), "/s/s%2F1/terminal"; got != want {
		t.Errorf("terminal data-ws-url = %q; want %q", got, want)
	}
	if got := attrOr(term, "data-token"); got != "term-tok" {
		t.Errorf("terminal data-token = %q; want term-tok", got)
	}
	if got := attrOr(term, "data-protocol"); got != "kindlab.term.v1" {
		t.Errorf("terminal data-protocol = %q; want kindlab.term.v1", got)
	}
	if got := attrOr(d.must("terminal-status"), "data-state"); got != "connecting" {
		t.Errorf("terminal-status data-state = %q; want connecting", got)
	}
	page := d.must("lab-page")
	for k, want := range map[string]string{"data-events-url": "/s/s%2F1/events", "data-step": "2", "data-steps": "3", "data-all-passed": "false"} {
		if got := attrOr(page, k); got != want {
			t.Errorf("lab-page %s = %q; want %q", k, got, want)
		}
	}

	reset := d.must("reset-form")
	if got := attrOr(reset, "action"); got != "/s/s%2F1/reset" {
		t.Errorf("reset action = %q", got)
	}
	if in := inputNamed(reset, "csrf"); attrOr(in, "value") != "csrf-9" {
		t.Errorf("reset form csrf = %q; want csrf-9", attrOr(in, "value"))
	}

	tests := []struct {
		name               string
		id                 string
		wantCurrent        bool
		wantPassed, wantTo string
	}{
		{name: "passed step", id: "step-link-1", wantPassed: "true", wantTo: "/s/s%2F1/step step=1"},
		{name: "current step", id: "step-link-2", wantCurrent: true, wantPassed: "false", wantTo: "/s/s%2F1/step step=2"},
		{name: "later step", id: "step-link-3", wantPassed: "false", wantTo: "/s/s%2F1/step step=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := d.must(tt.id)
			if got := attrOr(a, "aria-current") == "step"; got != tt.wantCurrent {
				t.Errorf("%s current = %v; want %v", tt.id, got, tt.wantCurrent)
			}
			if got := attrOr(a, "data-passed"); got != tt.wantPassed {
				t.Errorf("%s data-passed = %q; want %q", tt.id, got, tt.wantPassed)
			}
			if got := goesTo(a); got != tt.wantTo {
				t.Errorf("%s goes to %q; want %q", tt.id, got, tt.wantTo)
			}
		})
	}

	app := d.must("app-link-homepage")
	if got := attrOr(app, "href"); got != "/s/s%2F1/apps/homepage/" {
		t.Errorf("app link href = %q", got)
	}
	if !strings.Contains(text(app), "Open the homepage app") {
		t.Errorf("app link text = %q", text(app))
	}
	if got := text(d.must("step-title")); got != step.Title {
		t.Errorf("step-title = %q; want %q", got, step.Title)
	}
	for _, href := range []string{static.URL("app.css"), static.URL("vendor/xterm.css")} {
		if !slices.ContainsFunc(d.tags("link"), func(n *htmlNode) bool { return attrOr(n, "href") == href }) {
			t.Errorf("no <link href=%q>", href)
		}
	}
	for _, src := range []string{static.URL("vendor/xterm.bundle.js"), static.URL("app.js")} {
		if !slices.ContainsFunc(d.tags("script"), func(n *htmlNode) bool { return attrOr(n, "src") == src }) {
			t.Errorf("no <script src=%q>", src)
		}
	}
}

func TestMarkdownNoRawHTML(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantText string // must appear as text
	}{
		{name: "script block", body: "Hello\n\n<script>alert(1)</script>\n"},
		{name: "inline script", body: "Hi <script>alert(1)</script> there"},
		{name: "event handler", body: `<img src=x onerror="alert(1)">`},
		{name: "javascript link", body: "[click](javascript:alert(1))"},
		{name: "script in code span", body: "Type `<script>` to see", wantText: "<script>"},
		{name: "script in fence", body: "```html\n<script>alert(1)</script>\n```\n", wantText: "<script>alert(1)</script>"},
		{name: "iframe", body: "<iframe src=\"https://evil.example\"></iframe>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step := parseStep(t, "---\ntitle: x\nchecks: []\nmanual: true\n---\n"+tt.body)
			v := LabPageView{SessionID: "s", Steps: []StepLink{{Number: 1}}, Step: stepView(t, 1, step, nil)}
			d := render(t, LabPage(v))
			body := d.must("step-body")
			sub := doc{t: t, root: body}
			for _, tag := range []string{"script", "iframe", "img"} {
				if n := len(sub.tags(tag)); n > 0 {
					t.Errorf("step body has %d <%s> elements", n, tag)
				}
			}
			for _, n := range sub.all(func(*htmlNode) bool { return true }) {
				for _, a := range n.Attr {
					if strings.HasPrefix(a.Key, "on") || strings.Contains(strings.ToLower(a.Val), "javascript:") {
						t.Errorf("<%s %s=%q> in the step body", n.Data, a.Key, a.Val)
					}
				}
			}
			if tt.wantText != "" && !strings.Contains(rawText(body), tt.wantText) {
				t.Errorf("step body text %q lacks %q", rawText(body), tt.wantText)
			}
		})
	}
}

func TestRenderMarkdownBuiltinLabs(t *testing.T) {
	cat := labs.Builtin()
	dirs, err := fs.ReadDir(cat, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if !dir.IsDir() {
			continue
		}
		lab, _ := labs.ParseLab(cat, dir.Name())
		if lab == nil {
			continue // labs' own tests report the problems
		}
		for _, step := range lab.Steps {
			t.Run(dir.Name()+"/"+step.ID, func(t *testing.T) {
				out, err := RenderMarkdown(step)
				if err != nil {
					t.Fatalf("RenderMarkdown: %v", err)
				}
				d := parseFragment(t, string(out))
				var got []labs.RunnableBlock
				for i, id := range d.testIDsWithPrefix("run-") {
					if want := fmt.Sprintf("run-%d", i+1); id != want {
						t.Errorf("run button %d is %q; want %q", i+1, id, want)
					}
					btn := d.must(id)
					got = append(got, labs.RunnableBlock{Command: attrOr(btn, "data-command"), Interrupt: attrOr(btn, "data-interrupt") == "true"})
				}
				if len(got) != len(step.Runnable) {
					t.Fatalf("%d run buttons; Step.Runnable has %d", len(got), len(step.Runnable))
				}
				for i, b := range step.Runnable {
					if got[i].Command != b.Command || got[i].Interrupt != b.Interrupt {
						t.Errorf("run-%d = %+v; want %q interrupt=%v", i+1, got[i], b.Command, b.Interrupt)
					}
				}
			})
		}
	}
}

func TestRenderMarkdownMismatch(t *testing.T) {
	tests := []struct {
		name string
		step labs.Step
	}{
		{
			name: "fence the lab parser cannot see",
			step: labs.Step{ID: "q", Body: "> ```bash run\n> kubectl get pods\n> ```\n"},
		},
		{
			name: "runnable block missing here",
			step: labs.Step{ID: "m", Body: "no blocks", Runnable: []labs.RunnableBlock{{Command: "ls"}}},
		},
		{
			name: "different command",
			step: labs.Step{ID: "d", Body: "```bash run\nls\n```\n", Runnable: []labs.RunnableBlock{{Command: "pwd"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderMarkdown(tt.step)
			if !errors.Is(err, ErrRunnableMismatch) {
				t.Errorf("RenderMarkdown(%q) error = %v; want ErrRunnableMismatch", tt.step.Body, err)
			}
		})
	}
}

// testStages stand for the server's provisioning stages.
var testStages = stages("queue", "files", "terminal", "ready")

// stages are progress stages labelled with their ids in capitals.
func stages(ids ...string) []ProgressStage {
	var out []ProgressStage
	for _, id := range ids {
		out = append(out, ProgressStage{ID: id, Label: strings.ToUpper(id)})
	}
	return out
}

func TestProgress(t *testing.T) {
	tests := []struct {
		name       string
		view       ProgressView
		wantQueue  string // "" when hidden
		wantError  string // "" when hidden
		wantStates []string
	}{
		{
			name:       "queued",
			view:       ProgressView{SessionID: "s1", LabID: "numbers", LabTitle: "Numbers", Stages: testStages, Stage: testStages[0], Queue: 3},
			wantQueue:  "3",
			wantStates: []string{"active", "pending", "pending", "pending"},
		},
		{
			name:       "claiming",
			view:       ProgressView{SessionID: "s1", LabID: "numbers", Stages: testStages, Stage: testStages[1]},
			wantStates: []string{"done", "active", "pending", "pending"},
		},
		{
			name:       "custom stages with an unknown one",
			view:       ProgressView{SessionID: "s1", Stages: stages("a", "b"), Stage: stages("c")[0]},
			wantStates: []string{"done", "done", "active"},
		},
		{
			name:       "failed",
			view:       ProgressView{SessionID: "s1", LabID: "numbers", CSRF: "tok", Stages: stages("a", "b"), Stage: stages("b")[0], Error: "No cluster could be started. Try again in a minute."},
			wantError:  "No cluster could be started. Try again in a minute.",
			wantStates: []string{"done", "failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := render(t, Progress(tt.view))
			box := d.must("progress")
			if got := attrOr(box, "data-events-url"); got != EventsURL(tt.view.SessionID) {
				t.Errorf("progress data-events-url = %q; want %q", got, EventsURL(tt.view.SessionID))
			}
			q := d.must("queue-position")
			if tt.wantQueue == "" {
				if !hidden(q) {
					t.Errorf("queue position shown for queue %d", tt.view.Queue)
				}
			} else {
				if hidden(q) || attrOr(q, "data-queue") != tt.wantQueue || !strings.Contains(text(q), "number "+tt.wantQueue) {
					t.Errorf("queue-position hidden=%v data-queue=%q text %q; want %s shown", hidden(q), attrOr(q, "data-queue"), text(q), tt.wantQueue)
				}
			}
			e := d.must("progress-error")
			if (tt.wantError == "") != hidden(e) {
				t.Errorf("progress-error hidden = %v; want %v", hidden(e), tt.wantError == "")
			}
			if tt.wantError != "" {
				if got := text(d.must("progress-error-message")); got != tt.wantError {
					t.Errorf("progress-error-message = %q; want %q", got, tt.wantError)
				}
				retry := d.must("retry")
				form := retry.Parent
				if attrOr(form, "action") != StartURL(tt.view.LabID) || attrOr(inputNamed(form, "csrf"), "value") != tt.view.CSRF {
					t.Errorf("retry form action=%q csrf=%q", attrOr(form, "action"), attrOr(inputNamed(form, "csrf"), "value"))
				}
			}
			var states []string
			for _, li := range d.all(func(n *htmlNode) bool { _, ok := attr(n, "data-stage"); return ok }) {
				states = append(states, attrOr(li, "data-state"))
				if id := attrOr(li, "data-stage"); !strings.Contains(text(li), strings.ToUpper(id)) {
					t.Errorf("stage %s reads %q; want its label", id, text(li))
				}
			}
			if !slices.Equal(states, tt.wantStates) {
				t.Errorf("stage states = %v; want %v", states, tt.wantStates)
			}
		})
	}
}

func TestComplete(t *testing.T) {
	d := render(t, Complete(CompleteView{
		SessionID: "s1", LabTitle: "Services and DNS", TimeTaken: 27*time.Minute + 40*time.Second, StepsPassed: 7,
		Steps: make([]StepLink, 8),
	}))
	for id, want := range map[string]string{"time-taken": "28 min", "steps-passed": "7 of 8"} {
		if got := text(d.must(id)); got != want {
			t.Errorf("%s = %q; want %q", id, got, want)
		}
	}
	if !strings.Contains(text(d.must("complete")), "Services and DNS") {
		t.Error("completion screen does not name the lab")
	}
	if got := attrOr(d.must("home-link"), "href"); got != "/" {
		t.Errorf("home-link href = %q; want /", got)
	}
}

// publicErr is an error with a learner-facing message.
type publicErr struct{ msg string }

func (e publicErr) Error() string         { return "internal: " + e.msg }
func (e publicErr) PublicMessage() string { return e.msg }

func TestErrorPage(t *testing.T) {
	internal := errors.New(`create cluster "kindlab-7f3a": dial tcp 10.1.2.3:6443: connection refused`)
	tests := []struct {
		name       string
		status     int
		err        error
		wantMsg    string
		wantAbsent []string
	}{
		{
			name: "internal error", status: http.StatusInternalServerError, err: internal,
			wantMsg:    StatusMessage(http.StatusInternalServerError),
			wantAbsent: []string{"dial tcp", "10.1.2.3", "kindlab-7f3a", "connection refused"},
		},
		{
			name: "public error wrapped", status: http.StatusConflict,
			err:        fmt.Errorf("start lab: %w", publicErr{"You already have a lab running."}),
			wantMsg:    "You already have a lab running.",
			wantAbsent: []string{"internal:", "start lab"},
		},
		{name: "not found", status: http.StatusNotFound, wantMsg: StatusMessage(http.StatusNotFound)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := render(t, ErrorPage(NewErrorView(tt.status, tt.err, "req-42")))
			if got := text(d.must("error-message")); got != tt.wantMsg {
				t.Errorf("error-message = %q; want %q", got, tt.wantMsg)
			}
			if got, want := text(d.must("error-status")), fmt.Sprint(tt.status); got != want {
				t.Errorf("error-status = %q; want %q", got, want)
			}
			if got := attrOr(d.must("home-link"), "href"); got != "/" {
				t.Errorf("home-link href = %q; want /", got)
			}
			if got := text(d.must("request-id")); got != "req-42" {
				t.Errorf("request-id = %q; want req-42", got)
			}
			for _, s := range tt.wantAbsent {
				if strings.Contains(d.src, s) {
					t.Errorf("error page contains %q", s)
				}
			}
		})
	}
}

// TestLayoutBanner: every page has the (hidden) banner the instructor's live
// messages appear in.
func TestLayoutBanner(t *testing.T) {
	d := render(t, Catalog(CatalogView{}))
	if b := d.must("message-banner"); !hidden(b) {
		t.Error("the message banner shows before any message")
	}
	if got := text(d.must("message-text")); got != "" {
		t.Errorf("message-text = %q; want empty", got)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{name: "seconds", d: 20 * time.Second, want: "under a minute"},
		{name: "minutes", d: 35 * time.Minute, want: "35 min"},
		{name: "hour", d: time.Hour, want: "1 h"},
		{name: "hour and minutes", d: 70 * time.Minute, want: "1 h 10 min"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatDuration(tt.d); got != tt.want {
				t.Errorf("formatDuration(%v) = %q; want %q", tt.d, got, tt.want)
			}
		})
	}
}
