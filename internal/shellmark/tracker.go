package shellmark

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxOutput is how much of a command's output a Command keeps.
const MaxOutput = 16 << 10

// outputNotice is how often, at most, a running command's new output is told.
const outputNotice = 200 * time.Millisecond

// Bounds on what the learner's typing can make the Tracker keep, however
// much they type: lines entered and not yet taken by a command (the oldest
// typed ahead go first), command lines accepted from history, and commands (the oldest go
// first; a step's checks look at the commands since the step began).
const (
	maxSubmitted = 32
	maxAccepted  = 512
	MaxCommands  = 512
)

// Command is one command line the learner ran in the terminal.
type Command struct {
	Seq     uint64 // 1, 2, ... in the order the commands started
	Line    string // the command line; while running, what was typed for it
	Exit    int    // its exit status; -1 while running
	Pipe    []int  // the exit status of each command of its last pipeline (bash's PIPESTATUS)
	Running bool
	Started time.Time
	Ended   time.Time // zero while running
	Output  string    // the first MaxOutput bytes it printed, marks removed
	Voided  bool      // a mark was printed from inside it: it no longer counts
}

// Tracker turns what passes through a learner's terminal into the commands
// the learner ran. It is a terminal Observer: Typed gets the learner's
// keystrokes, Output and Mark the shell's output and marks in order.
//
// The marks come from the learner's shell, which the learner controls, and
// any program can print one. So a mark is believed only as far as the
// keystrokes, which only the learner's browser sends through kindlab, agree:
//
//   - A command exists only after Enter was typed at the prompt: a start mark
//     (133 C) with no line typed since the last prompt starts nothing, so a
//     script or a background job printing marks adds no command.
//   - Its line, from the history entry (633 E), must be what was typed: equal
//     to it when the learner only typed and erased, holding what was typed in
//     order when Tab completed words, or a line accepted before when it came
//     from history (arrow keys, Ctrl-R). A printf of a forged mark reports a
//     line the learner did not type and is not believed.
//   - One Enter, one command: an end mark (133 D) after the command already
//     ended means a mark was printed from inside it; that command is voided.
//   - A line entered while a command runs is typed ahead, for the shell to run
//     next, or input to the running command: kindlab cannot tell which. It
//     waits for the next command, which may take it once, as typed; Ctrl-C
//     drops it, as the terminal does.
//
// What a mark cannot prove is what the typed line did: a learner who
// redefines kubectl as a shell function can fake its exit status. Checks of
// the effect in the cluster are the ones to use where there is an effect;
// command checks are for steps whose point is to look (get, logs, a
// port-forward).
type Tracker struct {
	now      func() time.Time
	onChange func(Command)

	mu        sync.Mutex
	editor    lineEditor
	submitted []typedLine // lines entered and not yet taken by a command
	own       int         // how many of submitted the running command may take: those entered before it started
	entered   bool        // Enter was typed since the last end mark
	running   *Command    // started and not ended
	untrusted bool        // the running command was not typed at the prompt
	entry     string      // the last history entry reported (633 E)
	lastEntry string      // its history number at the last prompt
	prompts   uint64      // end marks seen: prompts the shell drew
	noticed   time.Time   // when new output was last told
	accepted  map[string]bool
	cmds      []Command
	seq       uint64
}

// NewTracker returns a Tracker reading time from now and calling onChange (if
// not nil) when a command starts, prints (at most every 200 ms), ends or is
// voided.
// onChange is called without the Tracker's lock held.
func NewTracker(now func() time.Time, onChange func(Command)) *Tracker {
	return &Tracker{now: now, onChange: onChange, accepted: map[string]bool{}, lastEntry: "-"}
}

// Restart forgets the state of the last shell, for a new one in the same
// terminal; the commands stay.
func (t *Tracker) Restart() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.editor = lineEditor{}
	t.submitted, t.own, t.entered, t.running, t.untrusted = nil, 0, false, nil, false
	t.entry, t.lastEntry = "", "-"
}

// Prompts counts the prompts the shell drew (its end marks), and reports
// whether it is at one now: no command started since the last.
func (t *Tracker) Prompts() (n uint64, idle bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.prompts, t.prompts > 0 && t.running == nil
}

// Command returns the command with seq, and whether there is one (a command
// that was not believed has none).
func (t *Tracker) Command(seq uint64) (Command, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.running; r != nil && r.Seq == seq && !t.untrusted {
		return *r, true
	}
	for _, c := range t.cmds {
		if c.Seq == seq {
			return c, true
		}
	}
	return Command{}, false
}

// Next is the Seq the next command will get: Since(Next()) taken when a step
// starts lists the commands of that step.
func (t *Tracker) Next() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seq + 1
}

// Since returns the commands from seq on, oldest first, the running one last.
func (t *Tracker) Since(seq uint64) []Command {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Command
	for _, c := range t.cmds {
		if c.Seq >= seq {
			out = append(out, c)
		}
	}
	if r := t.running; r != nil && !t.untrusted && r.Seq >= seq {
		out = append(out, *r)
	}
	return out
}

