//go:build e2e

package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/kindlab/kindlab/cluster"
)

// startSamples is how many starts each BenchmarkStartWarm case times per run.
const startSamples = 4

// BenchmarkStartWarm: in Chromium, a learner on the catalog clicks Start; timed
// until the lab page's terminal is connected and shows the shell's prompt. The
// learner then ends the session from the completion screen, which frees the
// cluster for the next sample. Cases:
//   - hot: the warm cluster is running (kindlab serve's default, --pool-hot 1);
//   - paused: it waits paused and is resumed by the claim (--pool-hot 0);
//   - while-creating: another cluster is being created at the same time (as
//     the pool does after a claim), which takes both cores of a small host.
//
// Reported: ms/start-p50, -p95 and -max over startSamples starts; where the
// browser's part went (ms/<stage>-p50, see startTiming.stages), over the starts
// that landed on the lab page directly; and how many went through the progress
// page instead (reloads).
func BenchmarkStartWarm(b *testing.B) {
	cases := []struct {
		name          string
		warm, hot     int
		whileCreating bool
	}{
		{name: "hot", warm: 1, hot: 1},
		{name: "paused", warm: 1, hot: 0},
		{name: "while-creating", warm: 1, hot: 1, whileCreating: true},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			s := ownScope(b, bc.warm, func(o *cluster.PoolOptions) {
				o.Hot = bc.hot
				o.Max = bc.warm + 1
			})
			m := s.Manager
			p := startServer(b, s, filepath.Join(b.TempDir(), "kindlab.db"))
			bctx, cancel := newBrowser(b)
			defer cancel()
			var took []time.Duration
			stages := map[string][]float64{}
			reloads := 0
			for range b.N {
				for range startSamples {
					waitPool(b, p.Pool, 10*time.Minute, func(s cluster.PoolStats) bool {
						return s.Warm >= bc.warm && s.Creating == 0 && s.Paused == bc.warm-bc.hot
					})
					created := func() {}
					if bc.whileCreating {
						created = createAside(b, m)
					}
					d, t := startInBrowser(b, bctx, p.URL)
					created()
					took = append(took, d)
					if t.Reload {
						reloads++ // its stages start at the progress page's reload
						continue
					}
					for _, st := range t.stages() {
						stages[st.name] = append(stages[st.name], st.ms)
					}
				}
			}
			slices.Sort(took)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(took[len(took)/2]), "ms/start-p50")
			b.ReportMetric(ms(took[(len(took)*95+99)/100-1]), "ms/start-p95")
			b.ReportMetric(ms(took[len(took)-1]), "ms/start-max")
			for _, st := range (startTiming{}).stages() {
				v := stages[st.name]
				if len(v) == 0 {
					continue
				}
				slices.Sort(v)
				b.ReportMetric(v[len(v)/2], "ms/"+st.name+"-p50")
				b.Logf("%s: %s %.0f ms", bc.name, st.name, v)
			}
			b.ReportMetric(float64(reloads), "reloads")
			b.Logf("%s: starts %v", bc.name, took)
		})
	}
}

// createAside starts creating a cluster and returns once kind is well into it
// (its control plane starting); the func it returns waits for the create to
// end and deletes the cluster.
func createAside(b *testing.B, m *cluster.Manager) func() {
	b.Helper()
	name := fmt.Sprintf("aside-%d", time.Now().UnixNano()%1e6)
	done := make(chan error, 1)
	go func() {
		_, err := m.Create(context.Background(), name)
		done <- err
	}()
	time.Sleep(6 * time.Second)
	return func() {
		if err := <-done; err != nil {
			b.Errorf("the cluster created aside: %v", err)
		}
		m.Delete(context.Background(), name)
	}
}

