package store

import (
	"context"
	"fmt"
	"time"
)

// Replica is a kindlab process serving learners from this store; replicas
// sharing a PostgreSQL database serve one workshop together.
type Replica struct {
	ID   string
	URL  string    // where the other replicas reach it
	Seen time.Time // its last heartbeat
}

// Heartbeat records that replica r is alive, at r.Seen.
func (s *Store) Heartbeat(ctx context.Context, r Replica) error {
	_, err := s.exec(ctx, `INSERT INTO replicas (id, url, seen) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET url = excluded.url, seen = excluded.seen`, r.ID, r.URL, r.Seen.UnixMilli())
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Replicas returns the replicas seen since since, by ID.
func (s *Store) Replicas(ctx context.Context, since time.Time) ([]Replica, error) {
	rows, err := s.query(ctx, `SELECT id, url, seen FROM replicas WHERE seen >= ? ORDER BY id`, since.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var r Replica
		var seen int64
		if err := rows.Scan(&r.ID, &r.URL, &seen); err != nil {
			return nil, err
		}
		r.Seen = time.UnixMilli(seen)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ForgetReplica removes a replica that stopped (its sessions are then free
// for the others at once).
func (s *Store) ForgetReplica(ctx context.Context, id string) error {
	_, err := s.exec(ctx, `DELETE FROM replicas WHERE id = ?`, id)
	return err
}

// ClaimSession makes replica to the owner of session id if from still owns
// it, and reports whether it did: of replicas claiming a session at once,
// one wins.
func (s *Store) ClaimSession(ctx context.Context, id, from, to string) (bool, error) {
	res, err := s.exec(ctx, `UPDATE sessions SET owner = ? WHERE id = ? AND owner = ?`, to, id, from)
	if err != nil {
		return false, fmt.Errorf("claim session %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// LastEventID is the number of the newest event (0 for none).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&id)
	return id, err
}

// AddSignIn records an instructor's sign-in session (the hash of its
// cookie's token), valid until expires, on every replica.
func (s *Store) AddSignIn(ctx context.Context, tokenHash string, expires time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM instructor_sign_ins WHERE expires < ?`, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if _, err := s.exec(ctx, `INSERT INTO instructor_sign_ins (token_hash, expires) VALUES (?, ?)`, tokenHash, expires.UnixMilli()); err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	return nil
}

// SignedIn reports whether an instructor sign-in session is live at now.
func (s *Store) SignedIn(ctx context.Context, tokenHash string, now time.Time) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM instructor_sign_ins WHERE token_hash = ? AND expires >= ?`, tokenHash, now.UnixMilli()).Scan(&n)
	return n > 0, err
}

// SignOut ends an instructor sign-in session.
func (s *Store) SignOut(ctx context.Context, tokenHash string) error {
	_, err := s.exec(ctx, `DELETE FROM instructor_sign_ins WHERE token_hash = ?`, tokenHash)
	return err
}

// Running counts the sessions client started that hold or wait for a cluster
// (provisioning or ready), whichever replica runs them.
func (s *Store) Running(ctx context.Context, client string) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE client = ? AND state IN (?, ?)`, client, StateProvisioning, StateReady).Scan(&n)
	return n, err
}
