package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/workshop"
	"github.com/kindlab/kindlab/web"
)

// gridViews renders the progress of every lab of a workshop.
func (s *Server) gridViews(ctx context.Context, ws store.Workshop, csrf string) ([]web.DashboardGridView, error) {
	var out []web.DashboardGridView
	for _, id := range ws.Labs {
		g, err := s.board.Grid(ctx, ws, id)
		if err != nil {
			return nil, err
		}
		lab, _ := s.Catalog.Lab(id)
		snap := g.Snapshot(s.Clock.Now())
		out = append(out, web.DashboardGridView{WorkshopID: ws.ID, LabID: id, LabTitle: lab.Title, CSRF: csrf, Grid: gridView(snap), Steps: len(snap.Steps)})
	}
	return out, nil
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	ws := workshopOf(r)
	csrf := s.csrfToken(w, r)
	grids, err := s.gridViews(r.Context(), ws, csrf)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	s.render(w, r, http.StatusOK, web.Dashboard(web.DashboardView{CSRF: csrf, WorkshopID: ws.ID, Title: ws.Title, Code: ws.Code,
		JoinURL: s.absolute(r, web.JoinURL(ws.Code)), Capacity: ws.Capacity, Ends: ws.Ends, Grids: grids, MaxMessage: workshop.MaxBroadcastLen}))
}

// dashboardLive streams the grids (as rendered HTML) and the capacity over a
// websocket: at once, after every event of the workshop (coalesced over 100 ms),
// and every few seconds for the clocks.
func (s *Server) dashboardLive(w http.ResponseWriter, r *http.Request) {
	ws := workshopOf(r)
	csrf := s.csrfToken(w, r)
	up := websocket.Upgrader{} // same-origin only: gorilla's default CheckOrigin
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	sub, cancel := s.board.Hub.Subscribe(ws.ID)
	defer cancel()
	// The browser sends nothing but pongs: anything large is refused, and a browser
	// that stops answering pings is dropped.
	conn.SetReadLimit(dashboardReadLimit)
	conn.SetReadDeadline(time.Now().Add(dashboardPongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(dashboardPongWait)) })
	go func() { // reader: notices the browser going away
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				cancel()
				return
			}
		}
	}()
	send := func() error { return s.sendDashboard(r.Context(), conn, ws, csrf) }
	if send() != nil {
		return
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	ping := time.NewTicker(dashboardPongWait * 9 / 10)
	defer ping.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-ping.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second)) != nil {
				return
			}
			continue
		case _, ok := <-sub.Events():
			if !ok || !coalesce(sub) {
				return // too slow: the browser reconnects and gets a fresh grid
			}
		case <-tick.C:
		}
		if send() != nil {
			return
		}
	}
}

// sendDashboard writes the grids (as rendered HTML) and the capacity.
func (s *Server) sendDashboard(ctx context.Context, conn *websocket.Conn, ws store.Workshop, csrf string) error {
	grids, err := s.gridViews(ctx, ws, csrf)
	if err != nil {
		return err
	}
	var html strings.Builder
	if err := web.DashboardGrids(grids).Render(ctx, &html); err != nil {
		return err
	}
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteJSON(map[string]any{"type": "grid", "html": html.String()}); err != nil {
		return err
	}
	p := s.Pool.Stats()
	return conn.WriteJSON(map[string]any{"type": "capacity", "warm": p.Warm, "paused": p.Paused, "claimed": p.Claimed, "creating": p.Creating,
		"queue": p.Queue, "max": p.Max, "memAvailableMiB": s.freeMemory()})
}

// coalesce waits a moment for the rest of a burst of events and takes them; it
// reports false when the subscription was dropped.
func coalesce(sub *workshop.Subscription) bool {
	time.Sleep(100 * time.Millisecond)
	for {
		select {
		case _, ok := <-sub.Events():
			if !ok {
				return false
			}
		default:
			return true
		}
	}
}

// The dashboard websocket's limits: what a browser may send, and how long it may
// stay silent (no pong) before it is dropped.
const (
	dashboardReadLimit = 1024
	dashboardPongWait  = 60 * time.Second
)

// freeMemory is the memory free where learner clusters run, in MiB, or nil
// when that is not known.
func (s *Server) freeMemory() any {
	if s.FreeMemory == nil {
		return nil
	}
	if mib, ok := s.FreeMemory(); ok {
		return mib
	}
	return nil
}

// gridView is a workshop grid's snapshot as the dashboard shows it.
func gridView(g workshop.GridView) web.Grid {
	out := web.Grid{Summary: web.GridSummary{Learners: g.Summary.Learners, Present: g.Summary.Present, Done: g.Summary.Done,
		StuckLearners: g.Summary.StuckLearners, Waiting: g.Summary.Waiting, Recovering: g.Summary.Recovering,
		Failed: g.Summary.Failed, Paused: g.Summary.Paused}}
	for _, st := range g.Steps {
		out.Steps = append(out.Steps, st.Title)
	}
	for _, r := range g.Learners {
		row := web.GridRow{Session: r.Session, Name: r.Name, Left: r.Left, Done: r.Done, Current: r.Current,
			Cluster: web.ClusterState(r.Cluster.String()), Queue: r.Queue, Limit: r.Limit}
		for _, c := range r.Cells {
			cell := web.GridCell{Step: c.Step, State: web.CellState(c.State.String()), TimeOnStep: c.TimeOnStep,
				Stuck: web.StuckReason(c.StuckReason), FailingCheck: c.FailingCheck, FastForwarded: c.FastForwarded}
			for _, m := range c.Messages {
				cell.Messages = append(cell.Messages, web.CellMessage{CheckID: m.CheckID, Status: m.Status, Message: m.Message})
			}
			row.Cells = append(row.Cells, cell)
		}
		out.Learners = append(out.Learners, row)
	}
	for _, st := range g.Stuck {
		out.Stuck = append(out.Stuck, web.StuckLearner{Session: st.Session, Name: st.Name, Step: st.Step, For: st.For,
			Reason: web.StuckReason(st.Reason), CheckID: st.CheckID, LastFail: st.LastFail})
	}
	return out
}
