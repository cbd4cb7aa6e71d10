// Command testtimes tells where the time of `make test` goes.
//
//	testtimes stream [-v] -o FILE [-phase NAME]
//	    reads `go test -json` on standard input, keeps it in FILE and prints it
//	    as go test would (every line with -v; otherwise the package summaries
//	    and the whole output of any test that failed).
//	testtimes report [-top N] [-budgets FILE] DIR
//	    prints the phases recorded in DIR/phases.tsv (as hack/test.sh writes
//	    them) and every test and benchmark of DIR/*.json with its duration,
//	    the slowest first, marking each that ran past its budget; with
//	    DIR/cpu.tsv, the share of the host's CPU busy during each.
//	testtimes cpu -o FILE
//	    samples the host's CPU times (/proc/stat) into FILE every two seconds
//	    until it is stopped (SIGTERM or SIGINT).
//
// It exits 1 when a stream held a failure, and report exits 1 when a budget
// was overrun.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "stream":
		err = streamCmd(os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:], os.Stdout)
	case "cpu":
		err = cpuCmd(os.Args[2:])
	default:
		usage()
	}
	var exit exitError
	if errors.As(err, &exit) {
		os.Exit(int(exit))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testtimes:", err)
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testtimes stream [-v] -o FILE | testtimes report [-top N] [-budgets FILE] DIR | testtimes cpu -o FILE")
	os.Exit(2)
}

// exitError is an exit status that needs no message: what went wrong has
// been printed already.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func streamCmd(args []string) error {
	fs := flag.NewFlagSet("stream", flag.ExitOnError)
	verbose := fs.Bool("v", false, "print every line of output, as go test -v does")
	out := fs.String("o", "", "where to keep the go test -json stream")
	fs.Parse(args)
	if *out == "" {
		return errors.New("stream: -o FILE is required")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	failed, err := stream(os.Stdin, f, os.Stdout, *verbose)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if failed {
		return exitError(1)
	}
	return nil
}

func reportCmd(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	top := fs.Int("top", 0, "print only the N slowest tests (0: all)")
	budgets := fs.String("budgets", "", "a file of budgets: lines of PHASE NAME-REGEXP DURATION")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("report: one folder expected")
	}
	var bs []budget
	if *budgets != "" {
		var err error
		if bs, err = readBudgets(*budgets); err != nil {
			return err
		}
	}
	over, err := report(fs.Arg(0), bs, *top, w)
	if err != nil {
		return err
	}
	if over > 0 {
		return exitError(1)
	}
	return nil
}

func cpuCmd(args []string) error {
	fs := flag.NewFlagSet("cpu", flag.ExitOnError)
	out := fs.String("o", "", "the file to append samples to")
	fs.Parse(args)
	if *out == "" {
		return errors.New("cpu: -o FILE is required")
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = sampleCPU(ctx, 2*time.Second, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
