package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultStateDir is kindlab's state folder (kubeconfig files, the database,
// the measured capacity): $KINDLAB_STATE, else $XDG_STATE_HOME/kindlab, else
// ~/.local/state/kindlab.
func DefaultStateDir() string {
	if d := os.Getenv("KINDLAB_STATE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "kindlab")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "kindlab-state")
	}
	return filepath.Join(home, ".local", "state", "kindlab")
}

// CapacityFile is the name, in kindlab's state folder, of the capacity that
// BenchmarkCapacity measured on this host.
const CapacityFile = "capacity.json"

// Capacity is how many learners this host served at work within the
// thresholds (p95 command end → green and keystroke echo), as measured.
type Capacity struct {
	Learners    int       `json:"learners"`
	Measured    time.Time `json:"measured"`
	CPUs        int       `json:"cpus"`          // the host's, when measured
	MemTotalMiB int       `json:"mem_total_mib"` // the host's, when measured
	GreenP95    string    `json:"green_p95"`     // at that number of learners
	EchoP95     string    `json:"echo_p95"`
}

// WriteCapacity stores c in the state folder dir.
func WriteCapacity(dir string, c Capacity) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, CapacityFile), append(data, '\n'), 0o600)
}

// readCapacity reads the measured capacity at path; ok is false when there is
// none. A file that is there but unreadable is an error.
func readCapacity(readFile func(string) ([]byte, error), path string) (c Capacity, ok bool, err error) {
	data, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, false, fmt.Errorf("%s: %w", path, err)
	}
	if c.Learners < 0 || c.CPUs <= 0 {
		return c, false, fmt.Errorf("%s: %d learners on %d CPUs is not a measurement", path, c.Learners, c.CPUs)
	}
	return c, true, nil
}
