// Command kindlab runs hands-on Kubernetes networking workshops: every learner gets a
// real kind cluster, a terminal in the browser and steps that check themselves.
//
//	kindlab serve                      run the workshop server
//	kindlab validate [lab...]          run labs headlessly on fresh clusters
//	kindlab lint                       check the lab catalog
//	kindlab images build               build every image from source
//	kindlab cluster create|delete|list learner clusters by hand
//	kindlab doctor                     can this host run learner clusters?
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a command line mistake: the usage is printed and the exit code is 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flagError is what a command returns when its flags do not parse; -h is not
// an error (the flag package has printed the flags).
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return flag.ErrHelp
	}
	return usageError{err.Error()}
}

const usage = `kindlab: hands-on Kubernetes networking workshops on real kind clusters

usage:
  kindlab serve [flags]               run the workshop server
  kindlab validate [flags] [lab...]   run labs on fresh clusters and check every step
  kindlab lint                        check the lab catalog and print every problem
  kindlab images build [flags]        build the node, toolbox and lab app images from source
  kindlab images list                 print the image tags the source tree builds
  kindlab images save|load FILE       carry every image to a host with no registry (FILE.gz: gzipped)
  kindlab cluster create|delete|list|kubeconfig [name]
  kindlab cluster host [-workers N] NAME
                                      a kind cluster with workers that stands in for a host
                                      Kubernetes cluster (serve --host-cluster runs learners on it)
  kindlab doctor                      check this host can run learner clusters

Run "kindlab <command> -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	env := &cli{ctx: ctx, stdout: stdout, stderr: stderr, log: log}
	var err error
	switch args[0] {
	case "images":
		err = env.images(args[1:])
	case "cluster":
		err = env.cluster(args[1:])
	case "doctor":
		err = env.doctor(args[1:])
	case "lint":
		err = env.lint(args[1:])
	case "validate":
		err = env.validate(args[1:])
	case "serve":
		err = env.serve(args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp): // -h: the flags were printed
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "kindlab: %s\n\n%s", ue.msg, usage)
		return 2
	case errors.Is(err, errSilent):
		return 1
	default:
		fmt.Fprintf(stderr, "kindlab: %v\n", err)
		return 1
	}
}

// errSilent is returned by commands that already printed why they failed.
var errSilent = errors.New("failed")

// cli carries what every subcommand needs.
type cli struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}
