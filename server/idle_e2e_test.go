//go:build e2e

package server_test

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
)

// TestE2EIdleClusterSleeps: a learner in Chromium starts services-dns, types
// into the terminal and goes idle; once the command they left running has
// ended, kindlab pauses their cluster's node. It
// stays paused for longer than a websocket exec stream would live without a
// pong (61 s) while health probes run for everyone else, and is not taken for
// lost. The learner comes back and types a command into the same terminal:
// the cluster wakes, the same shell (its variable and directory) answers,
// and the steps' Run buttons and checks work again.
func TestE2EIdleClusterSleeps(t *testing.T) {
	t.Parallel() // mostly waits: beside TestE2EHostedCluster (fixtures_e2e_test.go)
	// Longer than a step's check takes to turn green here under load: a learner
	// waiting for one is idle to kindlab (it does not watch the page).
	const pauseIdle = 30 * time.Second
	p := startHandingOver(t, func(c *session.Config) {
		c.PauseIdle = pauseIdle
		c.HealthEvery = 2 * time.Second
	})
	waitWarm(t, p)
	ctx, cancel := newBrowser(t)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 10*time.Minute)
	defer tcancel()
	startLab(t, ctx, p)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	sid := sessionID(t, strings.TrimPrefix(loc, p.URL))
	sess, err := p.db.Session(context.Background(), sid)
	if err != nil || sess.Cluster == "" {
		t.Fatalf("the learner's session: %+v, %v", sess, err)
	}
	node := func() cluster.NodeState {
		n, err := p.m.Node(context.Background(), sess.Cluster)
		if err != nil {
			t.Fatal(err)
		}
		return n.State
	}

	// The learner leaves something in their shell and a command running (it
	// prints nothing for 20 s), then goes idle: the node is paused once the
	// command has ended and pause-idle has passed, not while it runs.
	const running = 20 * time.Second
	if err := typeKeys(ctx, "cd /tmp && MARK=still-here && sleep 20\r"); err != nil {
		t.Fatal(err)
	}
	typed := time.Now()
	for node() != cluster.NodePaused {
		if time.Since(typed) > running+pauseIdle+time.Minute {
			t.Fatalf("the idle learner's node is %q a minute after it should have been paused", node())
		}
		time.Sleep(500 * time.Millisecond)
	}
	paused := time.Now()
	if took := paused.Sub(typed); took < running {
		t.Fatalf("paused %s after the command was typed, while it ran (%s); want it running until the command ended", took, running)
	}
	t.Logf("paused %s after the command (%s, silent) was typed (pause-idle %s)", paused.Sub(typed).Round(100*time.Millisecond), running, pauseIdle)
	for time.Since(paused) < 70*time.Second {
		time.Sleep(5 * time.Second)
		if s := node(); s != cluster.NodePaused {
			t.Fatalf("the node is %q %s after it was paused; want it paused while the learner is away", s, time.Since(paused).Round(time.Second))
		}
	}
	if n := countEvents(t, p, sid, activity.KindLost); n != 0 {
		t.Fatalf("%d cluster-lost events while the cluster slept; want none", n)
	}

	// The learner is back and types into the same terminal.
	back := time.Now()
	if err := typeKeys(ctx, `echo "$MARK in $PWD"`+"\r"); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `window.kindlab.termText().includes("still-here in /tmp")`, 30*time.Second); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.kindlab.termText()`))
		t.Fatalf("the shell after the pause: %v\nterminal:\n%s", err, text)
	}
	t.Logf("back after %s asleep: keystrokes to the same shell's answer %s", back.Sub(paused).Round(time.Second), time.Since(back).Round(time.Millisecond))
	if s := node(); s != cluster.NodeRunning {
		t.Errorf("the node is %q after the learner came back; want running", s)
	}
	if n := countEvents(t, p, sid, activity.KindPaused); n != 1 {
		t.Errorf("%d %s events; want 1", n, activity.KindPaused)
	}
	waitEvents(t, p, sid, activity.KindResumed, 1, 30*time.Second)

	// The steps work again: back home, step 1's Run button, and its check turns green.
	if err := typeKeys(ctx, "cd\r"); err != nil {
		t.Fatal(err)
	}
	clicked := time.Now()
	if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, checkStatus("homepage-ready")+` === "pass"`, 3*time.Minute); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.kindlab.termText()`))
		check, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.kindlab.checks)`))
		t.Fatalf("step 1 check after the pause: %v (node %q; checks %s)\nterminal:\n%s", err, node(), check, text)
	}
	t.Logf("step 1 after waking, Run click to green: %s", time.Since(clicked).Round(time.Millisecond))
	if n := countEvents(t, p, sid, activity.KindLost); n != 0 {
		t.Errorf("%d cluster-lost events; want none", n)
	}

	// On to step 2, and idle again; this time the paused node cannot be
	// resumed (it is removed while it sleeps). Its shell's stream ends, so
	// kindlab wakes it to see, and replaces it before the learner is back: a
	// new cluster, step 1's work redone on it, still on step 2.
	if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="next-step"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, onStep(2)+` && window.kindlab.connected`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for idle := time.Now(); node() != cluster.NodePaused; time.Sleep(500 * time.Millisecond) {
		if time.Since(idle) > pauseIdle+time.Minute {
			t.Fatalf("the idle learner's node is %q a minute after it should have been paused again", node())
		}
	}
	removed := time.Now()
	if out, err := exec.Command("docker", "rm", "-f", "-v", sess.Cluster+"-control-plane").CombinedOutput(); err != nil {
		t.Fatalf("remove the paused node: %v: %s", err, out)
	}
	waitEvents(t, p, sid, activity.KindRecovered, 1, 5*time.Minute)
	after, err := p.db.Session(context.Background(), sid)
	if err != nil || after.Cluster == sess.Cluster || after.Step != 2 {
		t.Fatalf("after the cluster did not wake: %+v, %v; want step 2 on a new cluster", after, err)
	}
	if err := waitJS(ctx, onStep(2)+` && window.kindlab.connected && window.kindlab.termText().includes("$")`, 2*time.Minute); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.kindlab.termText()`))
		t.Fatalf("the learner's page after the replacement: %v\nterminal:\n%s", err, text)
	}
	t.Logf("a paused node removed: back on step 2 on a new cluster, the page's terminal connected, %s after", time.Since(removed).Round(100*time.Millisecond))
	if err := typeKeys(ctx, "kubectl get deployment homepage -o name\r"); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `window.kindlab.termText().includes("deployment.apps/homepage\n")`, time.Minute); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.kindlab.termText()`))
		t.Fatalf("step 1's work on the new cluster: %v\nterminal:\n%s", err, text)
	}
}

// typeKeys types s into the learner's terminal key by key ("\r" is Enter), as
// Chromium does for a real key press: a keyDown carrying the key's text, then
// a keyUp (chromedp's SendKeys adds a separate char event, and xterm.js takes
// every key twice).
func typeKeys(ctx context.Context, s string) error {
	return doEach(ctx, chromedp.Focus(chromedp.CSS(`.xterm-helper-textarea`)), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, r := range s {
			events := kb.Encode(r)
			for i, k := range events {
				if k.Type == kb.KeyChar {
					continue
				}
				if k.Type == kb.KeyDown && i+1 < len(events) && events[i+1].Type == kb.KeyChar {
					k.Text, k.UnmodifiedText = events[i+1].Text, events[i+1].UnmodifiedText
				}
				if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, *k); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}

// BenchmarkIdleWake: what a learner back from idle waits for. A command typed
// into the terminal (over its websocket, as the page sends keys) while the
// cluster sleeps, to the command's output: the keystroke wakes the node and
// the same shell takes what was typed. Five pauses per iteration.
func BenchmarkIdleWake(b *testing.B) {
	p := startPlatform(b, func(c *session.Config) { c.PauseIdle = 3 * time.Second })
	c, sessionURL := startSession(b, p.URL)
	conn := openTerminal(b, c, sessionURL)
	defer conn.Close()
	u, _ := url.Parse(sessionURL)
	sess, err := p.db.Session(context.Background(), sessionID(b, u.Path))
	if err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N * 5 {
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			if n, err := p.m.Node(context.Background(), sess.Cluster); err == nil && n.State == cluster.NodePaused {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("the idle learner's cluster was not paused within a minute")
			}
		}
		time.Sleep(2 * time.Second)
		start := time.Now()
		// The typed line shows WOKE$((...)); only the output shows the number.
		conn.WriteJSON(map[string]any{"type": "input", "data": fmt.Sprintf("echo WOKE$((%d+1))\r", 1000+i)})
		readUntil(b, conn, fmt.Sprintf("WOKE%d", 1001+i))
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "ms/answer-p50")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "ms/answer-max")
	b.Logf("typed into a paused cluster's terminal to the output, ms: %v", millis(took))
}

func millis(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Milliseconds()
	}
	return out
}
