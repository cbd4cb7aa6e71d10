//go:build e2e

package server_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/manifests"
	"github.com/kindlab/kindlab/server/store"
)

// TestE2EWalkLabs: a learner walks every step of services-dns and numbers in
// Chromium exactly as the page says: each Run button of the step in order,
// waiting for each command as a learner would (or going on while it keeps
// running, when the next button interrupts it), then Next. Every step must
// turn green; no URL is typed and no step is skipped. The test logs, per step,
// the time from the end of the command that made it green (the last one that
// ended before the page turned green, by kindlab's record; the click, for a
// command still running) to the moment the page showed every check green.
//
// On services-dns step 1 the learner is in a hurry: they click the step's Run
// buttons one after the other without waiting, so each command is typed while
// the one before still runs. The step must still turn green and kindlab must
// still record every command on it (a command check judges those records).
func TestE2EWalkLabs(t *testing.T) {
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		t.Fatal(err)
	}
	p := startHandingOver(t)
	for _, id := range []string{"services-dns", "numbers"} {
		lab, ok := cat.Lab(id)
		if !ok {
			t.Fatalf("no lab %s in the catalog", id)
		}
		hurried := map[string]int{"services-dns": 1}[id]
		t.Run(id, func(t *testing.T) { walkLab(t, p, lab, hurried) })
	}
}

// greenObserver records in window.__green when every check of the page is
// green, from the DOM change itself.
const greenObserver = `(() => {
	window.__green = 0;
	const all = () => { const cs = [...document.querySelectorAll('[data-check-id]')]; return cs.length > 0 && cs.every(e => e.dataset.status === 'pass'); };
	new MutationObserver(() => { if (!window.__green && all()) window.__green = Date.now(); })
		.observe(document.querySelector('[data-testid="checks"]'), {subtree: true, attributes: true, attributeFilter: ['data-status']});
	return all();
})()`

// walkLab walks every step of lab; on step hurried (if not 0) the learner
// clicks every Run button without waiting for the commands to end.
func walkLab(t *testing.T, p *platform, lab *labs.Lab, hurried int) {
	ctx, cancel := newBrowser(t)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 15*time.Minute)
	defer tcancel()
	if err := doEach(ctx,
		chromedp.Navigate(p.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="start-`+lab.ID+`"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="start-`+lab.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="terminal"]`)),
	); err != nil {
		t.Fatalf("start %s: %v", lab.ID, err)
	}
	if err := waitJS(ctx, `window.kindlab.connected && window.kindlab.termText().includes("$")`, 5*time.Minute); err != nil {
		t.Fatalf("terminal: %v", err)
	}
	loc, err := evalString(ctx, `window.location.pathname`)
	if err != nil {
		t.Fatal(err)
	}
	sid := sessionID(t, loc)
	var latencies []string
	for n, step := range lab.Steps {
		n++
		if err := waitJS(ctx, onStep(n)+` && window.kindlab.connected`, time.Minute); err != nil {
			t.Fatalf("step %d: %v", n, err)
		}
		if green, err := chromedp.Run(ctx, chromedp.Evaluate[bool](greenObserver)); err != nil || green {
			t.Fatalf("step %d is green before anything ran (%v)", n, err)
		}
		var ends []time.Time
		if n == hurried {
			ends = hurry(t, ctx, p.db, sid, n, step)
		} else {
			ends = runButtons(t, ctx, p.db, sid, n, step)
		}
		if err := waitJS(ctx, `window.__green > 0`, 3*time.Minute); err != nil {
			msgs, _ := evalString(ctx, `[...document.querySelectorAll('[data-check-id]')].map(e => e.dataset.checkId + ": " + e.dataset.status + " " + e.innerText.replace(/\s+/g, " ")).join("\n")`)
			term, _ := evalString(ctx, `window.kindlab.termText().slice(-1500)`)
			t.Fatalf("step %d (%s) did not turn green: %v\nchecks:\n%s\nterminal:\n%s", n, step.File, err, msgs, term)
		}
		green, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.__green`))
		if err != nil {
			t.Fatal(err)
		}
		greenAt := time.UnixMilli(int64(green))
		cause := ends[0]
		for _, e := range ends {
			if !e.After(greenAt) {
				cause = e
			}
		}
		latency := greenAt.Sub(cause)
		latencies = append(latencies, fmt.Sprintf("%d:%dms", n, latency.Milliseconds()))
		t.Logf("step %d %s: green in the page %s after the command that made it so ended", n, step.File, latency.Round(time.Millisecond))
		if n < len(lab.Steps) {
			if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="next-step"]`))); err != nil {
				t.Fatalf("step %d: next: %v", n, err)
			}
		}
	}
	if err := waitJS(ctx, `!document.querySelector('[data-testid="complete-link"]').hidden`, 10*time.Second); err != nil {
		t.Errorf("the last step does not offer completion: %v", err)
	}
	t.Logf("%s command end → green per step: %s", lab.ID, strings.Join(latencies, " "))
}

