// Package workshop is the instructor side of kindlab: a Registry of workshops
// that learners join with a short code, a progress Grid built from learner
// events, a Hub that fans those events out live to instructor dashboards, and
// CSV/JSON export of a workshop's events, and the Board that holds them for
// every workshop (and follows the events other replicas record). It knows
// nothing of HTTP or Kubernetes; the server wires it (instructor messages reach learners' pages
// through their sessions, package session).
//
// # Steps
//
// Steps are numbered from 1 in events, views and exports. Step 0 means "no
// step" (join, leave, broadcast messages) and, for a reset, "every step".
//
// # Feeding the grid and the hub
//
// The Grid and the Hub are independent: the Board applies each event to the
// Grid of the learner's lab in that workshop (the source of truth for
// snapshots; a message goes to every Grid of the workshop) and publishes it on
// the Hub (live updates). The Grid must not be fed from a Hub subscription, since
// a subscription may be dropped.
//
// # Slow subscribers
//
// Hub.Publish never blocks. Each subscription has a bounded queue
// (DefaultQueueLen unless WithQueueLen is given). When an event does not fit,
// the subscription is dropped: it receives nothing more, its channel is
// closed and Err reports ErrSlowSubscriber. A dashboard that sees this
// reconnects, renders a fresh Grid snapshot, and subscribes again. Dropping
// rather than skipping single events means a live subscription never has a
// silent gap: every event it receives comes in publish order.
//
// # Stuck learners
//
// A learner's cell is Stuck while the step is being worked on and either the
// time on the step exceeds the step's estimate, or one check id has failed
// WithFailLimit times in a row (DefaultFailLimit) with no pass of that same
// check in between. Failures are counted per check id because a checker runs
// several checks per poll and the passes of one must not hide the repeated
// failure of another. Only the status "fail" counts as a failure; other
// statuses (for instance "error", the checker itself failed) are recorded as
// messages but do not count. Passing the step clears Stuck.
package workshop
