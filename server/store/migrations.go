package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations is kindlab's schema, one step per version, for both databases:
// the SQL both understand, with {{serial}} for a self-numbered id and {{blob}}
// for bytes. A new
// version is appended; a released one is never edited. Times are Unix
// milliseconds (BIGINT).
//
// Version 1 is the schema from before versions were kept: its IF NOT EXISTS
// makes it a no-op on a database an earlier kindlab made.
var migrations = []string{
	1: `
CREATE TABLE IF NOT EXISTS sessions (
	id          TEXT PRIMARY KEY,
	token_hash  TEXT NOT NULL,
	term_token  TEXT NOT NULL,
	lab         TEXT NOT NULL,
	cluster     TEXT NOT NULL DEFAULT '',
	step        INTEGER NOT NULL DEFAULT 1,
	state       TEXT NOT NULL DEFAULT 'provisioning',
	created     BIGINT NOT NULL,
	last_seen   BIGINT NOT NULL,
	expires     BIGINT NOT NULL,
	workshop    TEXT NOT NULL DEFAULT '',
	name        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS progress (
	session TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
	step    INTEGER NOT NULL,
	started BIGINT NOT NULL DEFAULT 0,
	passed  BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (session, step)
);
CREATE TABLE IF NOT EXISTS events (
	id       {{serial}},
	at       BIGINT NOT NULL,
	session  TEXT NOT NULL,
	kind     TEXT NOT NULL,
	step     INTEGER NOT NULL DEFAULT 0,
	detail   TEXT NOT NULL DEFAULT '',
	workshop TEXT NOT NULL DEFAULT '',
	check_id TEXT NOT NULL DEFAULT '',
	status   TEXT NOT NULL DEFAULT '',
	message  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS commands (
	id      {{serial}},
	session TEXT NOT NULL,
	step    INTEGER NOT NULL,
	at      BIGINT NOT NULL,
	line    TEXT NOT NULL DEFAULT '',
	exit    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_session ON commands(session, step, id);
CREATE INDEX IF NOT EXISTS events_workshop ON events(workshop, at);
CREATE INDEX IF NOT EXISTS events_session ON events(session, at);
CREATE TABLE IF NOT EXISTS workshops (
	id         TEXT PRIMARY KEY,
	title      TEXT NOT NULL,
	code       TEXT NOT NULL UNIQUE,
	labs       TEXT NOT NULL,
	capacity   INTEGER NOT NULL,
	duration   BIGINT NOT NULL,
	created    BIGINT NOT NULL,
	ends       BIGINT NOT NULL,
	token_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workshop_learners (
	workshop TEXT NOT NULL REFERENCES workshops(id) ON DELETE CASCADE,
	session  TEXT NOT NULL PRIMARY KEY,
	name     TEXT NOT NULL,
	lab      TEXT NOT NULL,
	joined   BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS workshop_learners_by_workshop ON workshop_learners(workshop, joined);
`,
	2: `
CREATE TABLE terminal_output (
	id      {{serial}},
	session TEXT NOT NULL,
	data    {{blob}} NOT NULL
);
CREATE INDEX terminal_output_session ON terminal_output(session, id);
`,
	3: `
CREATE TABLE replicas (
	id   TEXT PRIMARY KEY,
	url  TEXT NOT NULL,
	seen BIGINT NOT NULL
);
ALTER TABLE sessions ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT '';
CREATE TABLE instructor_sign_ins (
	token_hash TEXT PRIMARY KEY,
	expires    BIGINT NOT NULL
);
`,
}

// migrate brings db's schema to the newest version (goose keeps the applied
// versions in goose_db_version). On Postgres a session lock makes kindlab
// replicas that start together take turns.
func migrate(ctx context.Context, db *sql.DB, d dialect) error {
	var steps []*goose.Migration
	for v, text := range migrations[1:] {
		text := strings.NewReplacer("{{serial}}", d.serial, "{{blob}}", d.blob).Replace(text)
		steps = append(steps, goose.NewGoMigration(int64(v+1),
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
				for stmt := range strings.SplitSeq(text, ";") {
					if strings.TrimSpace(stmt) == "" {
						continue
					}
					if _, err := tx.ExecContext(ctx, stmt); err != nil {
						return err
					}
				}
				return nil
			}},
			nil))
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(steps...), goose.WithSlog(slog.New(slog.DiscardHandler))}
	gd := goose.DialectSQLite3
	if d.name == postgres.name {
		gd = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 120)) // a try a second, two minutes
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, nil, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
