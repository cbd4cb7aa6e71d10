package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kindlab/kindlab/server/activity"
)

// ErrConflict is returned when a workshop's ID or join code, or a seat's
// name, is taken.
var ErrConflict = errors.New("store: conflict")

// Workshop is one run of a workshop, led by one instructor (package
// workshop's Registry runs them).
type Workshop struct {
	ID       string
	Title    string
	Code     string // join code, CodeLen characters of CodeAlphabet
	Labs     []string
	Capacity int
	Duration time.Duration
	Created  time.Time
	Ends     time.Time
	// InstructorTokenHash is the hex SHA-256 of the instructor token. The
	// token itself is returned once by Create and never stored.
	InstructorTokenHash string
}

// WorkshopLearner is one seat in a workshop.
type WorkshopLearner struct {
	WorkshopID string
	SessionID  string
	Name       string
	Lab        string
	Joined     time.Time
}

// Workshops is the store's side of workshop.Store.
type Workshops struct{ s *Store }

// Workshops returns the workshop store over the same database.
func (s *Store) Workshops() Workshops { return Workshops{s} }

// CreateWorkshop implements workshop.Store.
func (w Workshops) CreateWorkshop(ctx context.Context, x Workshop) error {
	_, err := w.s.exec(ctx, `INSERT INTO workshops (id, title, code, labs, capacity, duration, created, ends, token_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		x.ID, x.Title, x.Code, strings.Join(x.Labs, ","), x.Capacity, int64(x.Duration), x.Created.UnixMilli(), x.Ends.UnixMilli(), x.InstructorTokenHash)
	if w.s.d.unique(err) {
		return ErrConflict
	}
	return err
}

func (w Workshops) one(ctx context.Context, where string, arg string) (Workshop, error) {
	var x Workshop
	var labs string
	var dur, created, ends int64
	err := w.s.queryRow(ctx, `SELECT id, title, code, labs, capacity, duration, created, ends, token_hash FROM workshops WHERE `+where+` = ?`, arg).
		Scan(&x.ID, &x.Title, &x.Code, &labs, &x.Capacity, &dur, &created, &ends, &x.InstructorTokenHash)
	if errors.Is(err, sql.ErrNoRows) {
		return x, ErrNotFound
	}
	x.Labs, x.Duration = strings.Split(labs, ","), time.Duration(dur)
	x.Created, x.Ends = time.UnixMilli(created), time.UnixMilli(ends)
	return x, err
}

// Workshop implements workshop.Store.
func (w Workshops) Workshop(ctx context.Context, id string) (Workshop, error) {
	return w.one(ctx, "id", id)
}

// WorkshopByCode implements workshop.Store.
func (w Workshops) WorkshopByCode(ctx context.Context, code string) (Workshop, error) {
	return w.one(ctx, "code", code)
}

// Learners implements workshop.Store.
func (w Workshops) Learners(ctx context.Context, workshopID string) ([]WorkshopLearner, error) {
	rows, err := w.s.query(ctx, `SELECT workshop, session, name, lab, joined FROM workshop_learners WHERE workshop = ? ORDER BY joined`, workshopID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WorkshopLearner
	for rows.Next() {
		var l WorkshopLearner
		var joined int64
		if err := rows.Scan(&l.WorkshopID, &l.SessionID, &l.Name, &l.Lab, &joined); err != nil {
			return nil, err
		}
		l.Joined = time.UnixMilli(joined)
		out = append(out, l)
	}
	return out, rows.Err()
}

// AddLearner implements workshop.Store.
func (w Workshops) AddLearner(ctx context.Context, l WorkshopLearner) error {
	_, err := w.s.exec(ctx, `INSERT INTO workshop_learners (workshop, session, name, lab, joined) VALUES (?, ?, ?, ?, ?)`,
		l.WorkshopID, l.SessionID, l.Name, l.Lab, l.Joined.UnixMilli())
	if err != nil {
		return fmt.Errorf("add learner: %w", err)
	}
	return nil
}

// WorkshopEvents returns the events of a workshop's learners in order, as the
// instructor's export shows them.
func (s *Store) WorkshopEvents(ctx context.Context, workshopID string) ([]activity.Event, error) {
	return s.workshopEvents(ctx, `e.workshop = ? ORDER BY e.at, e.id`, workshopID)
}

// WorkshopEventsAfter returns the workshop events after event number after
// that another replica than origin recorded, in the order they were stored,
// at most limit of them: what this replica's dashboards have not seen. Event
// numbers are given as rows are inserted, and on PostgreSQL a write may commit
// a lower number after a higher one was read: a reader that must see every
// event reads again from a little before the last number it saw and drops
// those it has.
func (s *Store) WorkshopEventsAfter(ctx context.Context, after int64, origin string, limit int) ([]activity.Event, error) {
	return s.workshopEvents(ctx, `e.id > ? AND e.origin <> ? AND e.workshop <> '' ORDER BY e.id LIMIT ?`, after, origin, limit)
}

func (s *Store) workshopEvents(ctx context.Context, where string, args ...any) ([]activity.Event, error) {
	rows, err := s.query(ctx, `SELECT e.id, e.at, e.workshop, e.session, e.kind, e.step, e.check_id, e.status, e.message, COALESCE(l.name, ''), COALESCE(x.lab, '')
		FROM events e LEFT JOIN workshop_learners l ON l.session = e.session LEFT JOIN sessions x ON x.id = e.session
		WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []activity.Event
	for rows.Next() {
		var e activity.Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Workshop, &e.Session, &e.Kind, &e.Step, &e.CheckID, &e.Status, &e.Message, &e.Name, &e.Lab); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
