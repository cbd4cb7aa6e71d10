package cluster

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A node killed while runc inside it was starting a container (a cluster
// deleted as its pool refilled, say) can leave that container's cgroup
// frozen: runc freezes a cgroup while it sets it up. Frozen processes do not
// die, not even of SIGKILL, so the node's container never exits and Docker
// cannot remove it ("did not receive an exit event"). Delete then thaws every
// cgroup below the node's own and tries again. This needs kindlab on the
// Docker engine's host with write access to its cgroups (root), as kind does.

// The cgroup file systems thawNested looks in, and how each says frozen.
var freezers = []struct {
	root, file string
	frozen     []string
	thawed     string
}{
	{"/sys/fs/cgroup/freezer", "freezer.state", []string{"FROZEN", "FREEZING"}, "THAWED"}, // cgroup v1
	{"/sys/fs/cgroup", "cgroup.freeze", []string{"1"}, "0"},                               // cgroup v2
}

// thawNested thaws the frozen cgroups below the cgroups of the container with
// the full ID id, under sysfs (/sys/fs/cgroup's parent: "/" but in tests). It
// returns how many it thawed.
func thawNested(sysfs, id string) (int, error) {
	thawed := 0
	var errs []error
	for _, f := range freezers {
		root := filepath.Join(sysfs, f.root)
		for _, top := range containerCgroups(root, id) {
			err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
				if err != nil || !d.IsDir() || path == top { // the node's own: Docker's pause, if any
					return err
				}
				state, err := os.ReadFile(filepath.Join(path, f.file))
				if err != nil || !slices.Contains(f.frozen, strings.TrimSpace(string(state))) {
					return nil // not a freezer cgroup, or not frozen
				}
				if err := os.WriteFile(filepath.Join(path, f.file), []byte(f.thawed), 0); err != nil {
					return err
				}
				thawed++
				return nil
			})
			errs = append(errs, err)
		}
	}
	return thawed, errors.Join(errs...)
}

// containerCgroups finds the cgroup folders of container id under root, a few
// levels down: docker/<id> (cgroupfs driver) or system.slice/docker-<id>.scope
// (systemd driver).
func containerCgroups(root, id string) []string {
	var found []string
	if len(id) < 12 {
		return nil
	}
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Contains(d.Name(), id) {
			found = append(found, path)
			return filepath.SkipDir
		}
		if strings.Count(strings.TrimPrefix(path, root), string(filepath.Separator)) >= 2 {
			return filepath.SkipDir
		}
		return nil
	})
	return found
}
