package server

import (
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
)

// metrics are the server's counters, exposed in Prometheus' text format.
type metrics struct {
	requests        atomic.Int64
	sessionsStarted atomic.Int64
	stepsPassed     atomic.Int64
	streamsRefused  atomic.Int64
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	p := s.Pool.Stats()
	_, delayed := s.sessions.Saving()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	for _, m := range []struct {
		name, help, typ string
		v               int64
	}{
		{"kindlab_http_requests_total", "HTTP requests served.", "counter", s.metrics.requests.Load()},
		{"kindlab_sessions_started_total", "Lab sessions started.", "counter", s.metrics.sessionsStarted.Load()},
		{"kindlab_steps_passed_total", "Steps whose checks all passed.", "counter", s.metrics.stepsPassed.Load()},
		{"kindlab_streams_refused_total", "Live connections refused: their session or client held as many as allowed.", "counter", s.metrics.streamsRefused.Load()},
		{"kindlab_sessions_active", "Live learner sessions.", "gauge", int64(len(s.sessions.IDs()))},
		{"kindlab_pool_warm", "Warm clusters ready to claim.", "gauge", int64(p.Warm)},
		{"kindlab_pool_paused", "Warm clusters paused until claimed.", "gauge", int64(p.Paused)},
		{"kindlab_pool_creating", "Clusters being created.", "gauge", int64(p.Creating)},
		{"kindlab_pool_claimed", "Clusters in use by learners.", "gauge", int64(p.Claimed)},
		{"kindlab_pool_queue", "Learners waiting for a cluster.", "gauge", int64(p.Queue)},
		{"kindlab_pool_max", "Most clusters this server runs.", "gauge", int64(p.Max)},
		{"kindlab_store_writes_delayed", "Writes waiting for the database to take them.", "gauge", int64(delayed)},
		{"kindlab_go_heap_bytes", "Heap in use by the server.", "gauge", int64(mem.HeapInuse)},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.typ, m.name, m.v)
	}
}
