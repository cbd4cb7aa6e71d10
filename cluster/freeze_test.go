package cluster

import (
	"context"
	"errors"
	"io"
	"testing"
)

// flakyFreezer fails docker pause with err for its first fails calls.
type flakyFreezer struct {
	fails, calls int
	err          error
}

func (f *flakyFreezer) Run(_ context.Context, _ io.Writer, args ...string) error {
	f.calls++
	if f.calls <= f.fails {
		return f.err
	}
	return nil
}

func TestFreeze(t *testing.T) {
	gaveUp := errors.New("exit status 1: Error response from daemon: Cannot pause container 7063: OCI runtime pause failed: unable to freeze: unknown")
	stopped := errors.New("exit status 1: Error response from daemon: container 7063 is not running")
	for _, tc := range []struct {
		name      string
		docker    flakyFreezer
		wantErr   bool
		wantCalls int
	}{
		{"frozen at once", flakyFreezer{}, false, 1},
		{"the freezer gave up twice", flakyFreezer{fails: 2, err: gaveUp}, false, 3},
		{"the freezer always gives up", flakyFreezer{fails: 99, err: gaveUp}, true, freezeTries},
		{"another error is not retried", flakyFreezer{fails: 99, err: stopped}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := freeze(context.Background(), &tc.docker, "kindlab-p-1-control-plane")
			if (err != nil) != tc.wantErr || tc.docker.calls != tc.wantCalls {
				t.Errorf("freeze: %v after %d docker pause; want error %v after %d", err, tc.docker.calls, tc.wantErr, tc.wantCalls)
			}
		})
	}
}
