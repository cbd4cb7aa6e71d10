package workshop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/server/store"
)

func newTestRegistry(t *testing.T, opts ...Option) (*Registry, *clock.Fake) {
	t.Helper()
	clock := newFakeClock()
	r, err := NewRegistry(NewMemStore(), append([]Option{WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return r, clock
}

func TestNewRegistryErrors(t *testing.T) {
	tests := []struct {
		name  string
		store Store
		opts  []Option
	}{
		{name: "nil store", store: nil},
		{name: "nil option", store: NewMemStore(), opts: []Option{nil}},
		{name: "nil clock", store: NewMemStore(), opts: []Option{WithClock(nil)}},
		{name: "nil logger", store: NewMemStore(), opts: []Option{WithLogger(nil)}},
		{name: "nil random", store: NewMemStore(), opts: []Option{WithRandom(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewRegistry(tt.store, tt.opts...); err == nil {
				t.Errorf("NewRegistry() = nil error; want error")
			}
		})
	}
}

func TestCreateValidation(t *testing.T) {
	tests := []struct {
		name     string
		title    string
		labs     []string
		capacity int
		duration time.Duration
		wantErr  error
	}{
		{name: "ok", title: "Intro to Pods", labs: []string{"pods"}, capacity: 30, duration: 2 * time.Hour},
		{name: "bounds low", title: "t", labs: []string{"pods"}, capacity: 1, duration: 10 * time.Minute},
		{name: "bounds high", title: "t", labs: []string{"pods", "svc"}, capacity: 500, duration: 24 * time.Hour},
		{name: "empty title", title: "", labs: []string{"pods"}, capacity: 30, duration: time.Hour, wantErr: ErrInvalid},
		{name: "blank title", title: " \t ", labs: []string{"pods"}, capacity: 30, duration: time.Hour, wantErr: ErrInvalid},
		{name: "control in title", title: "a\x07b", labs: []string{"pods"}, capacity: 30, duration: time.Hour, wantErr: ErrInvalid},
		{name: "no labs", title: "t", labs: nil, capacity: 30, duration: time.Hour, wantErr: ErrInvalid},
		{name: "blank lab", title: "t", labs: []string{"pods", " "}, capacity: 30, duration: time.Hour, wantErr: ErrInvalid},
		{name: "capacity 0", title: "t", labs: []string{"pods"}, capacity: 0, duration: time.Hour, wantErr: ErrInvalid},
		{name: "capacity 501", title: "t", labs: []string{"pods"}, capacity: 501, duration: time.Hour, wantErr: ErrInvalid},
		{name: "negative capacity", title: "t", labs: []string{"pods"}, capacity: -1, duration: time.Hour, wantErr: ErrInvalid},
		{name: "duration too short", title: "t", labs: []string{"pods"}, capacity: 30, duration: 10*time.Minute - time.Second, wantErr: ErrInvalid},
		{name: "duration too long", title: "t", labs: []string{"pods"}, capacity: 30, duration: 24*time.Hour + time.Nanosecond, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, clock := newTestRegistry(t)
			ctx := context.Background()
			w, token, err := r.Create(ctx, tt.title, tt.labs, tt.capacity, tt.duration)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Create(%q, %q, %d, %v) error = %v; want %v", tt.title, tt.labs, tt.capacity, tt.duration, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if len(w.Code) != CodeLen || strings.Trim(w.Code, CodeAlphabet) != "" {
				t.Errorf("Code = %q; want %d characters of %q", w.Code, CodeLen, CodeAlphabet)
			}
			if !w.Created.Equal(clock.Now()) || !w.Ends.Equal(clock.Now().Add(tt.duration)) {
				t.Errorf("Created, Ends = %v, %v; want %v, %v", w.Created, w.Ends, clock.Now(), clock.Now().Add(tt.duration))
			}
			if token == "" || strings.Contains(w.InstructorTokenHash, token) {
				t.Errorf("token %q, hash %q: want a token that is not stored", token, w.InstructorTokenHash)
			}
			got, err := r.ByCode(ctx, strings.ToLower(" "+w.Code+" "))
			if err != nil || got.ID != w.ID {
				t.Errorf("ByCode(%q) = %v, %v; want workshop %s", w.Code, got.ID, err, w.ID)
			}
			if err := r.Authorize(ctx, w.ID, token); err != nil {
				t.Errorf("Authorize(own token) = %v; want nil", err)
			}
		})
	}
}

func TestCreateCodeCollision(t *testing.T) {
	r, _ := newTestRegistry(t, WithRandom(zeroReader{}))
	ctx := context.Background()
	if _, _, err := r.Create(ctx, "one", []string{"pods"}, 10, time.Hour); err != nil {
		t.Fatalf("first Create: %v", err)
	}
	if _, _, err := r.Create(ctx, "two", []string{"pods"}, 10, time.Hour); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second Create with a constant random source = %v; want %v", err, store.ErrConflict)
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		name     string
		code     func(w store.Workshop) string
		joinName string
		before   []string      // names joined first
		advance  time.Duration // clock moves before the join
		wantErr  error
		wantName string
	}{
		{name: "ok", joinName: "Bob", wantName: "Bob"},
		{name: "code case and space ignored", code: func(w store.Workshop) string { return " " + strings.ToLower(w.Code) + "\n" }, joinName: "Bob", wantName: "Bob"},
		{name: "name trimmed", joinName: "  Bob  ", wantName: "Bob"},
		{name: "unicode name", joinName: "Zoë 山田", wantName: "Zoë 山田"},
		{name: "40 characters", joinName: strings.Repeat("é", 40), wantName: strings.Repeat("é", 40)},
		{name: "unknown code", code: otherCode, joinName: "Bob", wantErr: ErrUnknownCode},
		{name: "malformed code", code: func(store.Workshop) string { return "0O1IL!" }, joinName: "Bob", wantErr: ErrUnknownCode},
		{name: "empty code", code: func(store.Workshop) string { return "" }, joinName: "Bob", wantErr: ErrUnknownCode},
		{name: "empty name", joinName: "", wantErr: ErrBadName},
		{name: "blank name", joinName: " \t ", wantErr: ErrBadName},
		{name: "41 characters", joinName: strings.Repeat("a", 41), wantErr: ErrBadName},
		{name: "tab inside", joinName: "Bo\tb", wantErr: ErrBadName},
		{name: "newline inside", joinName: "Bo\nb", wantErr: ErrBadName},
		{name: "escape sequence", joinName: "\x1b[31mBob", wantErr: ErrBadName},
		{name: "invalid utf-8", joinName: "Bob\xff", wantErr: ErrBadName},
		{name: "name taken", joinName: "Alice", wantErr: ErrNameTaken},
		{name: "name taken ignoring case and space", joinName: "  aLICE ", wantErr: ErrNameTaken},
		{name: "full", before: []string{"Carol"}, joinName: "Bob", wantErr: ErrFull},
		{name: "just before the end", advance: time.Hour - time.Nanosecond, joinName: "Bob", wantName: "Bob"},
		{name: "ended", advance: time.Hour, joinName: "Bob", wantErr: ErrEnded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, clock := newTestRegistry(t)
			ctx := context.Background()
			w, _, err := r.Create(ctx, "k8s 101", []string{"pods", "services"}, 2, time.Hour)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			for _, n := range append([]string{"Alice"}, tt.before...) {
				if _, err := r.Join(ctx, w.Code, n); err != nil {
					t.Fatalf("Join(%q): %v", n, err)
				}
			}
			clock.Advance(tt.advance)
			code := w.Code
			if tt.code != nil {
				code = tt.code(w)
			}
			l, err := r.Join(ctx, code, tt.joinName)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Join(%q, %q) error = %v; want %v", code, tt.joinName, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			want := store.WorkshopLearner{WorkshopID: w.ID, SessionID: l.SessionID, Name: tt.wantName, Lab: "pods", Joined: clock.Now()}
			if l != want || len(l.SessionID) != 32 {
				t.Errorf("Join(%q, %q) = %+v; want %+v with a 32-hex session", code, tt.joinName, l, want)
			}
		})
	}
}

