package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/terminal"
	"github.com/kindlab/kindlab/server/workshop"
	"github.com/kindlab/kindlab/web"
)

// Instructor cookies: the instructor token (to create workshops) and, per
// workshop, the workshop's own token, so one workshop's instructor cannot open
// another's dashboard.
const instructorCookie = "kindlab_instructor"

func workshopCookie(id string) string { return "kindlab_w_" + id }

// workshops is the instructor side: the registry, a progress grid per workshop and
// the live hub.
type workshops struct {
	registry *workshop.Registry
	hub      *workshop.Hub
	mu       sync.Mutex
	grids    map[string]*workshop.Grid
}

func (s *Server) initWorkshops() error {
	reg, err := workshop.NewRegistry(s.Store.Workshops(), workshop.WithClock(s.Clock), workshop.WithLogger(s.Logger))
	if err != nil {
		return err
	}
	hub, err := workshop.NewHub(workshop.WithClock(s.Clock), workshop.WithLogger(s.Logger))
	if err != nil {
		return err
	}
	s.ws = &workshops{registry: reg, hub: hub, grids: map[string]*workshop.Grid{}}
	return nil
}

// grid returns the progress grid of a workshop, rebuilt from the stored events the
// first time it is asked for (after a restart, too).
func (s *Server) grid(ctx context.Context, w workshop.Workshop) (*workshop.Grid, error) {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	if g, ok := s.ws.grids[w.ID]; ok {
		return g, nil
	}
	lab, ok := s.Catalog.Lab(w.Labs[0])
	if !ok {
		return nil, fmt.Errorf("workshop %s: no lab %s", w.ID, w.Labs[0])
	}
	var steps []workshop.Step
	for _, st := range lab.Steps {
		steps = append(steps, workshop.Step{Title: st.Title, Estimate: st.Estimate.Std()})
	}
	g, err := workshop.NewGrid(steps, workshop.WithClock(s.Clock))
	if err != nil {
		return nil, err
	}
	events, err := s.Store.WorkshopEvents(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		g.Apply(e)
	}
	s.ws.grids[w.ID] = g
	return g, nil
}

// record stores a learner's event and, for workshop learners, feeds the grid and
// the dashboards.
func (s *Server) record(ctx context.Context, e workshop.Event) {
	ctx = context.WithoutCancel(ctx)
	err := s.Store.AddEvent(ctx, store.Event{At: e.At, Session: e.Session, Kind: e.Kind, Step: e.Step, Detail: e.Name,
		Workshop: e.Workshop, CheckID: e.CheckID, Status: e.Status, Message: e.Message})
	if err != nil {
		s.Logger.Error("store event", "error", err)
	}
	if e.Workshop == "" {
		return
	}
	w, err := s.Store.Workshops().Workshop(ctx, e.Workshop)
	if err != nil {
		return
	}
	if g, err := s.grid(ctx, w); err == nil {
		g.Apply(e)
	}
	s.ws.hub.Publish(e)
}

// instructorSessionAge is how long an instructor stays signed in.
const instructorSessionAge = 12 * time.Hour

// instructor reports whether the request carries a live instructor sign-in session:
// an opaque random token whose hash the server keeps (never the instructor token).
func (s *Server) instructor(r *http.Request) bool {
	c, err := r.Cookie(instructorCookie)
	if err != nil || s.InstructorToken == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.instructors[hashToken(c.Value)]
	if ok && s.Clock.Now().After(exp) {
		delete(s.instructors, hashToken(c.Value))
		return false
	}
	return ok
}

