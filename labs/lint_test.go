package labs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const testManifests = "testdata/valid/manifests"

// TestLintBroken lints each catalog under testdata/broken and expects its
// problems, exactly and all at once.
func TestLintBroken(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{
			name: "malformed-yaml",
			want: []string{
				"demo/01-step.md:6: invalid YAML: did not find expected '-' indicator",
				"demo/lab.yaml:5: invalid YAML: did not find expected key",
			},
		},
		{
			name: "unknown-key",
			want: []string{
				"demo/01-step.md:3: unknown key \"solutions\" (did you mean \"solution\"?)",
				"demo/01-step.md:10: check pods: unknown key \"color\"",
				"demo/01-step.md:17: check svc: fields item 1: needs equals or matches",
				"demo/01-step.md:18: check svc: fields: unknown key \"equal\" (did you mean \"equals\"?)",
				"demo/lab.yaml:1: missing title",
				"demo/lab.yaml:2: unknown key \"titel\" (did you mean \"title\"?)",
			},
		},
		{
			name: "dns-options",
			want: []string{
				"demo/01-step.md:9: check none-but-service: resolves: false expects no answer; drop service, answers and records",
				"demo/01-step.md:15: check bad-answers: answers \"podIPs\"; use clusterIP or readyPods",
				"demo/01-step.md:21: check zero-records: records 0; a name that resolves has at least 1 record (use resolves: false for none)",
			},
		},
		{
			name: "unknown-kind",
			want: []string{
				"demo/01-step.md:5: check pods: unknown kind \"podz\"; use one of resource, pods, endpoints, replaced, exec, http, dns, command, script",
				"demo/01-step.md:7: check nokind: missing kind; use one of resource, pods, endpoints, replaced, exec, http, dns, command, script",
			},
		},
		{
			name: "missing-manifest",
			want: []string{
				"demo/lab.yaml:5: files: services-dns/nope.yaml does not exist under manifests/",
				"demo/lab.yaml:6: files: services-dns is a folder; list files",
			},
		},
		{
			name: "missing-step",
			want: []string{
				"demo/lab.yaml:5: step file 02-missing.md does not exist",
			},
		},
		{
			name: "everything",
			want: []string{
				"demo/01-step.md:3: estimate: invalid duration \"3\": use a Go duration like 90s or 3m",
				"demo/01-step.md:7: check a: invalid selector \"app in (\": unable to parse requirement: found '', expected: ',', ')' or identifier",
				"demo/01-step.md:8: check a: ready: expected a whole number, found \"one\"",
				"demo/01-step.md:9: check a: id repeated (first at line 5)",
				"demo/01-step.md:13: check res: missing resource (required for kind resource)",
				"demo/01-step.md:13: check res: missing name (required for kind resource)",
				"demo/01-step.md:17: check res: fields item 1: path \".spec.type\" is not a JSONPath template; write it in braces, e.g. {.spec.type}",
				"demo/01-step.md:19: check res: fields item 2: invalid JSONPath \"{.spec.ports[}\": unterminated array",
				"demo/01-step.md:19: check res: fields item 2: invalid regexp in matches: error parsing regexp: missing closing ): `(`",
				"demo/01-step.md:23: check ex: target \"svc/homepage\": use deploy/<name>, pod/<name> or a label selector like app=sleep",
				"demo/01-step.md:24: check ex: missing command (required for kind exec)",
				"demo/01-step.md:25: check ex: matches: unknown placeholder \"nodeIP\"; use {{clusterIP \"service\"}} or {{podIP \"selector\"}}",
				"demo/01-step.md:28: check hist: \"kubectl get pods | head\": a model command is one simple command, without ;, && or |",
				"demo/01-step.md:29: check Bad_ID: id must be lowercase letters, digits and dashes",
				"demo/01-step.md:29: check Bad_ID: missing from (required for kind dns)",
				"demo/01-step.md:29: check Bad_ID: missing service (required for kind dns)",
				"demo/01-step.md:34: check ep: needs ready: N, matchPods: true and/or newPods: true",
				"demo/01-step.md:38: check web: path must start with /",
				"demo/01-step.md:39: check web: status 99 is not an HTTP status",
				"demo/01-step.md:41: runnable block is empty; put the command to run in it",
				"demo/01-step.md:44: runnable block holds 2 commands; put one command per block (continue long lines with a trailing \\)",
				"demo/01-step.md:49: runnable blocks are marked ```bash run, not ```sh run",
				"demo/02-step.md:2: step has no Run buttons and no solution; add a ```bash run block, or list the commands a learner types under solution",
				"demo/02-step.md:3: step has no checks; add one, or set manual: true with checks: [] for a step that only explains",
				"demo/03-step.md:10: code fence ``` is never closed",
				"demo/extra.md: step file is not listed under steps in lab.yaml",
				"demo/lab.yaml:1: id \"other\" does not match the folder name \"demo\"",
				"demo/lab.yaml:3: duration: invalid duration \"30 minutes\": use a Go duration like 90s or 3m",
				"demo/lab.yaml:8: steps: \"notes.txt\" must be a markdown file name in the lab's folder, like 01-deploy.md",
				"demo/lab.yaml:10: apps: service \"Bad_Name\" must be the name of a Service (lowercase letters, digits and dashes)",
				"demo/lab.yaml:10: apps: port \"0\" must be a number from 1 to 65535 or a port's name",
				"demo/lab.yaml:10: apps: step \"99-nope.md\" of Bad_Name is not listed under steps",
			},
		},
		{
			name: "no-front-matter",
			want: []string{
				"demo/01-step.md:1: a step file starts with front matter between --- lines (title, checks, solution)",
			},
		},
		{
			name: "empty-folder",
			want: []string{
				"demo/lab.yaml: missing: every folder of the catalog is a lab and needs a lab.yaml",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := Lint(os.DirFS(filepath.Join("testdata/broken", tt.name)), os.DirFS(testManifests))
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Lint(%s) =\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestLoadCatalogValid(t *testing.T) {
	cat, err := LoadCatalog(os.DirFS("testdata/valid/catalog"), os.DirFS(testManifests))
	if err != nil {
		t.Fatalf("LoadCatalog: %v", err)
	}
	if len(cat.Labs) != 1 {
		t.Fatalf("got %d labs; want 1", len(cat.Labs))
	}
	lab, ok := cat.Lab("services-dns")
	if !ok {
		t.Fatal(`Lab("services-dns") not found`)
	}
	if _, ok := cat.Lab("nope"); ok {
		t.Error(`Lab("nope") found`)
	}
	if lab.Title != "Services and DNS" || lab.Duration != Duration(30*time.Minute) || lab.Namespace != "default" {
		t.Errorf("lab = %q %v %q", lab.Title, lab.Duration, lab.Namespace)
	}
	if want := []string{"services-dns/homepage.yaml", "services-dns/check.sh"}; !reflect.DeepEqual(lab.Files, want) {
		t.Errorf("Files = %q; want %q", lab.Files, want)
	}
	var ids []string
	for _, s := range lab.Steps {
		ids = append(ids, s.ID)
	}
	if want := []string{"01-deploy", "02-service", "03-explain", "04-history"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("step ids = %q; want %q", ids, want)
	}

	deploy := lab.Steps[0]
	if deploy.Title != "Deploy the homepage" || deploy.Estimate != Duration(3*time.Minute) || deploy.BodyLine != 25 {
		t.Errorf("step 1 = %q %v body line %d", deploy.Title, deploy.Estimate, deploy.BodyLine)
	}
	wantChecks := []Check{
		{ID: "homepage-ready", Kind: KindPods, Timeout: DefaultCheckTimeout, Line: 5,
			Pods: &PodsCheck{Selector: "app=signup,component=homepage", Ready: ptr(1)}},
		{ID: "homepage-deployment", Kind: KindResource, Timeout: Duration(90 * time.Second), Line: 9,
			Resource: &ResourceCheck{APIVersion: "apps/v1", Resource: "deployments", Name: "homepage", Fields: []FieldMatch{
				{Path: "{.spec.replicas}", Equals: ptr("1"), Line: 16},
				{Path: "{.spec.template.spec.containers[0].image}", Matches: "^kindlab/homepage", Line: 18},
			}}},
	}
	if !reflect.DeepEqual(deploy.Checks, wantChecks) {
		t.Errorf("checks = %+v; want %+v", deploy.Checks, wantChecks)
	}
	wantBlocks := []RunnableBlock{
		{Command: "kubectl apply -f homepage.yaml", Line: 27},
		{Command: "kubectl get pods --watch \\\n  -l app=signup", Line: 33},
		{Command: "kubectl get pods", Interrupt: true, Line: 38},
	}
	if !reflect.DeepEqual(deploy.Runnable, wantBlocks) {
		t.Errorf("runnable = %+v; want %+v", deploy.Runnable, wantBlocks)
	}
	if want := []string{"kubectl apply -f homepage.yaml"}; !reflect.DeepEqual(deploy.Solution, want) {
		t.Errorf("solution = %q", deploy.Solution)
	}
	if want := []string{"Look at the labels in homepage.yaml."}; !reflect.DeepEqual(deploy.Hints, want) {
		t.Errorf("hints = %q", deploy.Hints)
	}
	if !strings.HasPrefix(deploy.Body, "Apply the manifest.") {
		t.Errorf("body starts %q", deploy.Body[:20])
	}

	svc := lab.Steps[1].Checks
	wantSvc := []Check{
		{ID: "endpoints", Kind: KindEndpoints, Timeout: DefaultCheckTimeout, Line: 4,
			Endpoints: &EndpointsCheck{Service: "homepage", Ready: ptr(1), MatchPods: true}},
		{ID: "replaced", Kind: KindReplaced, Timeout: DefaultCheckTimeout, Line: 9,
			Replaced: &ReplacedCheck{Selector: "app=signup", SameCount: true}},
		{ID: "curl", Kind: KindExec, Timeout: DefaultCheckTimeout, Line: 13,
			Exec: &ExecCheck{Target: "deploy/sleep", Container: "sleep", Command: "curl -s homepage",
				Contains: `{{clusterIP "homepage"}}`, Matches: `IP {{podIP "app=signup"}}$`, NotContains: "error"}},
		{ID: "http", Kind: KindHTTP, Namespace: "web", Timeout: DefaultCheckTimeout, Line: 21,
			HTTP: &HTTPCheck{Service: "homepage", Port: "80", Path: "/", Status: 200}},
		{ID: "dns", Kind: KindDNS, Timeout: DefaultCheckTimeout, Line: 26,
			DNS: &DNSCheck{Name: "homepage.default", From: "app=sleep", Service: "homepage"}},
	}
	if !reflect.DeepEqual(svc, wantSvc) {
		t.Errorf("checks = %+v; want %+v", svc, wantSvc)
	}
	if s := lab.Steps[2]; !s.Manual || len(s.Checks) != 0 {
		t.Errorf("step 3 manual=%v checks=%d", s.Manual, len(s.Checks))
	}
	hist := lab.Steps[3].Checks
	if c := hist[0].Command; c == nil || !reflect.DeepEqual(c.Command, OneOrMore{"kubectl port-forward svc/homepage 8080:80"}) ||
		!c.Running || c.Output != "Forwarding from" || !strings.Contains(hist[1].Script.Run, "FAIL: homepage.yaml is gone") {
		t.Errorf("command/script checks = %+v %+v", hist[0].Command, hist[1].Script)
	}
}

func TestLoadCatalogError(t *testing.T) {
	_, err := LoadCatalog(os.DirFS("testdata/broken/missing-step"), os.DirFS(testManifests))
	var le *LintError
	if !errors.As(err, &le) {
		t.Fatalf("LoadCatalog error = %v; want a *LintError", err)
	}
	want := "lab catalog has 1 problem(s):\ndemo/lab.yaml:5: step file 02-missing.md does not exist"
	if err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"with line", Problem{"a/lab.yaml", 3, "bad"}, "a/lab.yaml:3: bad"},
		{"whole file", Problem{"a/x.md", 0, "unlisted"}, "a/x.md: unlisted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestLintSyntaxErrorLines(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string
	}{
		{"bad indent", "id: demo\ntitle: Demo\nsteps:\n  - 01.md\n files: [x]\n", "demo/lab.yaml:5: invalid YAML: did not find expected key"},
		{"stray dash", "id: demo\n- x\n", "demo/lab.yaml:2: invalid YAML: did not find expected key"},
		{"unclosed flow", "id: demo\ntitle: [a, b\nsteps: []\n", "demo/lab.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		{"tab", "id: demo\n\ttitle: x\n", "demo/lab.yaml:2: invalid YAML: found a tab character that violates indentation"},
		{"two documents", "id: demo\ntitle: Demo\nsteps: [01.md]\n---\nid: x\n", "demo/lab.yaml:4: more than one YAML document; remove the extra ---"},
		{"not a mapping", "- a\n- b\n", "demo/lab.yaml:1: expected a mapping of keys, found a list"},
		{"empty", "", "demo/lab.yaml: lab.yaml is empty; it needs id, title and steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"demo/lab.yaml": {Data: []byte(tt.yaml)}}
			probs := Lint(fsys, fstest.MapFS{})
			if !slices.ContainsFunc(probs, func(p Problem) bool { return p.String() == tt.want }) {
				t.Errorf("Lint = %v; want %q among them", probs, tt.want)
			}
		})
	}
}

func TestParseStepRunnableBlocks(t *testing.T) {
	src := "---\ntitle: T\nchecks:\n  - {id: a, kind: script, run: \"true\"}\nsolution: [x]\n---\n" +
		"1. First\n\n   ```bash run\n   kubectl get pods\n   ```\n\n" +
		"~~~~bash run-interrupt\n# stop the watch first\nkubectl get svc |\n  grep homepage\n~~~~\n" +
		"````markdown\n```bash run\nnot a block\n```\n````\n"
	step, probs := ParseStep("lab/01.md", []byte(src))
	if len(probs) > 0 {
		t.Fatalf("problems: %v", probs)
	}
	want := []RunnableBlock{
		{Command: "kubectl get pods", Line: 9},
		{Command: "# stop the watch first\nkubectl get svc |\n  grep homepage", Interrupt: true, Line: 13},
	}
	if !reflect.DeepEqual(step.Runnable, want) {
		t.Errorf("Runnable = %+v; want %+v", step.Runnable, want)
	}
	if step.ID != "01" || step.File != "01.md" || step.BodyLine != 7 {
		t.Errorf("ID %q File %q BodyLine %d", step.ID, step.File, step.BodyLine)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		name, in string
		want     Duration
		err      bool
	}{
		{"minutes", "3m", Duration(3 * time.Minute), false},
		{"mixed", "1h30m", Duration(90 * time.Minute), false},
		{"no unit", "60", 0, true},
		{"negative", "-1s", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.err || d != tt.want {
				t.Errorf("UnmarshalText(%q) = %v, %v; want %v (error %v)", tt.in, d, err, tt.want, tt.err)
			}
		})
	}
	if b, _ := Duration(90 * time.Second).MarshalText(); string(b) != "1m30s" {
		t.Errorf("MarshalText = %q", b)
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name, in string
		want     Target
		err      bool
	}{
		{"deployment", "deploy/sleep", Target{Kind: TargetDeployment, Name: "sleep"}, false},
		{"pod", "pod/sleep-1", Target{Kind: TargetPod, Name: "sleep-1"}, false},
		{"selector", "app=sleep,tier!=db", Target{Kind: TargetSelector, Selector: "app=sleep,tier!=db"}, false},
		{"set selector", "app in (a,b)", Target{Kind: TargetSelector, Selector: "app in (a,b)"}, false},
		{"service", "svc/homepage", Target{}, true},
		{"bare word", "sleep", Target{}, true},
		{"no name", "deploy/", Target{}, true},
		{"bad selector", "app in (a", Target{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTarget(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("ParseTarget(%q) = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestPlaceholdersExpand(t *testing.T) {
	p := Placeholders{
		ClusterIP: func(svc string) (string, error) {
			if svc == "gone" {
				return "", errors.New("Service gone does not exist")
			}
			return "10.96.0.7", nil
		},
		PodIP: func(sel string) (string, error) { return "10.244.1.2", nil },
	}
	tests := []struct {
		name, in, want, err string
	}{
		{"plain", "hello", "hello", ""},
		{"both", `ip {{clusterIP "homepage"}} and {{ podIP "app=x" }}.`, "ip 10.96.0.7 and 10.244.1.2.", ""},
		{"lookup fails", `{{clusterIP "gone"}}`, "", "Service gone does not exist"},
		{"unknown", `{{nodeIP "x"}}`, "", `contains: unknown placeholder "nodeIP"; use {{clusterIP "service"}} or {{podIP "selector"}}`},
		{"malformed", `{{clusterIP homepage}}`, "", `contains: malformed placeholder; use {{clusterIP "service"}} or {{podIP "selector"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Expand("contains", tt.in)
			var msg string
			if err != nil {
				msg = err.Error()
			}
			if got != tt.want || msg != tt.err {
				t.Errorf("Expand(%q) = %q, %q; want %q, %q", tt.in, got, msg, tt.want, tt.err)
			}
		})
	}
}

func TestParseStepProblems(t *testing.T) {
	tests := []struct {
		name, checks string // YAML list items of checks:, indented by 2
		want         []string
	}{
		{
			name:   "resource",
			checks: "  - {id: a, kind: resource, apiVersion: apps/v1/x, resource: Services, name: n, absent: true, fields: [{path: '{.a}', equals: x}]}\n",
			want: []string{
				`s.md:4: check a: invalid apiVersion "apps/v1/x": use v1, apps/v1 and the like`,
				`s.md:4: check a: resource is the lowercase plural (e.g. services), not "Services"`,
				"s.md:4: check a: absent: true cannot be combined with fields",
			},
		},
		{
			name:   "counts",
			checks: "  - {id: a, kind: pods, selector: app=x, running: -1}\n  - {id: b, kind: pods, selector: app=x}\n",
			want: []string{
				"s.md:4: check a: running must not be negative",
				"s.md:5: check b: needs running: N and/or ready: N",
			},
		},
		{
			name:   "exec",
			checks: "  - {id: a, kind: exec, target: deploy/x, command: c, exitCode: 300, contains: '{{podIP \"a in (\"}}'}\n",
			want: []string{
				"s.md:4: check a: exitCode must be between 0 and 255",
				`s.md:4: check a: invalid selector "a in (": unable to parse requirement: found '', expected: ',', ')' or identifier`,
			},
		},
		{
			name:   "missing fields",
			checks: "  - {id: a, kind: dns, from: app=x}\n  - {id: b, kind: script}\n  - {id: c, kind: replaced}\n  - {id: d, kind: http}\n",
			want: []string{
				"s.md:4: check a: missing name (required for kind dns)",
				"s.md:4: check a: missing service (required for kind dns)",
				"s.md:5: check b: missing run (required for kind script)",
				"s.md:6: check c: missing selector (required for kind replaced)",
				"s.md:7: check d: missing service (required for kind http)",
			},
		},
		{
			name:   "wrong types",
			checks: "  - {id: a, kind: pods, selector: [app], ready: 1, min: maybe, timeout: 10}\n  - just a string\n",
			want: []string{
				"s.md:4: check a: timeout: invalid duration \"10\": use a Go duration like 90s or 3m",
				`s.md:4: check a: selector: expected a string, found a list`,
				`s.md:4: check a: min: expected true or false, found "maybe"`,
				"s.md:4: check a: missing selector (required for kind pods)",
				`s.md:5: check: expected a mapping of keys, found "just a string"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "---\ntitle: T\nchecks:\n" + tt.checks + "solution: [x]\n---\n"
			_, probs := ParseStep("s.md", []byte(src))
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseStep problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParseStepManual(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"explanation only", "---\ntitle: T\nmanual: true\nchecks: []\n---\nJust prose.\n", nil},
		{"manual with checks", "---\ntitle: T\nmanual: true\nchecks:\n  - {id: a, kind: script, run: 'true'}\nsolution: [x]\n---\n",
			[]string{"s.md:4: a manual step has no checks: set checks: [] or remove manual: true"}},
		{"empty solution command", "---\ntitle: T\nchecks:\n  - {id: a, kind: script, run: 'true'}\nsolution: ['', x]\n---\n",
			[]string{"s.md:5: solution: item 1 is empty"}},
		{"no front matter end", "---\ntitle: T\n", []string{"s.md:1: the front matter is never closed: end it with a --- line"}},
		{"repeated keys", "---\ntitle: T\nchecks: []\nchecks: []\ntitle: U\nmanual: true\n---\n",
			[]string{"s.md:3: checks is given twice; keep one list", `s.md:5: key "title" repeated (first at line 2)`}},
		{"empty front matter", "---\n---\nBody\n", []string{"s.md: front matter is empty; it needs a title, checks and a solution"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := ParseStep("s.md", []byte(tt.src))
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseStep problems = %q; want %q", got, tt.want)
			}
		})
	}
}
