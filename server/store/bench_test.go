package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/store/storetest"
)

// BenchmarkStoreWrites: the writes a learner at work makes most, on each
// database: an event (every check change), a command, a second of terminal
// output. ns/op is one write's latency from one goroutine.
func BenchmarkStoreWrites(b *testing.B) {
	for _, db := range []struct {
		name  string
		where func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "kindlab.db") }},
		{"postgres", func(b *testing.B) string { return storetest.Postgres(b) }},
	} {
		b.Run(db.name, func(b *testing.B) {
			s, err := store.Open(context.Background(), db.where(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			now := time.Now()
			b.Run("event", func(b *testing.B) {
				for b.Loop() {
					if err := s.AddEvent(ctx, store.Event{At: now, Session: "s1", Kind: activity.KindStepPass, Step: 1, Workshop: "w1", CheckID: "pods", Status: "pass"}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("command", func(b *testing.B) {
				for b.Loop() {
					if err := s.AddCommand(ctx, store.Command{Session: "s1", Step: 1, At: now, Line: "kubectl get pods -o wide", Exit: 0}); err != nil {
						b.Fatal(err)
					}
				}
			})
			out := make([]byte, 512)
			b.Run("terminal-output", func(b *testing.B) {
				for b.Loop() {
					if err := s.AddTerminalOutput(ctx, "s1", out); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