func (s *Server) instructorHome(w http.ResponseWriter, r *http.Request) {
	csrf := s.csrfToken(w, r)
	if !s.instructor(r) {
		s.render(w, r, http.StatusOK, web.InstructorLogin(web.InstructorLoginView{CSRF: csrf}))
		return
	}
	v := web.InstructorHomeView{CSRF: csrf, Labs: s.labOptions(nil)}
	for _, c := range r.Cookies() {
		id, ok := strings.CutPrefix(c.Name, "kindlab_w_")
		if !ok || s.ws.registry.Authorize(r.Context(), id, c.Value) != nil {
			continue
		}
		ws, err := s.Store.Workshops().Workshop(r.Context(), id)
		if err != nil {
			continue
		}
		learners, _ := s.Store.Workshops().Learners(r.Context(), id)
		v.Workshops = append(v.Workshops, web.WorkshopSummary{ID: ws.ID, Title: ws.Title, Code: ws.Code, JoinURL: joinURL(r, ws.Code),
			Learners: len(learners), Capacity: ws.Capacity, Ends: ws.Ends})
	}
	s.render(w, r, http.StatusOK, web.InstructorHome(v))
}

func (s *Server) labOptions(only []string) []web.LabOption {
	var out []web.LabOption
	for _, l := range s.Catalog.Labs {
		if only == nil || slices.Contains(only, l.ID) {
			out = append(out, web.LabOption{ID: l.ID, Title: l.Title})
		}
	}
	return out
}

func joinURL(r *http.Request, code string) string {
	scheme := "http"
	if clientOf(r).https {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/join/" + code
}

func (s *Server) instructorLogin(w http.ResponseWriter, r *http.Request) {
	csrf := s.csrfToken(w, r)
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, publicError{"This form has expired. Reload the page and try again."})
		return
	}
	now := s.Clock.Now()
	if !s.logins.allow(clientOf(r).addr, now) {
		s.Logger.Warn("instructor login rate-limited", "client", clientOf(r).addr)
		w.Header().Set("Retry-After", "60")
		s.render(w, r, http.StatusTooManyRequests, web.InstructorLogin(web.InstructorLoginView{CSRF: csrf,
			Error: "Too many sign-in attempts from your address. Wait a minute and try again."}))
		return
	}
	token := r.PostFormValue("token")
	if s.InstructorToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.InstructorToken)) != 1 {
		s.Logger.Warn("instructor login refused", "client", clientOf(r).addr)
		s.render(w, r, http.StatusForbidden, web.InstructorLogin(web.InstructorLoginView{CSRF: csrf,
			Error: "That is not the instructor token. It is printed when kindlab serve starts."}))
		return
	}
	session := randomToken(32)
	s.mu.Lock()
	for h, exp := range s.instructors {
		if now.After(exp) {
			delete(s.instructors, h)
		}
	}
	s.instructors[hashToken(session)] = now.Add(instructorSessionAge)
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: instructorCookie, Value: session, Path: "/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteStrictMode, Expires: now.Add(instructorSessionAge)})
	http.Redirect(w, r, "/instructor", http.StatusSeeOther)
}

// instructorLogout ends the instructor's sign-in session on the server and in the
// browser.
func (s *Server) instructorLogout(w http.ResponseWriter, r *http.Request) {
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, publicError{"This form has expired. Reload the page and try again."})
		return
	}
	if c, err := r.Cookie(instructorCookie); err == nil {
		s.mu.Lock()
		delete(s.instructors, hashToken(c.Value))
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: instructorCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/instructor", http.StatusSeeOther)
}

func (s *Server) createWorkshop(w http.ResponseWriter, r *http.Request) {
	if !s.instructor(r) || !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, publicError{"Sign in as an instructor first."})
		return
	}
	r.ParseForm()
	capacity, _ := strconv.Atoi(r.PostFormValue("capacity"))
	minutes, _ := strconv.Atoi(r.PostFormValue("duration"))
	var chosen []string
	for _, id := range r.PostForm["lab"] {
		if _, ok := s.Catalog.Lab(id); ok {
			chosen = append(chosen, id)
		}
	}
	ws, token, err := s.ws.registry.Create(r.Context(), r.PostFormValue("title"), chosen, capacity, time.Duration(minutes)*time.Minute)
	if err != nil {
		msg := "The workshop could not be created."
		if errors.Is(err, workshop.ErrInvalid) {
			msg = "Check the form: " + strings.TrimPrefix(err.Error(), "workshop: ")
		}
		s.render(w, r, http.StatusBadRequest, web.InstructorHome(web.InstructorHomeView{CSRF: s.csrfToken(w, r), Labs: s.labOptions(nil), Error: msg}))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: workshopCookie(ws.ID), Value: token, Path: "/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteStrictMode, Expires: ws.Ends.Add(24 * time.Hour)})
	http.Redirect(w, r, "/w/"+ws.ID, http.StatusSeeOther)
}