// Typed implements the terminal Observer: the learner's keystrokes.
func (t *Tracker) Typed(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := strings.LastIndexByte(string(p), 0x03); i >= 0 { // Ctrl-C: bash draws a new prompt
		t.feed(p[:i])
		if t.running != nil {
			// The terminal drops the lines typed ahead of a running command
			// when Ctrl-C interrupts it.
			t.submitted = t.submitted[:min(t.own, len(t.submitted))]
		}
		t.entered = true
		p = p[i:]
	}
	t.feed(p)
}

func (t *Tracker) feed(p []byte) {
	for _, l := range t.editor.feed(p) {
		if len(t.submitted) == maxSubmitted {
			// Full: the oldest line typed ahead goes (lines typed into a
			// program that read them, most likely), or, when none was, the
			// oldest of the running command's own.
			if t.own < len(t.submitted) {
				t.submitted = slices.Delete(t.submitted, t.own, t.own+1)
			} else {
				t.submitted = slices.Delete(t.submitted, 0, 1)
				t.own--
			}
		}
		t.submitted = append(t.submitted, l)
		t.entered = true
	}
}

// Output implements the terminal Observer.
func (t *Tracker) Output(p []byte) {
	t.mu.Lock()
	r := t.running
	if r == nil || len(r.Output) >= MaxOutput {
		t.mu.Unlock()
		return
	}
	r.Output += string(p[:min(len(p), MaxOutput-len(r.Output))])
	// Tell of new output at most every outputNotice, so that a check waiting
	// for a running command's output (running: true) sees it soon, and a
	// command printing a lot does not set every check off on every chunk.
	now := t.now()
	notify := !t.untrusted && now.Sub(t.noticed) >= outputNotice
	if notify {
		t.noticed = now
	}
	c := *r
	t.mu.Unlock()
	if notify {
		t.changed(c)
	}
}

// Mark implements the terminal Observer.
func (t *Tracker) Mark(m Mark) {
	if len(m.Args) == 0 {
		return
	}
	switch {
	case m.Code == "133" && m.Args[0] == "C":
		t.start()
	case m.Code == "633" && m.Args[0] == "E" && len(m.Args) == 2:
		t.mu.Lock()
		t.entry = m.Args[1]
		t.mu.Unlock()
	case m.Code == "133" && m.Args[0] == "D":
		t.end(m.Args[1:])
	}
}

func (t *Tracker) start() {
	t.mu.Lock()
	if t.running != nil { // a start mark printed by the running command
		t.mu.Unlock()
		return
	}
	t.seq++
	t.running = &Command{Seq: t.seq, Exit: -1, Running: true, Started: t.now()}
	t.untrusted = len(t.submitted) == 0
	t.own = len(t.submitted)
	if len(t.submitted) > 0 {
		if last := t.submitted[len(t.submitted)-1]; last.plain() {
			t.running.Line = strings.TrimSpace(last.text)
		}
	}
	c, notify := *t.running, !t.untrusted
	t.mu.Unlock()
	if notify {
		t.changed(c)
	}
}

func (t *Tracker) end(args []string) {
	t.mu.Lock()
	t.prompts++
	number, line := historyEntry(t.entry)
	inHistory := number != t.lastEntry
	t.lastEntry = number
	r := t.running
	if r == nil {
		// No command is running: the first prompt, an empty line, or a mark
		// printed after the command's own end. Without an Enter since, the
		// last command printed it: void that command.
		voided, ok := Command{}, false
		if !t.entered && len(t.cmds) > 0 {
			voided, ok = t.cmds[len(t.cmds)-1], true
			t.cmds = t.cmds[:len(t.cmds)-1]
		}
		t.submitted, t.entered = nil, false
		t.mu.Unlock()
		if ok {
			voided.Voided = true
			t.changed(voided)
		}
		return
	}
	// The lines entered before the command started are its own (and those
	// typed into an earlier program); the lines after the one it took were
	// typed ahead: they are the shell's next commands, or were input to this
	// one, which kindlab cannot tell apart.
	own := t.submitted[:min(t.own, len(t.submitted))]
	typed, took, ok := agreeing(own, line, inHistory, t.accepted)
	if !ok {
		took = len(own)
	}
	t.submitted = slices.Clone(t.submitted[took:])
	t.running, t.own, t.entered = nil, 0, len(t.submitted) > 0
	r.Running, r.Ended = false, t.now()
	r.Exit, r.Pipe = exitStatus(args)
	switch {
	case t.untrusted:
	case ok && inHistory:
		r.Line = line
	case ok: // not in history: it began with a space
		r.Line = strings.TrimSpace(typed.text)
	default:
		t.untrusted = true
	}
	if t.untrusted {
		t.untrusted = false
		t.mu.Unlock()
		return
	}
	if len(t.accepted) >= maxAccepted {
		for line := range t.accepted { // forget one: a line recalled from history after this many is rare
			delete(t.accepted, line)
			break
		}
	}
	t.accepted[normalize(r.Line)] = true
	if len(t.cmds) == MaxCommands {
		t.cmds = slices.Delete(t.cmds, 0, 1)
	}
	t.cmds = append(t.cmds, *r)
	c := *r
	t.mu.Unlock()
	t.changed(c)
}

