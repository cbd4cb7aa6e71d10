package main

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	tests := []struct {
		name      string
		signals   []os.Signal // sent in order; SIGCHLD goes to the child channel
		wantSig   os.Signal
		wantReaps int
	}{
		{name: "sigterm", signals: []os.Signal{syscall.SIGTERM}, wantSig: syscall.SIGTERM},
		{name: "sigint", signals: []os.Signal{syscall.SIGINT}, wantSig: syscall.SIGINT},
		{name: "reaps before stop", signals: []os.Signal{syscall.SIGCHLD, syscall.SIGCHLD, syscall.SIGTERM}, wantSig: syscall.SIGTERM, wantReaps: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stop, child := make(chan os.Signal), make(chan os.Signal)
			reaps := 0
			done := make(chan os.Signal, 1)
			go func() { done <- wait(stop, child, func() int { reaps++; return 0 }) }()
			for _, s := range tt.signals {
				if s == syscall.SIGCHLD {
					child <- s
				} else {
					stop <- s
				}
			}
			if got := <-done; got != tt.wantSig || reaps != tt.wantReaps {
				t.Fatalf("wait() = %v after %d reaps; want %v after %d", got, reaps, tt.wantSig, tt.wantReaps)
			}
		})
	}
}

func TestReapCollectsExitedChild(t *testing.T) {
	if os.Getenv("PAUSE_TEST_CHILD") == "1" {
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReapCollectsExitedChild$")
	cmd.Env = append(os.Environ(), "PAUSE_TEST_CHILD=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child exits on its own; reap must collect it (it is not waited for elsewhere).
	deadline := time.Now().Add(10 * time.Second)
	for reaped := 0; reaped == 0; reaped = reap() {
		if time.Now().After(deadline) {
			t.Fatal("reap() collected no child within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := reap(); n != 0 {
		t.Errorf("second reap() = %d; want 0", n)
	}
}
