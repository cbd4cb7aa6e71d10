package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/web"
)

func (s *Server) catalog(w http.ResponseWriter, r *http.Request) {
	v := web.CatalogView{CSRF: s.csrfToken(w, r)}
	for _, l := range s.Catalog.Labs {
		v.Labs = append(v.Labs, web.CardFromLab(*l))
	}
	s.render(w, r, http.StatusOK, web.Catalog(v))
}

// Refusals in words for the learner.
var (
	errTooManySessions = publicError{"You already have as many labs running as one person may. Finish one (or let it expire), or use the lab you started: its address is in your browser's history."}
	errTooFast         = publicError{"You are starting or resetting labs faster than kindlab allows. Wait a minute and try again."}
	errFormExpired     = publicError{"This form has expired. Reload the page and try again."}
)

// start creates a session for a lab and sends the browser to its progress view.
func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	lab, ok := s.Catalog.Lab(chi.URLParam(r, "lab"))
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, publicError{"There is no such lab."})
		return
	}
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, publicError{"This form has expired. Go back to the labs, reload the page and press Start again."})
		return
	}
	client := clientOf(r).addr
	if err := s.admit(client); err != nil {
		s.errorPage(w, r, http.StatusTooManyRequests, err)
		return
	}
	warm := s.Pool.Stats().Warm > 0
	l, token, err := s.sessions.Start(r.Context(), client, lab, "", "", "")
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	s.metrics.sessionsStarted.Add(1)
	if warm {
		awaitReady(r.Context(), l, warmStartWait)
	}
	s.enterSession(w, r, l, token)
}

// warmStartWait is how long a start with a warm cluster in the pool waits for
// the learner's session to be ready before it answers. A warm claim takes a few
// hundred milliseconds; waiting for it sends the browser straight to the lab page
// and its terminal, not to the progress page and a reload once it is ready.
const warmStartWait = 2 * time.Second

// awaitReady waits until l is ready, failed or queued, or limit has passed.
func awaitReady(ctx context.Context, l *session.Learner, limit time.Duration) {
	events, unsubscribe := l.Subscribe()
	defer unsubscribe()
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	for {
		select {
		case e := <-events:
			if p, ok := e.Data.(session.Progress); ok && (p.Done || p.Error != "" || p.Queue > 0) {
				return
			}
		case <-timeout.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// admit applies the per-client limits to a new session from client.
func (s *Server) admit(client string) error {
	if !s.starts.allow(client, s.Clock.Now()) {
		s.Logger.Warn("start rate-limited", "client", client)
		return errTooFast
	}
	if n := s.sessions.Running(client); n >= s.Limits.SessionsPerClient {
		s.Logger.Warn("start refused: sessions per client", "client", client, "live", n)
		return errTooManySessions
	}
	return nil
}

// enterSession gives the browser the session's cookie, scoped to the session's
// path, and sends it there.
func (s *Server) enterSession(w http.ResponseWriter, r *http.Request, l *session.Learner, token string) {
	sess := l.Session()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie(sess.ID), Value: token, Path: web.SessionURL(sess.ID), HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteLaxMode, Expires: sess.Expires})
	http.Redirect(w, r, web.SessionURL(sess.ID), http.StatusSeeOther)
}

// labPage shows the progress view while the cluster comes, then the current step.
func (s *Server) labPage(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	l.Active()
	sess := l.Session()
	lab := l.Lab()
	csrf := s.csrfToken(w, r)
	if sess.State != store.StateReady {
		p := l.Progress()
		s.render(w, r, http.StatusOK, web.Progress(web.ProgressView{
			SessionID: sess.ID, CSRF: csrf, LabID: lab.ID, LabTitle: lab.Title,
			Stages: progressStages(session.Stages), Stage: progressStage(p.Stage), Queue: p.Queue, Error: p.Error, Step: sess.Step,
		}))
		return
	}
	n := sess.Step
	var results []web.CheckResult
	if checks := l.Checks(); checks.Step == n {
		for _, c := range checks.Results {
			results = append(results, web.CheckResult{ID: c.ID, Status: c.Status, Message: c.Message})
		}
	}
	step := lab.Steps[n-1]
	sv, err := web.NewStepView(n, step, results)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	s.render(w, r, http.StatusOK, web.LabPage(web.LabPageView{
		SessionID: sess.ID, CSRF: csrf, LabID: lab.ID, LabTitle: lab.Title,
		Steps: web.StepLinks(*lab, s.passedSteps(r.Context(), l)), Step: sv, TerminalToken: sess.TermToken,
		AppLinks: appLinks(sess.ID, lab, step),
	}))
}

// step makes the posted step current and shows it.
func (s *Server) step(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, errFormExpired)
		return
	}
	n, err := strconv.Atoi(r.PostFormValue("step"))
	if err != nil || n < 1 || n > len(l.Lab().Steps) {
		s.errorPage(w, r, http.StatusBadRequest, publicError{fmt.Sprintf("Pick a step from 1 to %d.", len(l.Lab().Steps))})
		return
	}
	l.Active()
	l.GoTo(n)
	http.Redirect(w, r, web.SessionURL(l.ID()), http.StatusSeeOther)
}

