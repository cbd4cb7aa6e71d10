package labs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func manifestsFS() fsDir { return fsDir("testdata/valid/manifests") }

type fsDir = string

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
			name: "unknown-kind",
			want: []string{
				"demo/01-step.md:5: check pods: unknown kind \"podz\"; use one of resource, pods, endpoints, replaced, exec, http, dns, history, script",
				"demo/01-step.md:7: check nokind: missing kind; use one of resource, pods, endpoints, replaced, exec, http, dns, history, script",
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
				"demo/01-step.md:2: step has no solution; list the commands a learner types under solution",
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
				"demo/01-step.md:28: check hist: invalid regexp in pattern: error parsing regexp: missing closing ): `kubectl (`",
				"demo/01-step.md:29: check Bad_ID: id must be lowercase letters, digits and dashes",
				"demo/01-step.md:29: check Bad_ID: missing from (required for kind dns)",
				"demo/01-step.md:29: check Bad_ID: missing service (required for kind dns)",
				"demo/01-step.md:34: check ep: needs ready: N and/or matchPods: true",
				"demo/01-step.md:38: check web: path must start with /",
				"demo/01-step.md:39: check web: status 99 is not an HTTP status",
				"demo/01-step.md:41: runnable block is empty; put the command to run in it",
				"demo/01-step.md:44: runnable block holds 2 commands; put one command per block (continue long lines with a trailing \\)",
				"demo/01-step.md:49: runnable blocks are marked ```bash run, not ```sh run",
				"demo/02-step.md:2: step has no solution; list the commands a learner types under solution",
				"demo/02-step.md:3: step has no checks; add one, or set manual: true with checks: [] for a step that only explains",
				"demo/03-step.md:2: manual step has runnable blocks but no solution; list the commands under solution",
				"demo/03-step.md:10: code fence ``` is never closed",
				"demo/extra.md: step file is not listed under steps in lab.yaml",
				"demo/lab.yaml:1: id \"other\" does not match the folder name \"demo\"",
				"demo/lab.yaml:3: duration: invalid duration \"30 minutes\": use a Go duration like 90s or 3m",
				"demo/lab.yaml:8: steps: \"notes.txt\" must be a markdown file name in the lab's folder, like 01-deploy.md",
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
			probs := Lint(os.DirFS(filepath.Join("testdata/broken", tt.name)), os.DirFS(manifestsFS()))
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
