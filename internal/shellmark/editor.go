package shellmark

import (
	"strings"
	"unicode/utf8"
)

// lineEditor replays the learner's keystrokes the way readline would build the
// line, as far as that can be done without knowing the shell's state: typed
// and pasted text, Backspace, Ctrl-U, Ctrl-W, Ctrl-C and Tab positions. Keys
// that move the cursor or recall history mark the line edited.
type lineEditor struct {
	line    strings.Builder
	tabs    []int
	edited  bool
	esc     []byte // an escape sequence being read
	pasting bool   // inside a bracketed paste
}

const (
	pasteStart = "\x1b[200~"
	pasteEnd   = "\x1b[201~"

	// MaxLine is as much of one entered line as kindlab replays (a pasted
	// manifest is one line until Enter). The rest is dropped and the line
	// marked edited: what a learner types without end costs kindlab this.
	MaxLine = 16 << 10
	maxTabs = 256
)

// add appends b to the line, or marks the line edited once it is full.
func (e *lineEditor) add(b byte) {
	if e.line.Len() >= MaxLine {
		e.edited = true
		return
	}
	e.line.WriteByte(b)
}

// feed takes keystrokes and returns the lines entered with them.
func (e *lineEditor) feed(p []byte) []typedLine {
	var lines []typedLine
	for len(p) > 0 {
		b := p[0]
		if len(e.esc) > 0 || b == 0x1b {
			e.esc = append(e.esc, b)
			p = p[1:]
			e.escape()
			continue
		}
		if e.pasting {
			e.add(b)
			p = p[1:]
			continue
		}
		switch b {
		case '\r', '\n':
			lines = append(lines, typedLine{text: e.line.String(), tabs: e.tabs, edited: e.edited})
			e.reset()
		case '\t':
			if len(e.tabs) < maxTabs {
				e.tabs = append(e.tabs, e.line.Len())
			} else {
				e.edited = true
			}
		case 0x7f, 0x08: // Backspace
			s := e.line.String()
			_, n := utf8.DecodeLastRuneInString(s)
			e.setLine(s[:len(s)-n])
		case 0x15, 0x03: // Ctrl-U, Ctrl-C
			e.reset()
		case 0x17: // Ctrl-W
			s := strings.TrimRight(e.line.String(), " ")
			e.setLine(s[:strings.LastIndexByte(s, ' ')+1])
		default:
			if b < 0x20 { // Ctrl-A, Ctrl-E, Ctrl-R, Ctrl-P...
				e.edited = true
			} else {
				e.add(b)
			}
		}
		p = p[1:]
	}
	return lines
}

// escape reads one more byte of an escape sequence; a complete one is a
// bracketed paste's start or end, or a key kindlab does not replay.
func (e *lineEditor) escape() {
	s := string(e.esc)
	switch {
	case s == pasteStart:
		e.pasting, e.esc = true, nil
	case s == pasteEnd:
		e.pasting, e.esc = false, nil
	case len(s) == 2 && s[1] != '[' && s[1] != 'O': // Alt-key
		e.edited, e.esc = true, nil
	case len(s) == 3 && s[1] == 'O': // SS3: arrows in application mode
		e.edited, e.esc = true, nil
	case len(s) > 2 && s[1] == '[' && s[len(s)-1] >= 0x40 && s[len(s)-1] <= 0x7e:
		if !e.pasting {
			e.edited = true
		}
		e.esc = nil
	case len(s) > 32: // not a sequence kindlab knows: drop it
		e.edited, e.esc = true, nil
	}
}

func (e *lineEditor) setLine(s string) {
	e.line.Reset()
	e.line.WriteString(s)
	for len(e.tabs) > 0 && e.tabs[len(e.tabs)-1] > len(s) {
		e.tabs = e.tabs[:len(e.tabs)-1]
	}
}

func (e *lineEditor) reset() {
	e.line.Reset()
	e.tabs, e.edited = nil, false
}
