// Package store keeps kindlab's state in SQLite (embedded, the default) or
// PostgreSQL (for replicas that share it): learner sessions, their progress
// through a lab, the commands they ran, the event log instructors export, and workshops with their
// learners (Workshops, the workshop.Store of package workshop). Every write is one statement
// or one transaction, so a server killed mid-session loses nothing it acknowledged.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/kindlab/kindlab/server/activity"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("store: not found")

// Store is kindlab's state in SQLite or PostgreSQL.
type Store struct {
	db *sql.DB
	d  dialect
}

// Open opens the store at where, creating and migrating it as needed: a
// postgres:// (or postgresql://) URL is a PostgreSQL database, anything else a
// SQLite file (":memory:" for tests).
func Open(ctx context.Context, where string) (*Store, error) {
	s, err := open(where)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, s.db, s.d); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open store %s: %w", Redact(where), err)
	}
	return s, nil
}

// IsPostgres tells whether where names a PostgreSQL database.
func IsPostgres(where string) bool {
	return strings.HasPrefix(where, "postgres://") || strings.HasPrefix(where, "postgresql://")
}

func open(where string) (*Store, error) {
	if IsPostgres(where) {
		cfg, err := pgx.ParseConfig(where)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", Redact(where), err)
		}
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(4)
		db.SetConnMaxIdleTime(time.Minute)
		return &Store{db: db, d: postgres}, nil
	}
	dsn := "file:" + where + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	if where == ":memory:" {
		dsn = "file::memory:?_pragma=foreign_keys(1)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	db.SetMaxOpenConns(1) // SQLite writes one at a time; one connection keeps :memory: whole
	return &Store{db: db, d: sqlite}, nil
}

// Redact hides a database URL's password, for logs and messages: a URL that
// does not parse loses everything between its scheme and its last @.
func Redact(where string) string {
	u, err := url.Parse(where)
	if err == nil {
		if u.User == nil {
			return where
		}
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(where, "://")
	if at := strings.LastIndex(rest, "@"); ok && at >= 0 {
		return scheme + "://xxxxx" + rest[at:]
	}
	return where
}

// Backend names the database: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name }

func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, s.d.bind(query), args...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.db.QueryContext(ctx, s.d.bind(query), args...)
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, s.d.bind(query), args...)
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// State is where a session is in its life.
type State string

// Session states. A session is provisioning until its cluster and terminal are
// ready; a failed one offers Try again (a reset); an expired one is over.
const (
	StateProvisioning State = "provisioning"
	StateReady        State = "ready"
	StateFailed       State = "failed"
	StateExpired      State = "expired"
)

// Session is a learner's session.
type Session struct {
	ID        string
	TokenHash string // sha256 of the cookie token, hex
	TermToken string // the terminal websocket's hello token
	Lab       string
	Cluster   string // full cluster name, empty while provisioning
	Step      int    // current step, 1-based
	State     State
	Created   time.Time
	LastSeen  time.Time
	Expires   time.Time // absolute expiry
	Workshop  string
	Name      string // display name
	Owner     string // the kindlab replica that runs it (ClaimSession moves it)
	Client    string // the address that started it (per-client limits)
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, x Session) error {
	_, err := s.exec(ctx, `INSERT INTO sessions (id, token_hash, term_token, lab, cluster, step, state, created, last_seen, expires, workshop, name, owner, client)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		x.ID, x.TokenHash, x.TermToken, x.Lab, x.Cluster, x.Step, x.State, x.Created.UnixMilli(), x.LastSeen.UnixMilli(), x.Expires.UnixMilli(), x.Workshop, x.Name, x.Owner, x.Client)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

const sessionCols = `id, token_hash, term_token, lab, cluster, step, state, created, last_seen, expires, workshop, name, owner, client`

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var x Session
	var created, seen, expires int64
	err := row.Scan(&x.ID, &x.TokenHash, &x.TermToken, &x.Lab, &x.Cluster, &x.Step, &x.State, &created, &seen, &expires, &x.Workshop, &x.Name, &x.Owner, &x.Client)
	x.Created, x.LastSeen, x.Expires = time.UnixMilli(created), time.UnixMilli(seen), time.UnixMilli(expires)
	return x, err
}

// Session returns a session by id.
func (s *Store) Session(ctx context.Context, id string) (Session, error) {
	x, err := scanSession(s.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return x, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	return x, err
}

// Sessions returns the sessions in a state ("" for all), oldest first.
func (s *Store) Sessions(ctx context.Context, state State) ([]Session, error) {
	rows, err := s.query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE ? = '' OR state = ? ORDER BY created`, state, state)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		x, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// UpdateSession sets the mutable fields of a session.
func (s *Store) UpdateSession(ctx context.Context, x Session) error {
	res, err := s.exec(ctx, `UPDATE sessions SET cluster = ?, step = ?, state = ?, last_seen = ?, expires = ? WHERE id = ?`,
		x.Cluster, x.Step, x.State, x.LastSeen.UnixMilli(), x.Expires.UnixMilli(), x.ID)
	if err != nil {
		return fmt.Errorf("update session %s: %w", x.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update session %s: %w", x.ID, ErrNotFound)
	}
	return nil
}

// StepStarted records that a learner opened a step (the first time counts).
func (s *Store) StepStarted(ctx context.Context, session string, step int, at time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO progress (session, step, started) VALUES (?, ?, ?)
		ON CONFLICT (session, step) DO UPDATE SET started = CASE WHEN progress.started = 0 THEN excluded.started ELSE progress.started END`,
		session, step, at.UnixMilli())
	return err
}

// StepPassed records that all checks of a step passed (the first time counts).
func (s *Store) StepPassed(ctx context.Context, session string, step int, at time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO progress (session, step, started, passed) VALUES (?, ?, ?, ?)
		ON CONFLICT (session, step) DO UPDATE SET passed = CASE WHEN progress.passed = 0 THEN excluded.passed ELSE progress.passed END`,
		session, step, at.UnixMilli(), at.UnixMilli())
	return err
}

// Progress is a session's record of one step.
type Progress struct {
	Step    int
	Started time.Time // zero if never opened
	Passed  time.Time // zero if not passed
}

// Progress returns a session's progress by step.
func (s *Store) Progress(ctx context.Context, session string) (map[int]Progress, error) {
	rows, err := s.query(ctx, `SELECT step, started, passed FROM progress WHERE session = ?`, session)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]Progress{}
	for rows.Next() {
		var p Progress
		var started, passed int64
		if err := rows.Scan(&p.Step, &started, &passed); err != nil {
			return nil, err
		}
		if started > 0 {
			p.Started = time.UnixMilli(started)
		}
		if passed > 0 {
			p.Passed = time.UnixMilli(passed)
		}
		out[p.Step] = p
	}
	return out, rows.Err()
}