func (t *Tracker) changed(c Command) {
	if t.onChange != nil {
		t.onChange(c)
	}
}

// exitStatus reads an end mark's "<exit>;<pipestatus>".
func exitStatus(args []string) (exit int, pipe []int) {
	exit = -1
	if len(args) > 0 {
		if n, err := strconv.Atoi(args[0]); err == nil {
			exit = n
		}
	}
	if len(args) > 1 {
		for f := range strings.FieldsSeq(args[1]) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return exit, nil
			}
			pipe = append(pipe, n)
		}
	}
	return exit, pipe
}

// historyEntry splits bash's "  12  kubectl get pods" into its number and line.
func historyEntry(s string) (number, line string) {
	s = strings.TrimLeft(s, " ")
	number, line, _ = strings.Cut(s, " ")
	return number, strings.TrimLeft(line, " ")
}

// agreeing finds the lines entered for a command among submitted, and the
// end of them: the last line, or the last few for a command continued over
// lines (input typed into the previous command, say an interactive program,
// comes before them); failing that, the same from an earlier line on, when
// the lines after it were typed ahead before the command started. With
// inHistory the shell reported line and they must agree with it; without, the
// command is not in the history and they must be plain typing.
// Lines longer than MaxLine together are not a command line kindlab replays.
func agreeing(submitted []typedLine, line string, inHistory bool, accepted map[string]bool) (typedLine, int, bool) {
	for end := len(submitted); end > 0; end-- {
		size := 0
		for i := end - 1; i >= 0; i-- {
			if size += len(submitted[i].text) + 1; size > MaxLine+1 {
				break
			}
			typed := joinLines(submitted[i:end])
			if inHistory && typed.agrees(line, accepted) || !inHistory && typed.plain() {
				return typed, end, true
			}
		}
	}
	return typedLine{}, 0, false
}

// typedLine is one line the learner entered, as far as kindlab can replay the
// line editor: the text, where Tab was pressed, and whether keys that kindlab
// does not replay (arrows, history, Ctrl-R) were used.
type typedLine struct {
	text   string
	tabs   []int // byte offsets in text where Tab was pressed
	edited bool
}

func (l typedLine) plain() bool {
	return !l.edited && len(l.tabs) == 0 && strings.TrimSpace(l.text) != ""
}

func joinLines(lines []typedLine) typedLine {
	var out typedLine
	for i, l := range lines {
		if i > 0 {
			out.text += "\n"
		}
		for _, tab := range l.tabs {
			out.tabs = append(out.tabs, len(out.text)+tab)
		}
		out.text += l.text
		out.edited = out.edited || l.edited
	}
	return out
}

// agrees reports whether line, reported by the shell, is what was typed.
func (l typedLine) agrees(line string, accepted map[string]bool) bool {
	want := normalize(line)
	switch {
	case want == "":
		return false
	case l.edited:
		typed := normalize(l.text)
		return accepted[want] || (typed != "" && subsequence(typed, want))
	case len(l.tabs) > 0:
		return tabsAgree(l, want)
	}
	return normalize(l.text) == want
}

// tabsAgree: the typed pieces between Tabs appear in order in line, the first
// at its start and the last at its end unless Tab was pressed last.
func tabsAgree(l typedLine, line string) bool {
	var expr strings.Builder
	expr.WriteString("^")
	from := 0
	for _, at := range append(slices.Clone(l.tabs), len(l.text)) {
		expr.WriteString(regexp.QuoteMeta(collapse(l.text[from:at])))
		if at < len(l.text) || at == l.tabs[len(l.tabs)-1] {
			expr.WriteString(".*?")
		}
		from = at
	}
	expr.WriteString("$")
	re, err := regexp.Compile(expr.String())
	return err == nil && re.MatchString(line)
}

// subsequence reports whether every rune of sub appears in s, in order.
func subsequence(sub, s string) bool {
	for _, r := range sub {
		i := strings.IndexRune(s, r)
		if i < 0 {
			return false
		}
		s = s[i+utf8.RuneLen(r):]
	}
	return true
}

var lineContinuation = regexp.MustCompile(`\\\r?\n`)

// normalize makes a command line comparable: continuations joined, runs of
// white space one space, no space at either end.
func normalize(s string) string {
	return strings.TrimSpace(collapse(lineContinuation.ReplaceAllString(s, " ")))
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") + trailingSpace(s) }

func trailingSpace(s string) string {
	if s != "" && strings.TrimRight(s, " \t\n") != s && strings.TrimSpace(s) != "" {
		return " "
	}
	return ""
}
