// Package activity is the vocabulary of what happens to a learner: the
// events a session records (package session), the store keeps (package
// store) and the instructor's dashboard reads (package workshop). It is
// owned by none of them.
package activity

import (
	"time"

	"github.com/kindlab/kindlab/labs/check"
)

// Kind is what an Event says happened.
type Kind string

// Event kinds, as stored and exported.
const (
	KindJoin        Kind = "join"           // a learner started a session
	KindReady       Kind = "ready"          // their cluster and terminal are ready
	KindLeave       Kind = "leave"          // the session ended
	KindStepStart   Kind = "step-start"     // a step became current
	KindStepPass    Kind = "step-pass"      // every check of a step passed
	KindCheck       Kind = "check"          // one check's result changed
	KindReset       Kind = "reset"          // the learner got a fresh cluster
	KindFastForward Kind = "fast-forward"   // the instructor ran the earlier steps' Run buttons
	KindMessage     Kind = "message"        // the instructor's broadcast
	KindLost        Kind = "cluster-lost"   // the learner's cluster stopped answering
	KindRecovered   Kind = "recovered"      // a new cluster took its place, back on the same step
	KindQueued      Kind = "queued"         // waiting for a cluster; Message is the place in the queue, from 1
	KindFailed      Kind = "cluster-failed" // no cluster could be made ready; Message says why
	KindPaused      Kind = "cluster-paused" // the learner went idle: their cluster sleeps until they are back
	KindResumed     Kind = "cluster-woken"  // the learner came back: their paused cluster runs again
	KindLimit       Kind = "limit-hit"      // the learner's budget stopped a pod of theirs; Message says which and why
)

// Event is one thing that happened to a learner, or in a workshop.
type Event struct {
	ID       int64 // the store's number for it, once read back from the store
	At       time.Time
	Workshop string // workshop ID; routes the event in the Hub
	Session  string // learner session ID; empty for workshop-wide messages
	Kind     Kind
	Step     int // from 1; 0 means no step (or every step, for reset)
	CheckID  string
	Status   check.Status // of a check event; only check.Fail counts towards Stuck
	Message  string
	Name     string // learner display name (join)
	Lab      string // the learner's lab; empty for workshop-wide messages
}
