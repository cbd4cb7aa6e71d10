//go:build e2e

package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/server/session"
)

// Capacity thresholds: a host serves N learners while, with N at work, the p95
// of command end → green is under capacityGreen and the p95 keystroke echo
// under capacityEcho.
const (
	capacityGreen = time.Second
	capacityEcho  = 50 * time.Millisecond
)

// capacityLevels are the numbers of learners BenchmarkCapacity tries, in order.
var capacityLevels = []int{2, 4, 6, 8, 10, 12}

// BenchmarkCapacity brings learners up on this host, level by level
// (capacityLevels), each with services-dns in progress (its homepage deployed,
// its step's checks watching the cluster). At each level every learner at once,
// over their own terminal websocket and event stream as the page uses them,
// three times: goes to step 3 afresh, types the step's command and waits for
// the step to turn green; and types keystrokes one at a time, timing each echo.
// It reports per level the p95 of command end → green (ms-green-p95/N, from
// kindlab's record of the command's end to the event that says every check
// passed) and of the echo (ms-echo-p95/N), with no cluster being made at the
// time, the host's used memory
// (MiB-host/N) and CPU (%cpu-host/N, of all cores), and the largest level
// within the thresholds (learners). It stops at the first level past them.
// Browsers are not used here: N Chromiums would take the CPU being measured.
//
// The capacity found goes to the state folder (cluster.CapacityFile), where
// kindlab doctor and kindlab serve's default --pool-max read it: make capacity.
func BenchmarkCapacity(b *testing.B) {
	top := capacityLevels[len(capacityLevels)-1]
	p := startServer(b, ownScope(b, 1, func(o *cluster.PoolOptions) {
		o.Hot = 1
		o.Max = top + 1
	}), filepath.Join(b.TempDir(), "kindlab.db"))
	for range b.N {
		var learners []*busyLearner
		capacity := cluster.Capacity{Measured: time.Now().UTC(), CPUs: runtime.NumCPU(), MemTotalMiB: hostTotalMiB(b)}
		for _, n := range capacityLevels {
			for len(learners) < n {
				learners = append(learners, newBusyLearner(b, p))
			}
			// Measured while no cluster is being made: a create takes both cores
			// for a while, and a workshop's pool is full before the room arrives.
			waitPool(b, p.Pool, 10*time.Minute, func(s cluster.PoolStats) bool { return s.Creating == 0 })
			level := measureLevel(b, p, learners)
			unit := func(what string) string { return fmt.Sprintf("%s/%d", what, n) }
			b.ReportMetric(ms(level.green.p95()), unit("ms-green-p95"))
			b.ReportMetric(ms(level.echo.p95()), unit("ms-echo-p95"))
			b.ReportMetric(float64(level.memMiB), unit("MiB-host"))
			b.ReportMetric(level.cpu, unit("%cpu-host"))
			b.Logf("%d learners: green p50 %v p95 %v max %v; echo p50 %v p95 %v max %v; host %d MiB used, %.0f%% CPU",
				n, level.green.p(50), level.green.p95(), level.green.p(100), level.echo.p(50), level.echo.p95(), level.echo.p(100), level.memMiB, level.cpu)
			if level.green.p95() >= capacityGreen || level.echo.p95() >= capacityEcho {
				break
			}
			capacity.Learners = n
			capacity.GreenP95 = level.green.p95().Round(time.Millisecond).String()
			capacity.EchoP95 = level.echo.p95().Round(100 * time.Microsecond).String()
		}
		b.ReportMetric(float64(capacity.Learners), "learners")
		if err := cluster.WriteCapacity(cluster.DefaultStateDir(), capacity); err != nil {
			b.Error(err)
		}
		b.Logf("capacity %+v written to %s", capacity, filepath.Join(cluster.DefaultStateDir(), cluster.CapacityFile))
		for _, l := range learners {
			l.close()
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// durations are measured latencies.
type durations []time.Duration

// p returns the q-th percentile (nearest rank).
func (d durations) p(q int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	return s[max(0, (len(s)*q+99)/100-1)]
}

func (d durations) p95() time.Duration { return d.p(95) }

type levelResult struct {
	green, echo durations
	memMiB      int
	cpu         float64 // % of all cores
}

// measureLevel runs every learner's rounds at once and reads the host meanwhile.
func measureLevel(b testing.TB, p *platform, learners []*busyLearner) levelResult {
	var (
		mu  sync.Mutex
		res levelResult
		wg  sync.WaitGroup
	)
	busy0, total0 := hostCPU(b)
	for _, l := range learners {
		wg.Go(func() {
			for range 3 {
				green, _ := l.greenRound(b, p)
				echo := l.echoes(b, 5)
				mu.Lock()
				res.green = append(res.green, green)
				res.echo = append(res.echo, echo...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	busy1, total1 := hostCPU(b)
	res.cpu = 100 * float64(busy1-busy0) / float64(max(1, total1-total0))
	res.memMiB = hostUsedMiB(b)
	return res
}

// busyLearner is one learner driven over HTTP, the terminal websocket and the
// event stream, as their page would.
type busyLearner struct {
	c          *http.Client
	url, sid   string
	term       *termReader
	greens     chan time.Time // when an event said every check of step 3 passed
	stopEvents func()
}

func newBusyLearner(b testing.TB, p *platform) *busyLearner {
	c, sessionURL := startSession(b, p.URL)
	u, _ := url.Parse(sessionURL)
	l := &busyLearner{c: c, url: sessionURL, sid: sessionID(b, u.Path), greens: make(chan time.Time, 16)}
	l.term = newTermReader(openTerminal(b, c, sessionURL))
	l.stopEvents = l.followEvents(b)
	// The lab in progress: step 1's work done (the homepage Deployment rolled out).
	l.term.typeAndWait(b, "kubectl apply -f homepage.yaml >/dev/null && kubectl rollout status deploy/homepage --timeout=300s >/dev/null && echo DEPLOYED$((40+2))\r", "DEPLOYED42", 6*time.Minute)
	return l
}

// followEvents reads the session's event stream and sends the time of every
// checks event saying step 3 has all passed.
func (l *busyLearner) followEvents(b testing.TB) func() {
	return followStream(b, l.c, l.url, func(name, data string) {
		var c session.Checks
		if name == string(session.EventChecks) && json.Unmarshal([]byte(data), &c) == nil && c.Step == 3 && c.AllPassed {
			select {
			case l.greens <- time.Now():
			default:
			}
		}
	})
}

// followStream reads the event stream of the session at sessionURL through c
// and calls each with every event's name and data, until the returned cancel.
func followStream(b testing.TB, c *http.Client, sessionURL string, each func(name, data string)) func() {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", sessionURL+"/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var name string
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				each(name, v)
			}
		}
	}()
	return cancel
}

// greenRound visits step 3 afresh, types its command and returns the time from
// the command's end, as kindlab recorded it, to the event that says green,
// and from the command sent (typed and Enter) to that event.
func (l *busyLearner) greenRound(b testing.TB, p *platform) (endToGreen, typedToGreen time.Duration) {
	for _, step := range []string{"2", "3"} {
		resp, err := l.c.PostForm(l.url+"/step", url.Values{"step": {step}, "csrf": {pageCSRF(b, l.c, l.url)}})
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	time.Sleep(300 * time.Millisecond) // the step's checks start
	for len(l.greens) > 0 {
		<-l.greens
	}
	since := time.Now()
	const command = "kubectl logs --selector app=signup,component=homepage"
	l.term.send(b, command+"\r")
	var green time.Time
	select {
	case green = <-l.greens:
	case <-time.After(2 * time.Minute):
		b.Fatalf("step 3 did not turn green 2 minutes after %q", command)
	}
	for range 200 {
		cmds, err := p.db.Commands(context.Background(), l.sid, 3)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cmds {
			if c.Line == command && !c.At.Before(since) {
				return green.Sub(c.At), green.Sub(since)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("kindlab recorded no end of %q", command)
	return 0, 0
}

// echoes types n keystrokes one at a time and returns how long each took to
// come back; then it clears the line.
func (l *busyLearner) echoes(b testing.TB, n int) durations {
	var out durations
	for i := range n {
		key := string(rune('a' + i%26))
		start := time.Now()
		l.term.typeAndWait(b, key, key, 10*time.Second)
		out = append(out, time.Since(start))
	}
	l.term.send(b, "\x15") // Ctrl-U: the line is empty again
	return out
}

func (l *busyLearner) close() {
	l.stopEvents()
	l.term.conn.Close()
}

// termReader reads a terminal websocket all the time and lets a caller wait for
// text that arrives after they typed.
type termReader struct {
	conn *websocket.Conn
	mu   sync.Mutex
	wmu  sync.Mutex
	out  strings.Builder
	more chan struct{}
}

func newTermReader(conn *websocket.Conn) *termReader {
	t := &termReader{conn: conn, more: make(chan struct{}, 1)}
	conn.SetReadDeadline(time.Time{})
	go func() {
		for {
			typ, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if typ == websocket.BinaryMessage && len(data) > 8 {
				t.mu.Lock()
				t.out.Write(data[8:])
				t.mu.Unlock()
				select {
				case t.more <- struct{}{}:
				default:
				}
			}
		}
	}()
	return t
}

func (t *termReader) send(b testing.TB, data string) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := t.conn.WriteJSON(map[string]any{"type": "input", "data": data}); err != nil {
		b.Fatal(err)
	}
}

// typeAndWait types data and waits until want arrives after it was typed.
func (t *termReader) typeAndWait(b testing.TB, data, want string, timeout time.Duration) {
	t.mu.Lock()
	from := t.out.Len()
	t.mu.Unlock()
	t.send(b, data)
	deadline := time.After(timeout)
	for {
		t.mu.Lock()
		got := strings.Contains(t.out.String()[from:], want)
		t.mu.Unlock()
		if got {
			return
		}
		select {
		case <-t.more:
		case <-deadline:
			b.Fatalf("the terminal did not show %q within %v of typing %q", want, timeout, data)
		}
	}
}

// hostCPU reads the host's busy and total CPU time (all cores, in ticks).
func hostCPU(b testing.TB) (busy, total uint64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// hostUsedMiB is the host's memory in use: MemTotal less MemAvailable.
func hostUsedMiB(b testing.TB) int {
	kb := meminfo(b)
	return (kb["MemTotal"] - kb["MemAvailable"]) / 1024
}

func hostTotalMiB(b testing.TB) int { return meminfo(b)["MemTotal"] / 1024 }

// meminfo reads /proc/meminfo, in kB.
func meminfo(b testing.TB) map[string]int {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		b.Fatal(err)
	}
	kb := map[string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			kb[strings.TrimSuffix(f[0], ":")], _ = strconv.Atoi(f[1])
		}
	}
	return kb
}
