package main

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus the
// build events of go test itself).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	ImportPath string
	Test       string
	Elapsed    float64
	Output     string
}

// stream copies a go test -json stream from r to keep and prints it to w as
// go test prints: every line when verbose, otherwise the packages' own lines
// and the output of each test that failed. It reports whether anything
// failed (a test, a package or a build).
func stream(r io.Reader, keep, w io.Writer, verbose bool) (failed bool, err error) {
	type key struct{ pkg, test string }
	held := map[key]*strings.Builder{} // a running test's output, printed if it fails
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if _, err := keep.Write(append(line, '\n')); err != nil {
			return failed, err
		}
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			io.WriteString(w, string(line)+"\n") // go test's own words, not an event
			continue
		}
		switch e.Action {
		case "build-output":
			io.WriteString(w, e.Output)
		case "build-fail":
			failed = true
		case "output":
			switch {
			case verbose:
				io.WriteString(w, e.Output)
			case strings.HasPrefix(e.Output, "=== "): // RUN, PAUSE, CONT: -v's lines only
			case strings.HasPrefix(e.Test, "Benchmark"): // results, as go test -bench prints them
				io.WriteString(w, e.Output)
			case e.Test != "":
				k := key{e.Package, e.Test}
				if held[k] == nil {
					held[k] = &strings.Builder{}
				}
				held[k].WriteString(e.Output)
			case e.Output != "PASS\n":
				io.WriteString(w, e.Output)
			}
		case "pass", "skip":
			delete(held, key{e.Package, e.Test})
		case "fail":
			failed = true
			if verbose {
				continue
			}
			if e.Test != "" {
				if b := held[key{e.Package, e.Test}]; b != nil {
					io.WriteString(w, b.String())
				}
				delete(held, key{e.Package, e.Test})
				continue
			}
			// A package that failed with tests still running was cut short
			// (a panic or its timeout): what they printed tells why.
			for k, b := range held {
				if k.pkg == e.Package {
					io.WriteString(w, b.String())
					delete(held, k)
				}
			}
		}
	}
	return failed, sc.Err()
}
