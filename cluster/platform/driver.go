package platform

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/workstation"
)

var _ check.Execer = (*workstation.Conn)(nil)

// Checks returns a check engine over conn: checks read the cluster with its
// clients and run commands through conn.Exec.
func Checks(conn *workstation.Conn) *check.Engine {
	return check.New(check.Config{Client: conn.Client, Dynamic: conn.Dynamic, Exec: conn,
		Workstation: check.Workstation{Namespace: workstation.Namespace, Pod: workstation.Pod, Container: workstation.Container}})
}

// Driver does a lab on a learner's cluster: its files, its setup, each
// step's setup and Run buttons, its checks. The learner's session and
// `kindlab validate` both go through it, so that validate proves the path a
// learner takes.
type Driver struct {
	Conn      *workstation.Conn
	Lab       *labs.Lab
	Manifests fs.FS // the lab's files and setup manifests
}

// PlaceFiles readies the lab's files for the learner's first shell
// (workstation.Conn.PlaceFiles); copied says they were copied in now, not
// found in the cluster's catalog.
func (d Driver) PlaceFiles(ctx context.Context) (copied bool, err error) {
	files, err := LabFiles(d.Manifests, d.Lab)
	if err != nil {
		return false, err
	}
	return d.Conn.PlaceFiles(ctx, d.Lab.ID, files)
}

// SetUp applies the lab's setup, the state it starts from.
func (d Driver) SetUp(ctx context.Context) error {
	return ApplySetup(ctx, d.Conn, d.Manifests, d.Lab.WorkNamespace(), d.Lab.Setup)
}

// SetUpStep applies step n's setup.
func (d Driver) SetUpStep(ctx context.Context, n int) error {
	return ApplySetup(ctx, d.Conn, d.Manifests, d.Lab.WorkNamespace(), d.Lab.Steps[n-1].Setup)
}

// Checks returns a check engine over the driver's cluster.
func (d Driver) Checks() *check.Engine { return Checks(d.Conn) }

// Typist opens a shell of the learner's own in the workstation, for Click.
func (d Driver) Typist(ctx context.Context) (*workstation.Typist, error) {
	return d.Conn.Typist(ctx, d.Lab.ID)
}

// Click types step n's Run buttons (or its solution) into ty, in order, as
// the learner would click them, each within timeout, and calls ran (when not
// nil) after each; it stops at the first error, its own or ran's. A command
// that ended with a failure is not an error (ran sees it).
func (d Driver) Click(ctx context.Context, ty *workstation.Typist, n int, timeout time.Duration, ran func(b labs.RunnableBlock, c shellmark.Command, took time.Duration) error) error {
	blocks := d.Lab.Steps[n-1].Walk()
	for i, b := range blocks {
		start := time.Now()
		// The learner goes on while a command runs (a port-forward) when the
		// next block interrupts it, or there is none.
		mayLeave := i == len(blocks)-1 || blocks[i+1].Interrupt
		c, err := ty.Run(ctx, workstation.Line{Command: b.Command, Interrupt: b.Interrupt}, mayLeave, timeout)
		if err == nil && ran != nil {
			err = ran(b, c, time.Since(start))
		}
		if err != nil {
			return fmt.Errorf("command %q: %w", b.Command, err)
		}
	}
	return nil
}

// Redo does steps from up to, not including, to, with their setup, in ty: how
// a learner's new cluster is brought to the step they were on.
func (d Driver) Redo(ctx context.Context, ty *workstation.Typist, from, to int, timeout time.Duration) error {
	for n := from; n < to; n++ {
		if err := d.SetUpStep(ctx, n); err != nil {
			return fmt.Errorf("step %d: %w", n, err)
		}
		if err := d.Click(ctx, ty, n, timeout, nil); err != nil {
			return fmt.Errorf("step %d: %w", n, err)
		}
	}
	return nil
}
