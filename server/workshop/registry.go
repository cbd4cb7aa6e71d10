package workshop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/server/store"
)

// Limits on workshop input.
const (
	MinCapacity = 1
	MaxCapacity = 500
	MinDuration = 10 * time.Minute
	MaxDuration = 24 * time.Hour
	MaxTitleLen = 200 // runes
	MaxNameLen  = 40  // runes, after trimming
	CodeLen     = 6
)

// CodeAlphabet is the alphabet of join codes: upper-case letters and digits
// without the look-alikes 0/O, 1/I/L.
const CodeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// Errors returned by the Registry, checked with errors.Is.
var (
	ErrInvalid     = errors.New("workshop: invalid input")
	ErrUnknownCode = errors.New("workshop: unknown join code")
	ErrFull        = errors.New("workshop: full")
	ErrEnded       = errors.New("workshop: ended")
	ErrNameTaken   = errors.New("workshop: name taken")
	ErrBadName     = errors.New("workshop: bad name")
	ErrForbidden   = errors.New("workshop: forbidden")
)

// Store persists workshops and learners. Implementations must be safe for
// concurrent use; the Registry serializes its own check-then-write sequences.
type Store interface {
	// CreateWorkshop stores w; ErrConflict if its ID or Code is taken.
	CreateWorkshop(ctx context.Context, w store.Workshop) error
	// Workshop returns the workshop with that ID, or store.ErrNotFound.
	Workshop(ctx context.Context, id string) (store.Workshop, error)
	// WorkshopByCode returns the workshop with that join code, or store.ErrNotFound.
	WorkshopByCode(ctx context.Context, code string) (store.Workshop, error)
	// Learners returns the learners of a workshop in join order.
	Learners(ctx context.Context, workshopID string) ([]store.WorkshopLearner, error)
	// AddLearner stores l.
	AddLearner(ctx context.Context, l store.WorkshopLearner) error
}

// Registry creates workshops, seats learners and authorizes instructors.
type Registry struct {
	store Store
	clock clock.Clock
	log   *slog.Logger
	rand  io.Reader

	mu sync.Mutex // serializes Create and Join (check, then write)
}

// NewRegistry returns a Registry over store. Options: WithClock, WithLogger,
// WithRandom.
func NewRegistry(store Store, opts ...Option) (*Registry, error) {
	if store == nil {
		return nil, errors.New("new registry: nil store")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("new registry: %w", err)
	}
	r := cfg.rand
	if r == nil {
		r = rand.Reader
	}
	return &Registry{store: store, clock: cfg.clock, log: cfg.log, rand: r}, nil
}

// Create validates the input and creates a workshop starting now. It returns
// the workshop and the instructor token, which is shown to the instructor once
// and only its hash is kept.
func (r *Registry) Create(ctx context.Context, title string, labs []string, capacity int, duration time.Duration) (store.Workshop, string, error) {
	title = strings.TrimSpace(title)
	switch {
	case title == "":
		return store.Workshop{}, "", fmt.Errorf("%w: title is empty", ErrInvalid)
	case utf8.RuneCountInString(title) > MaxTitleLen || !printable(title):
		return store.Workshop{}, "", fmt.Errorf("%w: title must be at most %d printable characters", ErrInvalid, MaxTitleLen)
	case len(labs) == 0:
		return store.Workshop{}, "", fmt.Errorf("%w: at least one lab is needed", ErrInvalid)
	case capacity < MinCapacity || capacity > MaxCapacity:
		return store.Workshop{}, "", fmt.Errorf("%w: capacity %d not in %d..%d", ErrInvalid, capacity, MinCapacity, MaxCapacity)
	case duration < MinDuration || duration > MaxDuration:
		return store.Workshop{}, "", fmt.Errorf("%w: duration %v not in %v..%v", ErrInvalid, duration, MinDuration, MaxDuration)
	}
	cleanLabs := make([]string, len(labs))
	for i, l := range labs {
		l = strings.TrimSpace(l)
		if l == "" {
			return store.Workshop{}, "", fmt.Errorf("%w: lab %d is empty", ErrInvalid, i+1)
		}
		cleanLabs[i] = l
	}

	token, err := r.randomString(32)
	if err != nil {
		return store.Workshop{}, "", fmt.Errorf("create workshop: %w", err)
	}
	now := r.clock.Now()
	w := store.Workshop{
		Title:               title,
		Labs:                cleanLabs,
		Capacity:            capacity,
		Duration:            duration,
		Created:             now,
		Ends:                now.Add(duration),
		InstructorTokenHash: hashToken(token),
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	// A code collision is unlikely (31^6 codes) but possible: retry a few times.
	const attempts = 5
	for range attempts {
		if w.ID, err = r.randomHex(8); err != nil {
			return store.Workshop{}, "", fmt.Errorf("create workshop: %w", err)
		}
		if w.Code, err = r.code(); err != nil {
			return store.Workshop{}, "", fmt.Errorf("create workshop: %w", err)
		}
		err = r.store.CreateWorkshop(ctx, w)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return store.Workshop{}, "", fmt.Errorf("create workshop: %w", err)
		}
		r.log.InfoContext(ctx, "workshop created", slog.String("workshop", w.ID),
			slog.Int("capacity", capacity), slog.Duration("duration", duration))
		return w, token, nil
	}
	return store.Workshop{}, "", fmt.Errorf("create workshop: no free code after %d attempts: %w", attempts, err)
}

