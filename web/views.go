package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
)

// LayoutView is the page frame: title, navigation and notices.
type LayoutView struct {
	Title string // the page's title; the site name is appended
	Crumb string // shown after the site name in the header, e.g. the lab's title
	Wide  bool   // full-width, full-height body (the lab page)
}

// CatalogView is the home page: the labs a learner can start.
type CatalogView struct {
	CSRF string // value of the hidden "csrf" field of every Start form
	Labs []LabCard
}

// LabCard is one lab in the catalog.
type LabCard struct {
	ID       string
	Title    string
	Summary  string
	Duration time.Duration // estimate for the whole lab
	Steps    int
}

// CardFromLab makes the catalog card of a lab.
func CardFromLab(l labs.Lab) LabCard {
	return LabCard{ID: l.ID, Title: l.Title, Summary: l.Summary, Duration: l.Duration.Std(), Steps: len(l.Steps)}
}

// ProgressView is shown while the learner's cluster is being prepared. The page
// subscribes to the session's events and reloads when provisioning is done.
type ProgressView struct {
	SessionID string
	CSRF      string // for the "Try again" form, which starts the lab again
	LabID     string
	LabTitle  string
	Stages    []ProgressStage // the stages in order
	Stage     ProgressStage   // the current stage; stages before it are done
	Queue     int             // position in the queue when waiting for capacity, else 0
	Error     string          // plain words for the learner; never an internal error
	Step      int             // the step the learner is on: past 1, an error offers a fresh cluster back on it
}

// ProgressStage is a provisioning stage: its id (the page's events name it)
// and its label.
type ProgressStage struct {
	ID    string
	Label string
}

// LabPageView is the learner's lab page: steps on the left, terminal on the right.
type LabPageView struct {
	SessionID     string
	CSRF          string // for the reset form
	LabID         string
	LabTitle      string
	Steps         []StepLink // every step of the lab, in order
	Step          StepView   // the current step; Step.Number indexes Steps (1-based)
	AppLinks      []AppLink  // lab apps this step links to
	TerminalToken string     // sent in the terminal websocket's hello
}

// StepLink is a step in the step navigation.
type StepLink struct {
	Number int // 1-based
	Title  string
	Passed bool
}

// StepLinks makes the step navigation of a lab; passed[i] tells whether step
// i+1 has passed (missing entries have not).
func StepLinks(l labs.Lab, passed []bool) []StepLink {
	out := make([]StepLink, len(l.Steps))
	for i, s := range l.Steps {
		out[i] = StepLink{Number: i + 1, Title: s.Title, Passed: i < len(passed) && passed[i]}
	}
	return out
}

// AppLink is a lab app the learner can open in a new tab.
type AppLink struct {
	Name  string // the Service, e.g. "homepage"
	Label string // the link's text, e.g. "the homepage"
	URL   string // e.g. AppURL(sid, "homepage")
}

// StepView is one step, ready to show.
type StepView struct {
	Number   int // 1-based
	Title    string
	Estimate time.Duration // zero when unknown
	Body     template.HTML // from RenderMarkdown
	Hints    []template.HTML
	Solution []string // shown in a collapsed "Show the solution"; empty hides it
	Checks   []CheckView
	Manual   bool // an explanatory step without checks
}

// AllPassed reports whether the learner may go on: every check passes (a step
// without checks always may).
func (s StepView) AllPassed() bool {
	for _, c := range s.Checks {
		if c.Status != check.Pass {
			return false
		}
	}
	return true
}

// NewStepView renders step n (1-based) of a lab with the latest check results
// (checks without a result are pending).
func NewStepView(n int, step labs.Step, results []CheckResult) (StepView, error) {
	body, err := RenderMarkdown(step)
	if err != nil {
		return StepView{}, err
	}
	v := StepView{
		Number: n, Title: step.Title, Estimate: step.Estimate.Std(), Body: body,
		Solution: step.Solution, Manual: step.Manual,
	}
	for _, h := range step.Hints {
		hint, err := renderInline(h)
		if err != nil {
			return StepView{}, fmt.Errorf("step %s: hint: %w", step.ID, err)
		}
		v.Hints = append(v.Hints, hint)
	}
	byID := make(map[string]CheckResult, len(results))
	for _, r := range results {
		byID[r.ID] = r
	}
	for _, c := range step.Checks {
		cv := CheckView{ID: c.ID, Label: c.Label(), Status: check.Pending}
		if r, ok := byID[c.ID]; ok {
			cv.Status, cv.Message = orPending(r.Status), r.Message
		}
		v.Checks = append(v.Checks, cv)
	}
	return v, nil
}

// CheckView is one check in the live check list.
type CheckView struct {
	ID      string
	Label   string // what the check looks for, in plain words
	Status  check.Status
	Message string // the latest result's message
}

// CheckResult is the latest result of a check, as in the "checks" event.
type CheckResult struct {
	ID      string       `json:"id"`
	Status  check.Status `json:"status"`
	Message string       `json:"message"`
}

// orPending is s if it is a check's result, else check.Pending.
func orPending(s check.Status) check.Status {
	switch s {
	case check.Pass, check.Fail, check.Error:
		return s
	}
	return check.Pending
}

// CompleteView is the completion screen.
type CompleteView struct {
	SessionID   string
	CSRF        string
	LabTitle    string
	TimeTaken   time.Duration
	StepsPassed int
	Steps       []StepLink // every step with whether it passed
}

// ErrorView is a friendly error page.
type ErrorView struct {
	Status    int    // HTTP status
	Message   string // plain words for the learner; StatusMessage(Status) when empty
	RequestID string // optional, so a learner can quote it to the instructor
}

// PublicError is an error whose message is written for learners.
type PublicError interface {
	error
	PublicMessage() string
}

// NewErrorView makes the error page for err. Only the message of a PublicError
// in err's chain is shown; any other error gets the generic message of its
// status, so internal details never reach the browser (log err instead).
func NewErrorView(status int, err error, requestID string) ErrorView {
	v := ErrorView{Status: status, RequestID: requestID}
	if pe, ok := errors.AsType[PublicError](err); ok {
		v.Message = pe.PublicMessage()
	}
	return v
}

// StatusMessage is the generic learner-facing message of an HTTP status.
func StatusMessage(status int) string {
	switch status {
	case http.StatusNotFound:
		return "We couldn't find that page. The link may be old, or the lab session may have ended."
	case http.StatusForbidden, http.StatusUnauthorized:
		return "This page isn't yours to open. If you were in the middle of a lab, go back to the labs and start it again."
	case http.StatusBadRequest:
		return "Something about that request didn't look right. Go back and try again."
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return "kindlab is busy right now. Wait a moment and try again."
	}
	return "Something went wrong on our side. Try again in a moment; if it keeps happening, tell your instructor."
}

func (v ErrorView) message() string {
	if strings.TrimSpace(v.Message) != "" {
		return v.Message
	}
	return StatusMessage(v.Status)
}

func (v ErrorView) title() string {
	if t := http.StatusText(v.Status); t != "" {
		return t
	}
	return "Error"
}

// formatDuration writes a duration for people: "35 min", "1 h 5 min".
func formatDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}
