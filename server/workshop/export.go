package workshop

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/kindlab/kindlab/server/activity"
)

// exportColumns are the columns of WriteCSV and the keys of WriteJSON.
var exportColumns = [...]string{"at", "session", "name", "kind", "step", "check", "status", "message"}

// ExportColumns returns the CSV header, in order.
func ExportColumns() []string { return exportColumns[:] }

// WriteCSV writes events as CSV with a header row (see ExportColumns): at in
// RFC 3339 with nanoseconds, UTC; step empty when 0. Fields are quoted as
// RFC 4180 requires (commas, quotes, newlines).
//
// Text fields that a spreadsheet would run as a formula (starting with =, +,
// -, @, tab or carriage return) get a leading apostrophe, as OWASP advises
// against CSV injection: learners choose their names and check messages
// quote their input. WriteJSON writes them unchanged.
func WriteCSV(w io.Writer, events []activity.Event) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(exportColumns[:]); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	rec := make([]string, len(exportColumns))
	for _, e := range events {
		rec[0] = e.At.UTC().Format(time.RFC3339Nano)
		rec[1] = defuse(e.Session)
		rec[2] = defuse(e.Name)
		rec[3] = defuse(string(e.Kind))
		rec[4] = ""
		if e.Step != 0 {
			rec[4] = strconv.Itoa(e.Step)
		}
		rec[5] = defuse(e.CheckID)
		rec[6] = defuse(string(e.Status))
		rec[7] = defuse(e.Message)
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

func defuse(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// exportRecord is one event in WriteJSON, with the CSV's columns as keys.
type exportRecord struct {
	At      string `json:"at"`
	Session string `json:"session"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Step    int    `json:"step"`
	Check   string `json:"check"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// WriteJSON writes events as a JSON array of objects keyed like the CSV
// columns, one object per line, streaming.
func WriteJSON(w io.Writer, events []activity.Event) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString("["); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	for i, e := range events {
		b, err := json.Marshal(exportRecord{
			At: e.At.UTC().Format(time.RFC3339Nano), Session: e.Session, Name: e.Name, Kind: string(e.Kind),
			Step: e.Step, Check: e.CheckID, Status: string(e.Status), Message: e.Message,
		})
		if err != nil {
			return fmt.Errorf("write json: %w", err)
		}
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
		bw.Write(b)
	}
	bw.WriteString("\n]\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