// loadWorkshop admits only the instructor of the workshop in the URL.
func (s *Server) loadWorkshop(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "wid")
		c, err := r.Cookie(workshopCookie(id))
		if err != nil || s.ws.registry.Authorize(r.Context(), id, c.Value) != nil {
			s.errorPage(w, r, http.StatusForbidden, publicError{"This dashboard belongs to another instructor, or you are not signed in for it."})
			return
		}
		ws, err := s.Store.Workshops().Workshop(r.Context(), id)
		if err != nil {
			s.errorPage(w, r, http.StatusNotFound, nil)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), workshopKey{}, ws)))
	})
}

type workshopKey struct{}

func workshopOf(r *http.Request) workshop.Workshop {
	return r.Context().Value(workshopKey{}).(workshop.Workshop)
}

func (s *Server) gridView(ctx context.Context, ws workshop.Workshop, csrf string) (web.DashboardGridView, error) {
	g, err := s.grid(ctx, ws)
	if err != nil {
		return web.DashboardGridView{}, err
	}
	snap := g.Snapshot(s.Clock.Now())
	return web.DashboardGridView{WorkshopID: ws.ID, CSRF: csrf, Grid: snap, Steps: len(snap.Steps)}, nil
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	ws := workshopOf(r)
	csrf := s.csrfToken(w, r)
	gv, err := s.gridView(r.Context(), ws, csrf)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	s.render(w, r, http.StatusOK, web.Dashboard(web.DashboardView{CSRF: csrf, WorkshopID: ws.ID, Title: ws.Title, Code: ws.Code,
		JoinURL: joinURL(r, ws.Code), Capacity: ws.Capacity, Ends: ws.Ends, Grid: gv}))
}

// dashboardLive streams the grid (as rendered HTML) and the capacity over a
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
	sub, cancel := s.ws.hub.Subscribe(ws.ID)
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
	send := func() error {
		gv, err := s.gridView(r.Context(), ws, csrf)
		if err != nil {
			return err
		}
		var html strings.Builder
		if err := web.DashboardGrid(gv).Render(r.Context(), &html); err != nil {
			return err
		}
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := conn.WriteJSON(map[string]any{"type": "grid", "html": html.String()}); err != nil {
			return err
		}
		p := s.Pool.Stats()
		return conn.WriteJSON(map[string]any{"type": "capacity", "warm": p.Warm, "claimed": p.Claimed, "creating": p.Creating,
			"queue": p.Queue, "max": p.Max, "memAvailableMiB": memAvailableMiB()})
	}
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
			if !ok {
				return // too slow: the browser reconnects and gets a fresh grid
			}
			time.Sleep(100 * time.Millisecond) // coalesce a burst
		drain:
			for {
				select {
				case _, ok := <-sub.Events():
					if !ok {
						return
					}
				default:
					break drain
				}
			}
		case <-tick.C:
		}
		if send() != nil {
			return
		}
	}
}

// The dashboard websocket's limits: what a browser may send, and how long it may
// stay silent (no pong) before it is dropped.
const (
	dashboardReadLimit = 1024
	dashboardPongWait  = 60 * time.Second
)

func memAvailableMiB() int {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return 0
}

