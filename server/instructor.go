package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/terminal"
	"github.com/kindlab/kindlab/server/workshop"
	"github.com/kindlab/kindlab/web"
)

// instructorSessionAge is how long an instructor stays signed in.
const instructorSessionAge = 12 * time.Hour

// instructor reports whether the request carries a live instructor sign-in session:
// an opaque random token whose hash the store keeps (never the instructor
// token), so that every replica knows it.
func (s *Server) instructor(r *http.Request) bool {
	c, err := r.Cookie(instructorCookie)
	if err != nil || s.InstructorToken == "" {
		return false
	}
	ok, err := s.Store.SignedIn(r.Context(), session.HashToken(c.Value), s.Clock.Now())
	if err != nil {
		s.Logger.Error("instructor sign-in: the store did not answer", "error", err)
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
		id, ok := workshopOfCookie(c)
		if !ok || s.board.Registry.Authorize(r.Context(), id, c.Value) != nil {
			continue
		}
		ws, err := s.Store.Workshops().Workshop(r.Context(), id)
		if err != nil {
			continue
		}
		learners, _ := s.Store.Workshops().Learners(r.Context(), id)
		v.Workshops = append(v.Workshops, web.WorkshopSummary{ID: ws.ID, Title: ws.Title, Code: ws.Code, JoinURL: s.absolute(r, web.JoinURL(ws.Code)),
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

// absolute makes a path of kindlab's an absolute URL on the host the request came to.
func (s *Server) absolute(r *http.Request, path string) string {
	scheme := "http"
	if clientOf(r).https {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

func (s *Server) instructorLogin(w http.ResponseWriter, r *http.Request) {
	csrf := s.csrfToken(w, r)
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, errFormExpired)
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
	signIn := session.RandomToken(32)
	if err := s.Store.AddSignIn(r.Context(), session.HashToken(signIn), now.Add(instructorSessionAge)); err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: instructorCookie, Value: signIn, Path: "/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteStrictMode, Expires: now.Add(instructorSessionAge)})
	http.Redirect(w, r, web.InstructorURL, http.StatusSeeOther)
}

// instructorLogout ends the instructor's sign-in session on the server and in the
// browser.
func (s *Server) instructorLogout(w http.ResponseWriter, r *http.Request) {
	if !checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, errFormExpired)
		return
	}
	if c, err := r.Cookie(instructorCookie); err == nil {
		if err := s.Store.SignOut(r.Context(), session.HashToken(c.Value)); err != nil {
			s.errorPage(w, r, http.StatusServiceUnavailable, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: instructorCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, web.InstructorURL, http.StatusSeeOther)
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
	ws, token, err := s.board.Registry.Create(r.Context(), r.PostFormValue("title"), chosen, capacity, time.Duration(minutes)*time.Minute)
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
	http.Redirect(w, r, web.DashboardURL(ws.ID), http.StatusSeeOther)
}

// loadWorkshop admits only the instructor of the workshop in the URL.
func (s *Server) loadWorkshop(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "wid")
		c, err := r.Cookie(workshopCookie(id))
		if err != nil || s.board.Registry.Authorize(r.Context(), id, c.Value) != nil {
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

func workshopOf(r *http.Request) store.Workshop {
	return r.Context().Value(workshopKey{}).(store.Workshop)
}

// workshopLearner finds a learner of the workshop in the URL.
func (s *Server) workshopLearner(r *http.Request) (*session.Learner, bool) {
	l, ok := s.sessions.Get(chi.URLParam(r, "sid"))
	if !ok || l.Session().Workshop != workshopOf(r).ID {
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
	name := l.Session().Name
	switch chi.URLParam(r, "action") {
	case "reset":
		go l.Reset(s.ctx)
		reply(w, http.StatusAccepted, "Resetting "+name+"'s cluster.")
	case "extend":
		minutes, err := strconv.Atoi(r.PostFormValue("minutes"))
		if err != nil || minutes < 1 || minutes > 24*60 {
			reply(w, http.StatusBadRequest, "Extend by 1 to 1440 minutes.")
			return
		}
		l.Extend(r.Context(), time.Duration(minutes)*time.Minute)
		reply(w, http.StatusOK, fmt.Sprintf("%s has %d more minutes.", name, minutes))
	case "fast-forward":
		n, err := strconv.Atoi(r.PostFormValue("step"))
		if err != nil || n < 1 || n > len(l.Lab().Steps) {
			reply(w, http.StatusBadRequest, fmt.Sprintf("Pick a step from 1 to %d.", len(l.Lab().Steps)))
			return
		}
		go func() {
			if err := l.FastForward(s.ctx, n); err != nil {
				s.Logger.Error("fast-forward", "session", l.ID(), "error", err)
			}
		}()
		reply(w, http.StatusAccepted, fmt.Sprintf("Clicking the Run buttons of steps 1 to %d for %s.", n-1, name))
	default:
		reply(w, http.StatusNotFound, "Unknown action.")
	}
}

func (s *Server) broadcast(w http.ResponseWriter, r *http.Request) {
	if !checkCSRF(r) {
		reply(w, http.StatusForbidden, "This page has expired; reload it.")
		return
	}
	ws := workshopOf(r)
	text, err := workshop.Message(r.PostFormValue("text"))
	if err != nil {
		reply(w, http.StatusBadRequest, fmt.Sprintf("Write a message of 1 to %d characters.", workshop.MaxBroadcastLen))
		return
	}
	told := s.sessions.TellWorkshop(ws.ID, text)
	s.sessions.Record(r.Context(), activity.Event{At: s.Clock.Now(), Workshop: ws.ID, Kind: activity.KindMessage, Message: text})
	if s.shared {
		// The other replicas tell theirs as they read the event.
		reply(w, http.StatusOK, fmt.Sprintf("Sent to %d learners here and to the learners of the other kindlab replicas.", told))
		return
	}
	reply(w, http.StatusOK, fmt.Sprintf("Sent to %d learners.", told))
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
	s.render(w, r, http.StatusOK, web.Watch(web.WatchView{WorkshopID: ws.ID, Session: l.ID(), Name: l.Session().Name,
		WSURL: web.WatchTerminalURL(ws.ID, l.ID())}))
}

// watchTerminal is the learner's terminal websocket, read-only, for their instructor.
func (s *Server) watchTerminal() http.Handler {
	h := &terminal.Handler{Logger: s.Logger, Authorize: func(r *http.Request, _ terminal.Hello) (*terminal.Session, bool, error) {
		l, ok := s.workshopLearner(r)
		if !ok {
			return nil, true, errors.New("no such learner")
		}
		t, err := s.learnerTerminal(r.Context(), l)
		return t, true, err
	}}
	return h
}

func (s *Server) joinPage(w http.ResponseWriter, r *http.Request) {
	ws, err := s.board.Registry.ByCode(r.Context(), chi.URLParam(r, "code"))
	if err != nil {
		s.errorPage(w, r, http.StatusNotFound, publicError{"There is no workshop with that code. Check the link with your instructor."})
		return
	}
	s.render(w, r, http.StatusOK, web.Join(web.JoinView{CSRF: s.csrfToken(w, r), Code: ws.Code, WorkshopTitle: ws.Title, Labs: s.labOptions(ws.Labs)}))
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	code := chi.URLParam(r, "code")
	ws, err := s.board.Registry.ByCode(r.Context(), code)
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
	lr, err := s.board.Registry.Join(r.Context(), code, name)
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
	l, token, err := s.sessions.Start(r.Context(), clientOf(r).addr, lab, ws.ID, lr.Name, lr.SessionID)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	s.metrics.sessionsStarted.Add(1)
	s.enterSession(w, r, l, token)
}
