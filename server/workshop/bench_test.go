package workshop

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/server/activity"
)

// BenchmarkHubFanout200: 200 learner goroutines publish in rounds (one event
// each, all at once, as when checkers poll on a shared schedule) to 3
// dashboard goroutines; a round ends when every dashboard has every event.
// ns/op is per event published; µs/event is the mean time from Publish to a
// dashboard receiving it, p99-µs its 99th percentile.
func BenchmarkHubFanout200(b *testing.B) {
	const learners, dashboards = 200, 3
	h := newTestHub(b)
	var (
		consumers sync.WaitGroup
		round     sync.WaitGroup // one Done per event per dashboard
		drops     atomic.Int64
	)
	lat := make([][]time.Duration, dashboards)
	cancels := make([]func(), dashboards)
	for d := range dashboards {
		s, cancel := h.Subscribe("bench")
		cancels[d] = cancel
		consumers.Go(func() {
			l := make([]time.Duration, 0, b.N+learners)
			for e := range s.Events() {
				l = append(l, time.Since(e.At))
				round.Done()
			}
			lat[d] = l
			if errors.Is(s.Err(), ErrSlowSubscriber) {
				drops.Add(1)
			}
		})
	}
	var publishers sync.WaitGroup
	starts := make([]chan int, learners)
	for l := range learners {
		starts[l] = make(chan int)
		session := fmt.Sprintf("learner-%03d", l)
		publishers.Go(func() {
			for step := range starts[l] {
				h.Publish(activity.Event{At: time.Now(), Workshop: "bench", Session: session, Kind: activity.KindCheck, Step: step})
			}
		})
	}

	b.ReportAllocs()
	b.ResetTimer()
	rounds := (b.N + learners - 1) / learners
	for r := range rounds {
		round.Add(learners * dashboards)
		for _, c := range starts {
			c <- r + 1
		}
		round.Wait()
	}
	b.StopTimer()
	for _, c := range starts {
		close(c)
	}
	publishers.Wait()
	for _, c := range cancels {
		c()
	}
	consumers.Wait()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	slices.Sort(all)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rounds*learners), "ns/op")
	b.ReportMetric(sum.Seconds()*1e6/float64(len(all)), "µs/event")
	b.ReportMetric(percentile(all, 0.99).Seconds()*1e6, "p99-µs")
	b.ReportMetric(float64(drops.Load()), "drops")
}

// BenchmarkGridSnapshot200: snapshot of 200 learners × 8 steps, with check
// messages on the steps in progress.
func BenchmarkGridSnapshot200(b *testing.B) {
	steps := make([]Step, 8)
	for i := range steps {
		steps[i] = Step{Title: fmt.Sprintf("step %d", i+1), Estimate: 10 * time.Minute}
	}
	g, err := NewGrid(steps)
	if err != nil {
		b.Fatalf("NewGrid: %v", err)
	}
	for l := range 200 {
		s := fmt.Sprintf("learner-%03d", l)
		g.Apply(activity.Event{At: t0, Session: s, Kind: activity.KindJoin, Name: fmt.Sprintf("Learner %03d", 199-l)})
		reached := l%8 + 1
		for st := 1; st <= reached; st++ {
			g.Apply(activity.Event{At: at(time.Duration(st) * time.Minute), Session: s, Kind: activity.KindStepStart, Step: st})
			for c := range 3 {
				g.Apply(activity.Event{At: at(time.Duration(st) * time.Minute), Session: s, Kind: activity.KindCheck, Step: st,
					CheckID: fmt.Sprint("check-", c), Status: check.Fail, Message: "not yet"})
			}
			if st < reached {
				g.Apply(activity.Event{At: at(time.Duration(st)*time.Minute + 30*time.Second), Session: s, Kind: activity.KindStepPass, Step: st})
			}
		}
	}
	now := at(20 * time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		v := g.Snapshot(now)
		if len(v.Learners) != 200 {
			b.Fatalf("Snapshot: %d learners", len(v.Learners))
		}
	}
}
