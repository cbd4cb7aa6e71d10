package workstation

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"
)

// A lab's files reach the learner's home folder one of two ways. The fast one:
// Prepare puts the files of every lab in the catalog into the ConfigMap
// CatalogConfigMap (mounted read-only in the workstation at /kindlab-labs, keys
// <lab>_<name>), and the learner's first shell copies its lab's files into home
// (terminal.rc) before its first prompt, so a claim costs one API read
// (PlaceFiles) and no exec. The other: CopyFiles, a tar stream through an exec,
// for a cluster prepared with other files (an older catalog) or none (validate).
// Both leave FilesMarker in home, so the files come once and a learner's
// deletions or edits stay.
const (
	CatalogConfigMap = "lab-files"
	FilesMarker      = ".kindlab-files"
)

// CatalogKey is a lab file's key in CatalogConfigMap. Lab IDs have no "_"
// (labs.validID), so the lab's prefix is unambiguous.
func CatalogKey(lab, name string) string { return lab + "_" + name }

// Catalog is the ConfigMap of files (from CatalogFiles) Prepare makes before
// the workstation.
func Catalog(files map[string][]byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: CatalogConfigMap, Namespace: Namespace},
		BinaryData: files,
	}
}

// PlaceFiles readies the lab's files for the learner's first shell: when the
// workstation's catalog holds exactly these files, the shell copies them (see
// Terminal); otherwise they are copied in now (CopyFiles), and it says so.
func (c *Conn) PlaceFiles(ctx context.Context, lab string, files map[string][]byte) (copied bool, err error) {
	if len(files) == 0 {
		return false, nil
	}
	cm, err := c.Client.CoreV1().ConfigMaps(Namespace).Get(ctx, CatalogConfigMap, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("read the workstation's lab files: %w", err)
	}
	if err == nil && catalogHas(cm, lab, files) {
		return false, nil
	}
	return true, c.CopyFiles(ctx, files)
}

// catalogHas reports whether cm holds the lab's files, byte for byte, and no others.
func catalogHas(cm *corev1.ConfigMap, lab string, files map[string][]byte) bool {
	n := 0
	for key := range cm.BinaryData {
		if strings.HasPrefix(key, lab+"_") {
			n++
		}
	}
	if n != len(files) {
		return false
	}
	for name, data := range files {
		if have, ok := cm.BinaryData[CatalogKey(lab, name)]; !ok || !bytes.Equal(have, data) {
			return false
		}
	}
	return true
}

// CopyFiles writes files (by name) into the learner's home folder, as a tar
// stream through exec: there at once, and the learner may edit them.
func (c *Conn) CopyFiles(ctx context.Context, files map[string][]byte) error {
	if len(files) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files = maps.Clone(files)
	files[FilesMarker] = nil
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