// workshopLearner finds a learner of the workshop in the URL.
func (s *Server) workshopLearner(r *http.Request) (*learner, bool) {
	sid := chi.URLParam(r, "sid")
	s.mu.Lock()
	l, ok := s.learners[sid]
	s.mu.Unlock()
	if !ok || l.session().Workshop != workshopOf(r).ID {
		return nil, false
	}
	return l, true
}

func reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"ok": status < 400, "message": msg})
}

// learnerAction runs an instructor's action on one learner.
func (s *Server) learnerAction(w http.ResponseWriter, r *http.Request) {
	if !checkCSRF(r) {
		reply(w, http.StatusForbidden, "This page has expired; reload it.")
		return
	}
	l, ok := s.workshopLearner(r)
	if !ok {
		reply(w, http.StatusNotFound, "No such learner in this workshop.")
		return
	}
	name := l.session().Name
	switch chi.URLParam(r, "action") {
	case "reset":
		go l.reset(s.ctx)
		reply(w, http.StatusAccepted, "Resetting "+name+"'s cluster.")
	case "extend":
		minutes, err := strconv.Atoi(r.PostFormValue("minutes"))
		if err != nil || minutes < 1 || minutes > 24*60 {
			reply(w, http.StatusBadRequest, "Extend by 1 to 1440 minutes.")
			return
		}
		l.mu.Lock()
		l.sess.Expires = l.sess.Expires.Add(time.Duration(minutes) * time.Minute)
		l.mu.Unlock()
		l.save(r.Context())
		reply(w, http.StatusOK, fmt.Sprintf("%s has %d more minutes.", name, minutes))
	case "fast-forward":
		n, err := strconv.Atoi(r.PostFormValue("step"))
		if err != nil || n < 1 || n > len(l.lab.Steps) {
			reply(w, http.StatusBadRequest, fmt.Sprintf("Pick a step from 1 to %d.", len(l.lab.Steps)))
			return
		}
		go func() {
			if err := l.fastForward(s.ctx, n); err != nil {
				s.Logger.Error("fast-forward", "session", l.sess.ID, "error", err)
			}
		}()
		reply(w, http.StatusAccepted, fmt.Sprintf("Running the solutions of steps 1 to %d for %s.", n-1, name))
	default:
		reply(w, http.StatusNotFound, "Unknown action.")
	}
}

// fastForward runs the solutions of every step before n in the learner's
// workstation, as the learner would type them, then moves them to step n.
func (l *learner) fastForward(ctx context.Context, n int) error {
	conn := l.connection()
	if conn == nil {
		return errors.New("the learner's cluster is not ready")
	}
	sh, err := conn.Shell(ctx)
	if err != nil {
		return err
	}
	defer sh.Close()
	for i := l.session().Step; i < n; i++ {
		for _, cmd := range l.lab.Steps[i-1].Solution {
			if _, code, err := sh.Run(ctx, cmd, 3*time.Minute); err != nil || code != 0 {
				return fmt.Errorf("step %d: %q: exit %d, %v", i, cmd, code, err)
			}
		}
	}
	l.event(ctx, workshop.KindFastForward, n, "") // steps before n count as passed
	l.startStep(n)
	return nil
}

func (s *Server) broadcast(w http.ResponseWriter, r *http.Request) {
	if !checkCSRF(r) {
		reply(w, http.StatusForbidden, "This page has expired; reload it.")
		return
	}
	ws := workshopOf(r)
	text := strings.TrimSpace(r.PostFormValue("text"))
	if text == "" || len(text) > 500 {
		reply(w, http.StatusBadRequest, "Write a message of 1 to 500 characters.")
		return
	}
	n := 0
	s.mu.Lock()
	for _, l := range s.learners {
		if l.session().Workshop == ws.ID {
			l.mu.Lock()
			l.publish(event{"message", map[string]string{"text": text}})
			l.mu.Unlock()
			n++
		}
	}
	s.mu.Unlock()
	s.record(r.Context(), workshop.Event{At: s.Clock.Now(), Workshop: ws.ID, Kind: workshop.KindMessage, Message: text})
	reply(w, http.StatusOK, fmt.Sprintf("Sent to %d learners.", n))
}