// passedSteps reads which steps have passed; a store failure shows none passed.
func (s *Server) passedSteps(ctx context.Context, l *session.Learner) []bool {
	passed, err := l.PassedSteps(ctx)
	if err != nil {
		s.Logger.Error("read progress", "session", l.ID(), "error", err)
	}
	return passed
}

// appLinks offers a link for each app the lab declares for step.
func appLinks(sid string, lab *labs.Lab, step labs.Step) []web.AppLink {
	var out []web.AppLink
	for _, app := range lab.AppsOf(step) {
		label := app.Label
		if label == "" {
			label = "the " + app.Service + " app"
		}
		out = append(out, web.AppLink{Name: app.Service, Label: label, URL: web.AppURL(sid, app.Service)})
	}
	return out
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	sess := l.Session()
	passed := s.passedSteps(r.Context(), l)
	n := 0
	for _, p := range passed {
		if p {
			n++
		}
	}
	s.render(w, r, http.StatusOK, web.Complete(web.CompleteView{
		SessionID: sess.ID, CSRF: s.csrfToken(w, r), LabTitle: l.Lab().Title, TimeTaken: s.Clock.Now().Sub(sess.Created),
		StepsPassed: n, Steps: web.StepLinks(*l.Lab(), passed),
	}))
}

// end ends the learner's session when they are done: their cluster goes back to
// the pool at once, not when the session would have sat idle long enough.
func (s *Server) end(w http.ResponseWriter, r *http.Request) {
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, errFormExpired)
		return
	}
	s.sessions.End(r.Context(), learnerOf(r).Session().ID)
	http.Redirect(w, r, web.CatalogURL, http.StatusSeeOther)
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, errFormExpired)
		return
	}
	if !s.starts.allow(clientOf(r).addr, s.Clock.Now()) {
		s.errorPage(w, r, http.StatusTooManyRequests, errTooFast)
		return
	}
	if r.PostFormValue("keep") == "steps" {
		go l.RestartStep(s.ctx)
	} else {
		go l.Reset(s.ctx)
	}
	http.Redirect(w, r, web.SessionURL(l.ID()), http.StatusSeeOther)
}

// events streams the learner's events as Server-Sent Events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	ch, unsubscribe := l.Subscribe()
	defer unsubscribe()
	keepalive := time.NewTicker(20 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			l.Touch()
		case e := <-ch:
			data, err := json.Marshal(e.Data)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Name, data)
		}
		flusher.Flush()
	}
}

// progressStage is a provisioning stage as the progress view shows it.
func progressStage(s session.Stage) web.ProgressStage {
	return web.ProgressStage{ID: string(s), Label: s.Label()}
}

// progressStages are provisioning stages as the progress view shows them.
func progressStages(stages []session.Stage) []web.ProgressStage {
	out := make([]web.ProgressStage, len(stages))
	for i, s := range stages {
		out[i] = progressStage(s)
	}
	return out
}
