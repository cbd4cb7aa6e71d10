package workshop

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/server/activity"
)

func TestWriteCSVRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		message string
		want    string // message read back; "" means unchanged
	}{
		{name: "plain", message: "pod is running"},
		{name: "empty", message: ""},
		{name: "commas", message: "want 3 replicas, got 1, retrying"},
		{name: "quotes", message: `container "web" is "CrashLoopBackOff"`},
		// encoding/csv's Reader turns \r\n inside a quoted field into \n.
		{name: "newlines", message: "line one\nline two\r\nline three", want: "line one\nline two\nline three"},
		{name: "all of them", message: "a,\"b\"\n,c\",\n\"\""},
		{name: "unicode", message: "Zoë — ✓ 山田"},
		{name: "leading space", message: "  indented"},
		{name: "formula", message: "=HYPERLINK(\"http://x\")", want: "'=HYPERLINK(\"http://x\")"},
		{name: "plus", message: "+1", want: "'+1"},
		{name: "minus", message: "-1 replicas", want: "'-1 replicas"},
		{name: "at", message: "@SUM(A1)", want: "'@SUM(A1)"},
		{name: "tab", message: "\tx", want: "'\tx"},
	}
	at := time.Date(2026, 3, 4, 9, 0, 0, 123456789, time.FixedZone("CET", 3600))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := []activity.Event{
				{At: at, Session: "s1", Name: "Ada, \"the\" first", Kind: activity.KindJoin},
				{At: at.Add(time.Second), Session: "s1", Kind: activity.KindCheck, Step: 2, CheckID: "pod-ready", Status: check.Fail, Message: tt.message},
			}
			var buf bytes.Buffer
			if err := WriteCSV(&buf, events); err != nil {
				t.Fatalf("WriteCSV: %v", err)
			}
			records, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatalf("csv.ReadAll(%q): %v", buf.String(), err)
			}
			if len(records) != 3 || !slices.Equal(records[0], ExportColumns()) {
				t.Fatalf("records = %q; want a header %q and 2 rows", records, ExportColumns())
			}
			want := tt.want
			if want == "" {
				want = tt.message
			}
			wantRows := [][]string{
				{"2026-03-04T08:00:00.123456789Z", "s1", "Ada, \"the\" first", "join", "", "", "", ""},
				{"2026-03-04T08:00:01.123456789Z", "s1", "", "check", "2", "pod-ready", "fail", want},
			}
			for i, w := range wantRows {
				if !slices.Equal(records[i+1], w) {
					t.Errorf("row %d = %q; want %q", i+1, records[i+1], w)
				}
			}
			got, err := time.Parse(time.RFC3339Nano, records[2][0])
			if err != nil || !got.Equal(events[1].At) {
				t.Errorf("at %q parses to %v, %v; want %v", records[2][0], got, err, events[1].At)
			}
			if step, err := strconv.Atoi(records[2][4]); err != nil || step != 2 {
				t.Errorf("step %q; want 2", records[2][4])
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name   string
		events []activity.Event
		want   []map[string]any
	}{
		{name: "none", events: nil, want: []map[string]any{}},
		{name: "two", events: []activity.Event{
			{At: time.Date(2026, 3, 4, 9, 0, 0, 5, time.UTC), Session: "s1", Name: "Ada", Kind: activity.KindJoin},
			{At: time.Date(2026, 3, 4, 9, 1, 0, 0, time.UTC), Session: "s1", Kind: activity.KindCheck, Step: 1, CheckID: "c", Status: check.Fail, Message: "=1,\"x\"\n"},
		}, want: []map[string]any{
			{"at": "2026-03-04T09:00:00.000000005Z", "session": "s1", "name": "Ada", "kind": "join", "step": 0.0, "check": "", "status": "", "message": ""},
			{"at": "2026-03-04T09:01:00Z", "session": "s1", "name": "", "kind": "check", "step": 1.0, "check": "c", "status": "fail", "message": "=1,\"x\"\n"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteJSON(&buf, tt.events); err != nil {
				t.Fatalf("WriteJSON: %v", err)
			}
			var got []map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("json.Unmarshal(%q): %v", buf.String(), err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d records; want %d", len(got), len(tt.want))
			}
			for i := range got {
				for k, v := range tt.want[i] {
					if got[i][k] != v {
						t.Errorf("record %d %q = %#v; want %#v", i, k, got[i][k], v)
					}
				}
				if len(got[i]) != len(ExportColumns()) {
					t.Errorf("record %d has keys %v; want exactly %v", i, got[i], ExportColumns())
				}
			}
		})
	}
}
