package workstation

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kindlab/kindlab/labs"
)

// LabFiles reads the files a lab copies into the workstation (lab.yaml's files,
// paths in manifests), by base name.
func LabFiles(manifests fs.FS, lab *labs.Lab) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, f := range lab.Files {
		data, err := fs.ReadFile(manifests, f)
		if err != nil {
			return nil, fmt.Errorf("lab %s: file %s: %w", lab.ID, f, err)
		}
		base := path.Base(f)
		if _, dup := files[base]; dup {
			return nil, fmt.Errorf("lab %s: two files named %s", lab.ID, base)
		}
		files[base] = data
	}
	return files, nil
}

// CopyFiles writes files (by name) into the learner's home folder, as a tar
// stream through exec: there at once, and the learner may edit them.
func (c *Conn) CopyFiles(ctx context.Context, files map[string][]byte) error {
	if len(files) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	ex, err := c.executor(Namespace, Pod, &corev1.PodExecOptions{
		Container: Container, Command: []string{"tar", "-x", "-m", "-C", Home, "-f", "-"},
		Stdin: true, Stdout: true, Stderr: true,
	})
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: &buf, Stdout: io.Discard, Stderr: &stderr}); err != nil {
		return fmt.Errorf("copy lab files into the workstation: %w: %s", err, stderr.String())
	}
	return nil
}
