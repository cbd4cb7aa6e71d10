package terminal

import (
	"errors"
	"io"
)

// Terminal is a running program with a TTY: a shell in a pod, or a fake in
// tests. Read returns the program's output; it returns io.EOF when the program
// exits with status 0, and an error with an ExitStatus() int or ExitCode() int
// method when it exits with another status. A Session calls Read from one
// goroutine, and Write and Resize from one goroutine at a time, concurrently
// with Read. Close ends the program and unblocks Read and Write.
type Terminal interface {
	io.Reader
	io.Writer
	Resize(cols, rows uint16) error
	Close() error
}

// exitStatus turns the error that ended a Terminal's Read into an exit code.
// It reports err back when the terminal ended without an exit status, with
// code -1.
func exitStatus(err error) (int, error) {
	if errors.Is(err, io.EOF) {
		return 0, nil
	}
	var st interface{ ExitStatus() int } // k8s.io/client-go/util/exec.ExitError
	if errors.As(err, &st) {
		return st.ExitStatus(), nil
	}
	var ec interface{ ExitCode() int } // os/exec.ExitError
	if errors.As(err, &ec) {
		return ec.ExitCode(), nil
	}
	return -1, err
}