// waitPool waits until the pool's stats satisfy ok.
func waitPool(b *testing.B, p *cluster.Pool, timeout time.Duration, ok func(cluster.PoolStats) bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !ok(p.Stats()) {
		if time.Now().After(deadline) {
			b.Fatalf("the pool never got ready for the next start: %+v", p.Stats())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startInBrowser opens the catalog in a new tab, clicks Start on services-dns
// and returns how long until the terminal was interactive, and where the
// browser's part of that went; then it ends the session from the completion
// screen, as a learner who is done would.
func startInBrowser(b *testing.B, bctx context.Context, base string) (time.Duration, startTiming) {
	b.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer tcancel()
	if err := doEach(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="start-services-dns"]`))); err != nil {
		b.Fatalf("the catalog: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: promptWatchJS}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="start-services-dns"]`))); err != nil {
		b.Fatalf("click Start: %v", err)
	}
	// The page notes when the prompt shows (promptWatchJS); read every 50 ms,
	// so that the reading takes little of the page's main thread.
	var t startTiming
	for {
		var err error
		t, err = chromedp.Run(ctx, chromedp.Evaluate[startTiming](startTimingJS))
		if err == nil && t.Ready {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("no interactive terminal after Start: %v", ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.UnixMicro(int64((t.Origin + t.Prompt) * 1000)).Sub(start)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.Fatal(err)
	}
	err = doEach(ctx,
		chromedp.Navigate(loc+"/complete"),
		chromedp.Click(chromedp.CSS(`[data-testid="end-session"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="start-services-dns"]`)),
	)
	if err != nil {
		b.Fatalf("end the session: %v", fmt.Errorf("%s: %w", loc, err))
	}
	return took, t
}

// startTiming is where a start's time went in the browser, in ms from the
// start of the navigation that ended on the lab page (Navigation Timing and
// the terminal's User Timing marks). With a warm cluster that is the Start
// form's POST, which waits for the session and redirects to the lab page;
// otherwise the progress page's reload (Reload).
type startTiming struct {
	Ready      bool    `json:"ready"`
	Reload     bool    `json:"reload"`
	FetchStart float64 `json:"fetchStart"` // the POST and its redirect answered
	Response   float64 `json:"response"`   // the lab page's first byte
	Parsed     float64 `json:"parsed"`     // the page parsed (domInteractive)
	Scripts    float64 `json:"scripts"`    // app.js starts: xterm.js loaded and run
	Terminal   float64 `json:"terminal"`   // xterm.js built the terminal
	DOMReady   float64 `json:"domReady"`   // parsed, deferred scripts (xterm, app.js) run
	WSOpen     float64 `json:"wsOpen"`     // the terminal's websocket open
	Hello      float64 `json:"hello"`      // the server's hello: the terminal attached
	Prompt     float64 `json:"prompt"`     // the prompt seen (promptWatchJS)
	Origin     float64 `json:"origin"`     // performance.timeOrigin: the above are from it
}

// promptWatchJS runs in every new document of the benchmark's tab: it notes
// when the terminal is connected and shows a prompt, looking every 10 ms (a
// few microseconds each) instead of the benchmark asking through the DevTools
// protocol that often, which took the page's main thread.
const promptWatchJS = `(() => {
  const look = () => {
    const k = window.kindlab;
    if (k && k.connected && k.termText().includes("$")) window.__kindlabPrompt = performance.now();
    else setTimeout(look, 10);
  };
  look();
})()`

// startTimingJS reads a startTiming once promptWatchJS saw the prompt; before
// that it answers {ready: false}.
const startTimingJS = `(() => {
  if (window.__kindlabPrompt === undefined) return {ready: false};
  const n = performance.getEntriesByType("navigation")[0] || {};
  const mark = (name) => { const e = performance.getEntriesByName(name, "mark")[0]; return e ? e.startTime : 0; };
  return {ready: true, reload: n.type === "reload", fetchStart: n.fetchStart, response: n.responseStart,
    parsed: n.domInteractive, scripts: mark("kindlab:scripts"), terminal: mark("kindlab:terminal"),
    domReady: n.domContentLoadedEventEnd, wsOpen: mark("kindlab:ws-open"), hello: mark("kindlab:hello"),
    prompt: window.__kindlabPrompt, origin: performance.timeOrigin};
})()`

// A stage is one part of a start in the browser and how long it took.
type stage struct {
	name string
	ms   float64
}

// stages lists a start's browser stages in order; page-scripts is the sum of
// the four after it.
func (t startTiming) stages() []stage {
	return []stage{
		{"post", t.FetchStart},
		{"lab-page", t.Response - t.FetchStart},
		{"page-scripts", t.DOMReady - t.Response},
		{"parse", t.Parsed - t.Response},
		{"run-scripts", t.Scripts - t.Parsed},
		{"build-terminal", t.Terminal - t.Scripts},
		{"dom-ready", t.DOMReady - t.Terminal},
		{"ws-open", t.WSOpen - t.DOMReady},
		{"attach", t.Hello - t.WSOpen},
		{"prompt", t.Prompt - t.Hello},
	}
}
