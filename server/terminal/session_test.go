package terminal

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func newTestSession(t testing.TB, term Terminal, opts ...SessionOption) *Session {
	t.Helper()
	s, err := NewSession(term, opts...)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		<-s.Done()
	})
	return s
}

func seqs(chunks []Chunk) []uint64 {
	var out []uint64
	for _, c := range chunks {
		out = append(out, c.Seq)
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestAttachReplay(t *testing.T) {
	// Ten chunks of 3 bytes; a 12-byte buffer keeps the last four (7..10).
	tests := []struct {
		name     string
		bufSize  int
		lastSeq  uint64
		wantGap  bool
		wantFrom uint64
		want     []uint64
	}{
		{name: "new client, all buffered", bufSize: 1 << 10, lastSeq: 0, wantFrom: 1, want: seqRange(1, 10)},
		{name: "missed some", bufSize: 1 << 10, lastSeq: 6, wantFrom: 7, want: seqRange(7, 10)},
		{name: "up to date", bufSize: 1 << 10, lastSeq: 10, wantFrom: 11, want: nil},
		{name: "missed exactly what is buffered", bufSize: 12, lastSeq: 6, wantFrom: 7, want: seqRange(7, 10)},
		{name: "missed more than buffered", bufSize: 12, lastSeq: 5, wantGap: true, wantFrom: 7, want: seqRange(7, 10)},
		{name: "new client after wrap", bufSize: 12, lastSeq: 0, wantGap: true, wantFrom: 7, want: seqRange(7, 10)},
		{name: "client of an earlier session", bufSize: 1 << 10, lastSeq: 99, wantGap: true, wantFrom: 1, want: seqRange(1, 10)},
		{name: "buffer smaller than a chunk keeps the newest", bufSize: 1, lastSeq: 0, wantGap: true, wantFrom: 10, want: []uint64{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term := newFakeTerm(false)
			s := newTestSession(t, term, WithBufferSize(tt.bufSize))
			watcher, _ := s.Attach(0, true) // to know when chunk 10 is published
			for i := range 10 {
				term.emit(fmt.Appendf(nil, "c%02d", i+1))
			}
			waitSeq(t, watcher, 10)

			c, r := s.Attach(tt.lastSeq, false)
			defer c.Detach()
			if r.Seq != 10 || r.Gap != tt.wantGap || r.From != tt.wantFrom || !slices.Equal(seqs(r.Chunks), tt.want) {
				t.Errorf("Attach(%d) = {Seq:%d Gap:%v From:%d Chunks:%v}; want {Seq:10 Gap:%v From:%d Chunks:%v}",
					tt.lastSeq, r.Seq, r.Gap, r.From, seqs(r.Chunks), tt.wantGap, tt.wantFrom, tt.want)
			}
			for _, ch := range r.Chunks {
				if want := fmt.Sprintf("c%02d", ch.Seq); string(ch.Data) != want {
					t.Errorf("chunk %d = %q; want %q", ch.Seq, ch.Data, want)
				}
			}
		})
	}
}

// waitSeq reads c's output until the chunk seq, failing on a skipped or
// repeated sequence number.
func waitSeq(t *testing.T, c *Client, seq uint64) {
	t.Helper()
	var last uint64
	for ch := range c.Output() {
		if last != 0 && ch.Seq != last+1 {
			t.Fatalf("chunk %d after %d", ch.Seq, last)
		}
		if last = ch.Seq; last == seq {
			return
		}
	}
	t.Fatalf("output closed before chunk %d: %v", seq, c.Err())
}

func TestAttachThenLive(t *testing.T) {
	term := newFakeTerm(false)
	s := newTestSession(t, term)
	first, _ := s.Attach(0, false)
	for range 3 {
		term.emit([]byte("x"))
	}
	waitSeq(t, first, 3)
	c, r := s.Attach(2, false)
	term.emit([]byte("y"))
	ch := <-c.Output()
	if got := append(seqs(r.Chunks), ch.Seq); !slices.Equal(got, []uint64{3, 4}) {
		t.Errorf("replay then live = %v; want [3 4]", got)
	}
}

func TestSessionExit(t *testing.T) {
	boom := errors.New("connection to pod lost")
	tests := []struct {
		name     string
		end      error
		wantCode int
		wantErr  error
		wantOut  []string
	}{
		{name: "clean exit", end: io.EOF, wantCode: 0, wantOut: []string{"bye"}},
		{name: "exit status", end: fmt.Errorf("command terminated: %w", exitErr(3)), wantCode: 3, wantOut: []string{"bye"}},
		{name: "broken stream", end: boom, wantCode: -1, wantErr: boom,
			wantOut: []string{"bye", "\r\n\x1b[1;33m[kindlab] The connection to your terminal broke; kindlab is checking your cluster.\x1b[0m\r\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term := newFakeTerm(false)
			s := newTestSession(t, term)
			c, _ := s.Attach(0, false)
			term.emit([]byte("bye"))
			term.exit(tt.end)
			<-s.Done()
			code, err := s.Wait()
			if code != tt.wantCode || !errors.Is(err, tt.wantErr) {
				t.Errorf("Wait() = %d, %v; want %d, %v", code, err, tt.wantCode, tt.wantErr)
			}
			var got []string
			for ch := range c.Output() {
				got = append(got, string(ch.Data))
			}
			if !slices.Equal(got, tt.wantOut) || !errors.Is(c.Err(), ErrEnded) {
				t.Errorf("client got %q, %v; want %q, %v", got, c.Err(), tt.wantOut, ErrEnded)
			}
			late, r := s.Attach(0, false)
			if _, open := <-late.Output(); open || len(r.Chunks) != len(tt.wantOut) {
				t.Errorf("Attach after exit: open output %v, %d chunks; want closed, %d", open, len(r.Chunks), len(tt.wantOut))
			}
		})
	}
}

func TestSessionSlowClient(t *testing.T) {
	term := newFakeTerm(false)
	s := newTestSession(t, term, WithQueueLen(2))
	slow, _ := s.Attach(0, false)
	fast, _ := s.Attach(0, false)
	for i := range uint64(5) {
		term.emit([]byte("x")) // returns: the reader never waits for slow
		waitSeq(t, fast, i+1)
	}
	got := 0
	for range slow.Output() {
		got++
	}
	if got != 2 || !errors.Is(slow.Err(), ErrTooSlow) {
		t.Errorf("slow client got %d chunks, %v; want 2, %v", got, slow.Err(), ErrTooSlow)
	}
	if n := s.Clients(); n != 1 {
		t.Errorf("Clients() = %d; want 1", n)
	}
	if _, err := slow.Write([]byte("ls")); !errors.Is(err, ErrTooSlow) {
		t.Errorf("Write on a dropped client = %v; want %v", err, ErrTooSlow)
	}
}

func TestClientInput(t *testing.T) {
	tests := []struct {
		name     string
		readOnly bool
		cols     uint16
		rows     uint16
		wantErr  error
	}{
		{name: "learner", cols: 80, rows: 24},
		{name: "largest", cols: MaxSize, rows: MaxSize},
		{name: "zero cols", cols: 0, rows: 24, wantErr: ErrInvalidSize},
		{name: "too many rows", cols: 80, rows: MaxSize + 1, wantErr: ErrInvalidSize},
		{name: "read-only", readOnly: true, cols: 80, rows: 24, wantErr: ErrReadOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			term := newFakeTerm(false)
			s := newTestSession(t, term, WithClock(clock))
			c, _ := s.Attach(0, tt.readOnly)
			clock.Advance(time.Minute)
			if err := c.Resize(tt.cols, tt.rows); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Resize(%d, %d) = %v; want %v", tt.cols, tt.rows, err, tt.wantErr)
			}
			if tt.wantErr == nil {
				if got := <-term.sizes; got != [2]uint16{tt.cols, tt.rows} {
					t.Errorf("terminal size = %v; want [%d %d]", got, tt.cols, tt.rows)
				}
				if got, want := s.LastActivity(), clock.Now(); !got.Equal(want) {
					t.Errorf("LastActivity() = %v; want %v", got, want)
				}
			}
			_, err := c.Write([]byte("ls\r"))
			if tt.readOnly != errors.Is(err, ErrReadOnly) {
				t.Errorf("Write = %v; read-only %v", err, tt.readOnly)
			}
		})
	}
}

func TestSessionOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  SessionOption
	}{
		{name: "zero buffer", opt: WithBufferSize(0)},
		{name: "negative queue", opt: WithQueueLen(-1)},
		{name: "nil clock", opt: WithClock(nil)},
		{name: "nil logger", opt: WithLogger(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSession(newFakeTerm(false), tt.opt); err == nil {
				t.Errorf("NewSession(%s) = nil error; want one", tt.name)
			}
		})
	}
}

// A notice reaches every client, after the shell's output and before the end,
// on a line of its own, and cannot smuggle control sequences in.
func TestSessionNotice(t *testing.T) {
	term := newFakeTerm(false)
	s := newTestSession(t, term)
	c, _ := s.Attach(0, false)
	term.emit([]byte("$ "))
	waitSeq(t, c, 1)
	s.Notice("Your cluster stopped.\x1b]133;D;0\x07 A new one is on its way.")
	s.Close()
	var got strings.Builder
	for ch := range c.Output() {
		got.Write(ch.Data)
	}
	want := "\r\n\x1b[1;33m[kindlab] Your cluster stopped.]133;D;0 A new one is on its way.\x1b[0m\r\n"
	if got.String() != want {
		t.Errorf("the client saw %q; want %q", got.String(), want)
	}
}
