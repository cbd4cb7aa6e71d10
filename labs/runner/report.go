package runner

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteSummary writes the human summary: per lab and step, the timings, and every
// problem with the lab/step/check it belongs to.
func (r Report) WriteSummary(w io.Writer) {
	failedLabs := 0
	for _, l := range r.Labs {
		mark := "PASS"
		if l.Failed() {
			mark = "FAIL"
			failedLabs++
		}
		fmt.Fprintf(w, "%s %s (%s; cluster and workstation %s)\n", mark, l.Lab, round(l.Duration), round(l.Setup))
		if l.Error != "" {
			fmt.Fprintf(w, "     %s: %s\n", l.Lab, l.Error)
		}
		for _, s := range l.Steps {
			smark := "ok  "
			if s.Failed() {
				smark = "FAIL"
			}
			slowest := time.Duration(0)
			for _, c := range s.Checks {
				slowest = max(slowest, c.ToPass)
			}
			fmt.Fprintf(w, "  %s %-28s %8s  (checks green %s after the solution)\n", smark, s.Step, round(s.Duration), round(slowest))
			if s.Error != "" {
				fmt.Fprintf(w, "       %s/%s: %s\n", l.Lab, s.Step, s.Error)
			}
			for _, c := range s.Checks {
				if c.Problem != "" {
					fmt.Fprintf(w, "       %s/%s/%s (%s): %s\n", l.Lab, s.Step, c.ID, c.Kind, c.Problem)
				}
			}
		}
	}
	fmt.Fprintf(w, "%d of %d labs passed in %s\n", len(r.Labs)-failedLabs, len(r.Labs), round(r.Duration))
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// WriteJSON writes the report as JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     float64      `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML: a suite per lab, a case per step.
func (r Report) WriteJUnit(w io.Writer) error {
	out := junitSuites{Time: r.Duration.Seconds()}
	for _, l := range r.Labs {
		s := junitSuite{Name: l.Lab, Time: l.Duration.Seconds()}
		if l.Error != "" {
			s.Cases = append(s.Cases, junitCase{Name: "setup", Classname: l.Lab, Time: l.Setup.Seconds(),
				Error: &junitMessage{Message: l.Error, Text: l.Error}})
			s.Errors++
		}
		for _, st := range l.Steps {
			c := junitCase{Name: st.Step, Classname: l.Lab, Time: st.Duration.Seconds()}
			var problems []string
			if st.Error != "" {
				problems = append(problems, st.Error)
			}
			for _, ch := range st.Checks {
				if ch.Problem != "" {
					problems = append(problems, fmt.Sprintf("%s (%s): %s", ch.ID, ch.Kind, ch.Problem))
				}
			}
			if len(problems) > 0 {
				c.Failure = &junitMessage{Message: problems[0], Text: strings.Join(problems, "\n")}
				s.Failures++
			}
			var log strings.Builder
			for _, cmd := range st.Commands {
				fmt.Fprintf(&log, "$ %s\n%s[exit %d, %s]\n", cmd.Line, cmd.Output, cmd.ExitCode, round(cmd.Duration))
			}
			for _, ch := range st.Checks {
				fmt.Fprintf(&log, "check %s: before %s (%s); after %s (%s)\n", ch.ID, ch.Before.Status, ch.Before.Message, ch.After.Status, ch.After.Message)
			}
			c.SystemOut = log.String()
			s.Cases = append(s.Cases, c)
		}
		s.Tests = len(s.Cases)
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
