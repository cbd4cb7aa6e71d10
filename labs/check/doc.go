// Package check evaluates the checks of a lab step (see labs/FORMAT.md) against a
// learner's cluster through client-go, and watches the cluster so that a step's
// results are pushed as soon as they change.
//
// Every Result says in plain words what was expected and what was found. Fail is
// the learner's to fix; Error means the check could not run (API server down, pod
// gone during an exec) and says that it is not the learner's mistake.
package check
