// Command pause is kindlab's pause container: it does nothing until SIGINT or SIGTERM,
// then exits 0. Like the Kubernetes pause image, it reaps zombie children on SIGCHLD,
// which matters when it is PID 1 of a pod that shares its process namespace.
//
// It takes no flags and no environment. Build it static: CGO_ENABLED=0 go build.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: warning: not running as PID 1, so zombies of other processes are not reaped")
	}
	// Separate channels, so a burst of SIGCHLD can never crowd out a stop signal.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	child := make(chan os.Signal, 1)
	signal.Notify(child, syscall.SIGCHLD)

	sig := wait(stop, child, reap)
	fmt.Fprintf(os.Stderr, "pause: shutting down, got signal: %v\n", sig)
	os.Exit(0)
}

// wait calls reap for every signal on child and returns the first signal on stop.
func wait(stop, child <-chan os.Signal, reap func() int) os.Signal {
	for {
		select {
		case sig := <-stop:
			return sig
		case <-child:
			reap()
		}
	}
}

// reap collects every child that has exited, without blocking, and returns how many
// it collected. Signals coalesce, so one SIGCHLD may stand for many children.
func reap() int {
	n := 0
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none has exited yet
			return n
		}
		n++
	}
}
