package workstation

import (
	"archive/tar"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// copyServer answers pods/exec like a kubelet whose tar succeeds, keeping
// the names in each tar stream it is sent.
type copyServer struct {
	mu     sync.Mutex
	copies [][]string
}

func (s *copyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	channels := []wsstream.ChannelType{wsstream.ReadChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.IgnoreChannel}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		"v5.channel.k8s.io": {Binary: true, Channels: channels},
	})
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return
	}
	defer conn.Close()
	var names []string
	tr := tar.NewReader(streams[0])
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		names = append(names, h.Name)
	}
	io.Copy(io.Discard, streams[0])
	s.mu.Lock()
	s.copies = append(s.copies, names)
	s.mu.Unlock()
	b, _ := json.Marshal(metav1.Status{Status: metav1.StatusSuccess})
	streams[3].Write(b)
}

// PlaceFiles copies nothing when the workstation's catalog holds exactly the
// lab's files, and copies them (with the marker) otherwise.
func TestPlaceFiles(t *testing.T) {
	files := map[string][]byte{"web.yaml": []byte("web"), "api.yaml": []byte("api")}
	tests := []struct {
		name    string
		catalog map[string][]byte // nil: no ConfigMap
		copied  bool
	}{
		{"catalog holds the files", map[string][]byte{"a_web.yaml": []byte("web"), "a_api.yaml": []byte("api"), "b_x.yaml": nil}, false},
		{"no catalog", nil, true},
		{"a file changed since", map[string][]byte{"a_web.yaml": []byte("old web"), "a_api.yaml": []byte("api")}, true},
		{"a file missing", map[string][]byte{"a_web.yaml": []byte("web")}, true},
		{"a file the lab no longer has", map[string][]byte{"a_web.yaml": []byte("web"), "a_api.yaml": []byte("api"), "a_gone.yaml": nil}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &copyServer{}
			hs := httptest.NewServer(srv)
			defer hs.Close()
			c := mustNew(t, &rest.Config{Host: hs.URL})
			if tt.catalog == nil {
				c.Client = fake.NewClientset()
			} else {
				c.Client = fake.NewClientset(Catalog(tt.catalog))
			}
			copied, err := c.PlaceFiles(t.Context(), "a", files)
			if err != nil || copied != tt.copied {
				t.Fatalf("PlaceFiles = %v, %v; want %v, nil", copied, err, tt.copied)
			}
			var want [][]string
			if tt.copied {
				want = [][]string{{FilesMarker, "api.yaml", "web.yaml"}}
			}
			if !equalCopies(srv.copies, want) {
				t.Errorf("copied %q; want %q", srv.copies, want)
			}
		})
	}
}

func equalCopies(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], ",") != strings.Join(b[i], ",") {
			return false
		}
	}
	return true
}

// The first shell copies its lab's files from the catalog into home, over
// none of the learner's own; later shells copy nothing (the learner may have
// deleted or edited some). This is terminal.rc in a real bash.
func TestShellCopiesLabFiles(t *testing.T) {
	catalog, home := t.TempDir(), t.TempDir()
	for name, data := range map[string]string{"a_web.yaml": "web", "a_api.yaml": "api", "ab_x.yaml": "other lab", "b_web.yaml": "other lab"} {
		if err := os.WriteFile(filepath.Join(catalog, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rc := filepath.Join(t.TempDir(), "terminal.rc")
	if err := os.WriteFile(rc, []byte(strings.ReplaceAll(terminalRC(t), "/kindlab-labs", catalog)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "api.yaml"), []byte("the learner's"), 0o644); err != nil {
		t.Fatal(err)
	}
	shell := func() {
		cmd := exec.Command("bash", "--rcfile", rc, "-i")
		cmd.Env = append(os.Environ(), "HOME="+home, "KINDLAB_LAB=a")
		cmd.Stdin = strings.NewReader("echo lab=${KINDLAB_LAB-unset}\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "lab=unset") {
			t.Fatalf("shell: %v\n%s", err, out)
		}
	}
	shell()
	want := map[string]string{"web.yaml": "web", "api.yaml": "the learner's", FilesMarker: ""}
	if got := readDir(t, home); !maps.Equal(got, want) {
		t.Errorf("home after the first shell = %q; want %q", got, want)
	}
	os.Remove(filepath.Join(home, "web.yaml"))
	shell()
	delete(want, "web.yaml")
	if got := readDir(t, home); !maps.Equal(got, want) {
		t.Errorf("home after a second shell = %q; want %q (what the learner deleted stays deleted)", got, want)
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.Name() == ".bash_history" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}