func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	ws := workshopOf(r)
	events, err := s.Store.WorkshopEvents(r.Context(), ws.ID)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	format := chi.URLParam(r, "format")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="workshop-%s.%s"`, ws.Code, format))
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		err = workshop.WriteCSV(w, events)
	case "json":
		w.Header().Set("Content-Type", "application/json")
		err = workshop.WriteJSON(w, events)
	default:
		s.errorPage(w, r, http.StatusNotFound, nil)
		return
	}
	if err != nil {
		s.Logger.Error("export", "workshop", ws.ID, "error", err)
	}
}

// watch is the read-only terminal page of one learner.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	l, ok := s.workshopLearner(r)
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, nil)
		return
	}
	ws := workshopOf(r)
	s.render(w, r, http.StatusOK, web.Watch(web.WatchView{WorkshopID: ws.ID, Session: l.session().ID, Name: l.session().Name,
		WSURL: "/w/" + ws.ID + "/watch/" + l.session().ID + "/terminal"}))
}

// watchTerminal is the learner's terminal websocket, read-only, for their instructor.
func (s *Server) watchTerminal() http.Handler {
	h := &terminal.Handler{Logger: s.Logger, Authorize: func(r *http.Request, _ terminal.Hello) (*terminal.Session, bool, error) {
		l, ok := s.workshopLearner(r)
		if !ok {
			return nil, true, errors.New("no such learner")
		}
		t, err := l.terminal(s.ctx)
		return t, true, err
	}}
	return h
}

func (s *Server) joinPage(w http.ResponseWriter, r *http.Request) {
	ws, err := s.ws.registry.ByCode(r.Context(), chi.URLParam(r, "code"))
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, publicError{"There is no workshop with that code. Check the link with your instructor."})
		return
	}
	s.render(w, r, http.StatusOK, web.Join(web.JoinView{CSRF: s.csrfToken(w, r), Code: ws.Code, WorkshopTitle: ws.Title, Labs: s.labOptions(ws.Labs)}))
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	code := chi.URLParam(r, "code")
	ws, err := s.ws.registry.ByCode(r.Context(), code)
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, publicError{"There is no workshop with that code. Check the link with your instructor."})
		return
	}
	name := r.PostFormValue("name")
	fail := func(status int, msg string) {
		s.render(w, r, status, web.Join(web.JoinView{CSRF: s.csrfToken(w, r), Code: ws.Code, WorkshopTitle: ws.Title,
			Labs: s.labOptions(ws.Labs), Name: name, Error: msg}))
	}
	if !checkCSRF(r) {
		fail(http.StatusForbidden, "This form has expired. Reload the page and join again.")
		return
	}
	lr, err := s.ws.registry.Join(r.Context(), code, name)
	switch {
	case errors.Is(err, workshop.ErrFull):
		fail(http.StatusConflict, "This workshop is full. Ask your instructor for room.")
		return
	case errors.Is(err, workshop.ErrEnded):
		fail(http.StatusGone, "This workshop has ended.")
		return
	case errors.Is(err, workshop.ErrNameTaken):
		fail(http.StatusConflict, "Someone in this workshop already uses that name. Pick another.")
		return
	case errors.Is(err, workshop.ErrBadName):
		fail(http.StatusBadRequest, "Use a name of 1 to 40 letters, digits or spaces.")
		return
	case err != nil:
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	labID := lr.Lab
	if pick := r.PostFormValue("lab"); slices.Contains(ws.Labs, pick) {
		labID = pick
	}
	lab, _ := s.Catalog.Lab(labID)
	l, token, err := s.startSession(r.Context(), clientOf(r).addr, lab, ws.ID, lr.Name, lr.SessionID)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	s.enterSession(w, r, l, token)
}
