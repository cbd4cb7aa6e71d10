package workshop

import "time"

// Event kinds.
const (
	KindJoin        = "join"
	KindLeave       = "leave"
	KindStepStart   = "step-start"
	KindStepPass    = "step-pass"
	KindCheck       = "check"
	KindReset       = "reset"
	KindFastForward = "fast-forward"
	KindMessage     = "message"
)

// Check statuses. Only StatusFail counts towards Stuck.
const (
	StatusPass  = "pass"
	StatusFail  = "fail"
	StatusError = "error"
)

// Event is one thing that happened in a workshop.
type Event struct {
	At       time.Time
	Workshop string // workshop ID; routes the event in the Hub
	Session  string // learner session ID; empty for workshop-wide messages
	Kind     string // one of the Kind constants
	Step     int    // from 1; 0 means no step (or every step, for reset)
	CheckID  string
	Status   string
	Message  string
	Name     string // learner display name (join)
}