// otherCode returns a well-formed code that is not w's.
func otherCode(w store.Workshop) string {
	b := []byte(w.Code)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func TestJoinConcurrentCapacity(t *testing.T) {
	r, _ := newTestRegistry(t)
	ctx := context.Background()
	const capacity, tries = 10, 40
	w, _, err := r.Create(ctx, "rush", []string{"pods"}, capacity, time.Hour)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, tries)
	for i := range tries {
		wg.Go(func() {
			_, err := r.Join(ctx, w.Code, fmt.Sprintf("learner %d", i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok, full := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrFull):
			full++
		default:
			t.Errorf("Join: unexpected error %v", err)
		}
	}
	if ok != capacity || full != tries-capacity {
		t.Errorf("%d concurrent joins: %d seated, %d full; want %d, %d", tries, ok, full, capacity, tries-capacity)
	}
}

func TestAuthorize(t *testing.T) {
	r, _ := newTestRegistry(t)
	ctx := context.Background()
	a, tokenA, err := r.Create(ctx, "A", []string{"pods"}, 10, time.Hour)
	if err != nil {
		t.Fatalf("Create A: %v", err)
	}
	b, tokenB, err := r.Create(ctx, "B", []string{"pods"}, 10, time.Hour)
	if err != nil {
		t.Fatalf("Create B: %v", err)
	}
	tests := []struct {
		name     string
		workshop string
		token    string
		wantErr  error
	}{
		{name: "A with A's token", workshop: a.ID, token: tokenA},
		{name: "B with B's token", workshop: b.ID, token: tokenB},
		{name: "B with A's token", workshop: b.ID, token: tokenA, wantErr: ErrForbidden},
		{name: "A with B's token", workshop: a.ID, token: tokenB, wantErr: ErrForbidden},
		{name: "A with its hash as token", workshop: a.ID, token: a.InstructorTokenHash, wantErr: ErrForbidden},
		{name: "A with a truncated token", workshop: a.ID, token: tokenA[:len(tokenA)-1], wantErr: ErrForbidden},
		{name: "empty token", workshop: a.ID, token: "", wantErr: ErrForbidden},
		{name: "unknown workshop", workshop: "nope", token: tokenA, wantErr: ErrForbidden},
		{name: "empty workshop", workshop: "", token: tokenA, wantErr: ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := r.Authorize(ctx, tt.workshop, tt.token); !errors.Is(err, tt.wantErr) {
				t.Errorf("Authorize(%q, %q) = %v; want %v", tt.workshop, tt.token, err, tt.wantErr)
			}
		})
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "plain", in: "Ada", want: "Ada"},
		{name: "trimmed", in: "\u00a0 Ada \n", want: "Ada"},
		{name: "line separator", in: "Ada\u2028Lovelace", wantErr: ErrBadName},
		{name: "DEL", in: "Ada\x7f", wantErr: ErrBadName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CleanName(tt.in)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("CleanName(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
