// Package shellmark reads shell integration marks: the OSC 133 and OSC 633
// sequences the workstation's shell writes around each command (see
// manifests/platform/workstation.yaml, terminal.rc), the way terminal
// emulators learn where prompts and commands are. A Filter takes them out of a
// terminal's output; a Tracker turns them, with what the learner typed, into
// the commands command checks judge.
package shellmark

import (
	"bytes"
	"strconv"
	"strings"
)

// Mark is a shell integration mark: an OSC 133 or OSC 633 sequence the shell
// writes around each command, the way terminal emulators learn where prompts
// and commands are. The workstation's shell writes
//
//	ESC ] 133 ; C BEL            a command line starts running (PS0)
//	ESC ] 633 ; E ; <line> BEL   the history entry of the last command line
//	ESC ] 133 ; D ; <exit> BEL   it ended with that exit code (PROMPT_COMMAND)
//
// Marks come from the learner's own shell, which the learner controls: see
// Tracker for what kindlab believes of them.
type Mark struct {
	Code string   // "133" or "633"
	Args []string // the fields after the code, e.g. ["D", "0"]; 633 E's line is unescaped
}

const (
	markIntro   = "\x1b]"
	maxMarkSize = 8 << 10 // a longer sequence is not a mark: it passes through as output
)

var markCodes = []string{"133;", "633;"}

// Piece is a run of output or one mark, in the order the terminal wrote them.
type Piece struct {
	Output []byte
	Mark   *Mark
}

// Filter takes shell integration marks out of a stream of chunks, across chunk
// boundaries. The zero Filter is ready to use.
type Filter struct {
	held []byte // the start of a mark (or what may become one) at the end of the last chunk
}

// Filter splits p into output and marks, in order. Bytes that may be the start
// of a mark split across chunks are held back until the next call.
func (f *Filter) Filter(p []byte) []Piece {
	data := p
	if len(f.held) > 0 {
		data = append(f.held, p...)
		f.held = nil
	}
	var pieces []Piece
	out := make([]byte, 0, len(data))
	for len(data) > 0 {
		i := bytes.IndexByte(data, 0x1b)
		if i < 0 {
			out = append(out, data...)
			break
		}
		out = append(out, data[:i]...)
		data = data[i:]
		code, ok := markStart(data)
		if !ok { // not a mark: the ESC is output
			out = append(out, data[0])
			data = data[1:]
			continue
		}
		if code == "" { // too short to tell: wait for more
			f.held = append([]byte(nil), data...)
			break
		}
		body := data[len(markIntro)+len(code):]
		end, termLen := markEnd(body)
		if end < 0 {
			if len(data) < maxMarkSize {
				f.held = append([]byte(nil), data...)
				break
			}
			out = append(out, data[0]) // unterminated and long: not a mark
			data = data[1:]
			continue
		}
		if len(out) > 0 {
			pieces = append(pieces, Piece{Output: out})
			out = nil
		}
		m := parseMark(strings.TrimSuffix(code, ";"), string(body[:end]))
		pieces = append(pieces, Piece{Mark: &m})
		data = body[end+termLen:]
	}
	if len(out) > 0 {
		pieces = append(pieces, Piece{Output: out})
	}
	return pieces
}

// Flush returns what is held back, at the end of the stream.
func (f *Filter) Flush() []byte {
	out := f.held
	f.held = nil
	return out
}

// markStart reports whether data (starting with ESC) starts a mark: ok with the
// code ("133;"), ok with "" when data is a prefix of one, or not ok.
func markStart(data []byte) (code string, ok bool) {
	for _, c := range markCodes {
		full := markIntro + c
		n := min(len(data), len(full))
		if string(data[:n]) != full[:n] {
			continue
		}
		if n < len(full) {
			return "", true
		}
		return c, true
	}
	return "", false
}

// markEnd finds the terminator of a mark's body: BEL or ST (ESC \).
func markEnd(body []byte) (at, length int) {
	for i, b := range body {
		switch b {
		case 0x07:
			return i, 1
		case 0x1b:
			if i+1 < len(body) && body[i+1] == '\\' {
				return i, 2
			}
			if i+1 == len(body) {
				return -1, 0 // may be ST split across chunks
			}
		}
	}
	return -1, 0
}

func parseMark(code, body string) Mark {
	args := strings.Split(body, ";")
	if code == "633" && len(args) >= 2 && args[0] == "E" {
		args = []string{"E", unescapeMark(strings.Join(args[1:], ";"))}
	}
	return Mark{Code: code, Args: args}
}

// unescapeMark undoes the shell's escaping of a 633 E line: \\ is a backslash
// and \xAB the byte AB (the shell writes ; and control characters so).
func unescapeMark(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if s[i+1] == '\\' {
				b.WriteByte('\\')
				i++
				continue
			}
			if s[i+1] == 'x' && i+3 < len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
					b.WriteByte(byte(v))
					i += 3
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