// runButtons clicks the step's Run buttons in order and waits for each
// command the way a learner would: until it ended (kindlab recorded it), or,
// for one the next button interrupts (or the last), until it has run a while.
// It returns when each command ended (the click, for one left running).
func runButtons(t *testing.T, ctx context.Context, db *store.Store, sid string, n int, step labs.Step) []time.Time {
	t.Helper()
	var ends []time.Time
	for i, b := range step.Runnable {
		mayLeave := i == len(step.Runnable)-1 || step.Runnable[i+1].Interrupt
		clicked := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := doEach(cctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="run-%d"]`, i+1))))
		cancel()
		if err != nil {
			page, _ := evalString(ctx, `document.querySelector('[data-testid="lab-page"]')?.dataset.step + " " + document.body.innerText.slice(0, 800)`)
			t.Fatalf("step %d: run-%d: %v\npage: %s", n, i+1, err, page)
		}
		deadline := clicked.Add(4 * time.Minute)
		for {
			if at, ok := ended(t, db, sid, n, b.Command, clicked); ok {
				ends = append(ends, at)
				break
			}
			if mayLeave && time.Since(clicked) > 5*time.Second {
				ends = append(ends, clicked)
				break
			}
			if time.Now().After(deadline) {
				term, _ := evalString(ctx, `window.kindlab.termText().slice(-1500)`)
				t.Fatalf("step %d: %q did not end in 4 minutes\nterminal:\n%s", n, b.Command, term)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return ends
}

// hurry clicks the step's Run buttons one after the other, 200 ms apart, and
// then waits until kindlab recorded each command on the step, in order.
func hurry(t *testing.T, ctx context.Context, db *store.Store, sid string, n int, step labs.Step) []time.Time {
	t.Helper()
	var clicks []time.Time
	for i := range step.Runnable {
		clicks = append(clicks, time.Now())
		if err := doEach(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="run-%d"]`, i+1)))); err != nil {
			t.Fatalf("step %d: run-%d: %v", n, i+1, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var ends []time.Time
	deadline := clicks[0].Add(4 * time.Minute)
	for _, b := range step.Runnable {
		since := clicks[0]
		if len(ends) > 0 {
			since = ends[len(ends)-1]
		}
		for {
			if at, ok := ended(t, db, sid, n, b.Command, since); ok {
				ends = append(ends, at)
				break
			}
			if time.Now().After(deadline) {
				cmds, _ := db.Commands(context.Background(), sid, n)
				term, _ := evalString(ctx, `window.kindlab.termText().slice(-1500)`)
				t.Fatalf("step %d: %q was not recorded in 4 minutes (the Run buttons clicked 200 ms apart)\nrecorded: %+v\nterminal:\n%s", n, b.Command, cmds, term)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !slices.ContainsFunc(ends[:len(ends)-1], func(e time.Time) bool { return e.After(clicks[len(clicks)-1]) }) {
		t.Fatalf("step %d: every command ended before the last click (%v, %v): nothing was typed ahead", n, clicks, ends)
	}
	return ends
}

// ended reports when kindlab recorded command ending on step n after since.
func ended(t *testing.T, db *store.Store, sid string, n int, command string, since time.Time) (time.Time, bool) {
	cmds, err := db.Commands(context.Background(), sid, n)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(strings.Fields(command), " ")
	i := slices.IndexFunc(cmds, func(c store.Command) bool {
		return !c.At.Before(since) && strings.Join(strings.Fields(c.Line), " ") == want
	})
	if i < 0 {
		return time.Time{}, false
	}
	return cmds[i].At, true
}

func evalString(ctx context.Context, expr string) (string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[string](expr))
}

// sessionID reads the session out of a lab page's path, /s/<sid>/....
func sessionID(t testing.TB, path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 2 || parts[0] != "s" {
		t.Fatalf("lab page path %q", path)
	}
	sid, err := url.PathUnescape(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return sid
}