// Event is one entry of the event log.
type Event struct {
	ID      int64
	At      time.Time
	Session string
	Kind    activity.Kind
	Step    int
	Detail  string
	// For workshop learners' events: the workshop and a check result.
	Workshop, CheckID, Status, Message string
	Origin                             string // the replica that recorded it
}

// AddEvent appends to the event log.
func (s *Store) AddEvent(ctx context.Context, e Event) error {
	_, err := s.exec(ctx, `INSERT INTO events (at, session, kind, step, detail, workshop, check_id, status, message, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.At.UnixMilli(), e.Session, e.Kind, e.Step, e.Detail, e.Workshop, e.CheckID, e.Status, e.Message, e.Origin)
	return err
}

// Events returns a session's events in order.
func (s *Store) Events(ctx context.Context, session string) ([]Event, error) {
	rows, err := s.query(ctx, `SELECT id, at, session, kind, step, detail, origin FROM events WHERE session = ? ORDER BY at, id`, session)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Session, &e.Kind, &e.Step, &e.Detail, &e.Origin); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Command is one command line the learner ran in their terminal, as kindlab
// believed it (see shellmark.Tracker): on which step, when it ended, the line
// and its exit code.
type Command struct {
	Session string
	Step    int
	At      time.Time
	Line    string
	Exit    int
}

// AddCommand records a command the learner ran.
func (s *Store) AddCommand(ctx context.Context, c Command) error {
	_, err := s.exec(ctx, `INSERT INTO commands (session, step, at, line, exit) VALUES (?, ?, ?, ?, ?)`,
		c.Session, c.Step, c.At.UnixMilli(), c.Line, c.Exit)
	if err != nil {
		return fmt.Errorf("add command: %w", err)
	}
	return nil
}

// Commands returns the commands a session ran on a step, in order.
func (s *Store) Commands(ctx context.Context, session string, step int) ([]Command, error) {
	rows, err := s.query(ctx, `SELECT step, at, line, exit FROM commands WHERE session = ? AND step = ? ORDER BY id`, session, step)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Command
	for rows.Next() {
		c := Command{Session: session}
		var at int64
		if err := rows.Scan(&c.Step, &at, &c.Line, &c.Exit); err != nil {
			return nil, err
		}
		c.At = time.UnixMilli(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// terminalRows bounds the rows of output kept per session: the oldest go as
// new ones come (a row is what a second of output added).
const terminalRows = 600

// AddTerminalOutput appends what a learner's terminal wrote since the last
// call, so that the output outlives kindlab (a restart, another replica).
func (s *Store) AddTerminalOutput(ctx context.Context, session string, data []byte) error {
	if _, err := s.exec(ctx, `INSERT INTO terminal_output (session, data) VALUES (?, ?)`, session, data); err != nil {
		return fmt.Errorf("add terminal output: %w", err)
	}
	_, err := s.exec(ctx, `DELETE FROM terminal_output WHERE session = ? AND id <=
		(SELECT id FROM terminal_output WHERE session = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`, session, session, terminalRows)
	return err
}

// DeleteTerminalOutput forgets a session's terminal output (it ended).
func (s *Store) DeleteTerminalOutput(ctx context.Context, session string) error {
	_, err := s.exec(ctx, `DELETE FROM terminal_output WHERE session = ?`, session)
	return err
}

// TerminalOutput returns the newest output of a session's terminal, at most
// max bytes of it, oldest first.
func (s *Store) TerminalOutput(ctx context.Context, session string, max int) ([]byte, error) {
	rows, err := s.query(ctx, `SELECT data FROM terminal_output WHERE session = ? ORDER BY id DESC`, session)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var newestFirst [][]byte
	total := 0
	for total < max && rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		newestFirst = append(newestFirst, data)
		total += len(data)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]byte, 0, total)
	for i := len(newestFirst) - 1; i >= 0; i-- {
		out = append(out, newestFirst[i]...)
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out, nil
}