// ByCode returns the workshop with that join code (case and surrounding
// space ignored), or ErrUnknownCode.
func (r *Registry) ByCode(ctx context.Context, code string) (store.Workshop, error) {
	code, ok := normalizeCode(code)
	if !ok {
		return store.Workshop{}, ErrUnknownCode
	}
	w, err := r.store.WorkshopByCode(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return store.Workshop{}, ErrUnknownCode
	}
	if err != nil {
		return store.Workshop{}, fmt.Errorf("workshop by code: %w", err)
	}
	return w, nil
}

// Join seats a learner called displayName in the workshop with that code and
// assigns the workshop's first lab. Errors: ErrUnknownCode, ErrEnded,
// ErrBadName (empty after trimming, longer than MaxNameLen, or with control
// characters), ErrNameTaken (same name ignoring case and surrounding space),
// ErrFull.
func (r *Registry) Join(ctx context.Context, code, displayName string) (store.WorkshopLearner, error) {
	w, err := r.ByCode(ctx, code)
	if err != nil {
		return store.WorkshopLearner{}, err
	}
	now := r.clock.Now()
	if !now.Before(w.Ends) {
		return store.WorkshopLearner{}, ErrEnded
	}
	name, err := CleanName(displayName)
	if err != nil {
		return store.WorkshopLearner{}, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	learners, err := r.store.Learners(ctx, w.ID)
	if err != nil {
		return store.WorkshopLearner{}, fmt.Errorf("join workshop %s: %w", w.ID, err)
	}
	for _, l := range learners {
		if strings.EqualFold(l.Name, name) {
			return store.WorkshopLearner{}, ErrNameTaken
		}
	}
	if len(learners) >= w.Capacity {
		return store.WorkshopLearner{}, ErrFull
	}
	sid, err := r.randomHex(16)
	if err != nil {
		return store.WorkshopLearner{}, fmt.Errorf("join workshop %s: %w", w.ID, err)
	}
	l := store.WorkshopLearner{WorkshopID: w.ID, SessionID: sid, Name: name, Lab: w.Labs[0], Joined: now}
	if err := r.store.AddLearner(ctx, l); err != nil {
		return store.WorkshopLearner{}, fmt.Errorf("join workshop %s: %w", w.ID, err)
	}
	r.log.InfoContext(ctx, "learner joined", slog.String("workshop", w.ID),
		slog.String("learner", sid), slog.String("lab", l.Lab))
	return l, nil
}

// Authorize reports whether token is the instructor token of the workshop
// with that ID: nil if so, ErrForbidden if not or if there is no such
// workshop (the caller cannot tell the two apart). The hashes are compared in
// constant time.
func (r *Registry) Authorize(ctx context.Context, workshopID, token string) error {
	if token == "" || workshopID == "" {
		return ErrForbidden
	}
	w, err := r.store.Workshop(ctx, workshopID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrForbidden
	}
	if err != nil {
		return fmt.Errorf("authorize workshop %s: %w", workshopID, err)
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(token)), []byte(w.InstructorTokenHash)) != 1 {
		return ErrForbidden
	}
	return nil
}

// CleanName trims a display name and checks it: 1..MaxNameLen characters,
// valid UTF-8, no control characters. It returns ErrBadName otherwise.
func CleanName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > MaxNameLen || !printable(s) {
		return "", ErrBadName
	}
	return s, nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			return false
		}
	}
	return true
}

func normalizeCode(code string) (string, bool) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != CodeLen {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if strings.IndexByte(CodeAlphabet, code[i]) < 0 {
			return "", false
		}
	}
	return code, true
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// code draws CodeLen characters of CodeAlphabet uniformly (rejection
// sampling, so no modulo bias).
func (r *Registry) code() (string, error) {
	const n = len(CodeAlphabet)
	const limit = 256 - 256%n
	out := make([]byte, 0, CodeLen)
	buf := make([]byte, 16)
	for len(out) < CodeLen {
		if _, err := io.ReadFull(r.rand, buf); err != nil {
			return "", fmt.Errorf("random code: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < CodeLen {
				out = append(out, CodeAlphabet[int(b)%n])
			}
		}
	}
	return string(out), nil
}

func (r *Registry) randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r.rand, b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func (r *Registry) randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r.rand, b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
