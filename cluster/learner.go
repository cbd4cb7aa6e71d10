package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/remotecommand"
)

// Workstation names the learner's shell pod, made by Prepare.
const (
	WorkstationNamespace = "kindlab"
	WorkstationPod       = "workstation"
	WorkstationContainer = "shell"
	LearnerUser          = "system:serviceaccount:kindlab:learner"
	fieldManager         = "kindlab"
)

// Prepare sets a cluster up for a learner: the platform objects from platformFS
// (learner ServiceAccount and RBAC, admission guard, workstation pod) and the lab's
// files in the ConfigMap lab-files, then waits for the workstation to be Ready.
// files maps a file name in the learner's home folder to its content.
func Prepare(ctx context.Context, cfg *rest.Config, platformFS fs.FS, files map[string][]byte) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))
	objs, err := platformObjects(platformFS)
	if err != nil {
		return err
	}
	// The default ServiceAccount appears a moment after the API server; pods need it.
	if err := waitFor(ctx, time.Minute, "the default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return err
	}
	for _, o := range objs {
		if o.GetKind() == "Pod" {
			continue // after the ConfigMap of lab files exists
		}
		if err := apply(ctx, dyn, mapper, o); err != nil {
			return err
		}
	}
	if err := SetLabFiles(ctx, cs, files); err != nil {
		return err
	}
	for _, o := range objs {
		if o.GetKind() == "Pod" {
			if err := apply(ctx, dyn, mapper, o); err != nil {
				return err
			}
		}
	}
	return WaitWorkstation(ctx, cs, 2*time.Minute)
}

// SetLabFiles replaces the lab files the workstation copies into the home folder.
func SetLabFiles(ctx context.Context, cs kubernetes.Interface, files map[string][]byte) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "lab-files", Namespace: WorkstationNamespace},
		BinaryData: files,
	}
	_, err := cs.CoreV1().ConfigMaps(WorkstationNamespace).Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = cs.CoreV1().ConfigMaps(WorkstationNamespace).Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("store lab files: %w", err)
	}
	return nil
}

// WaitWorkstation waits until the workstation pod is Ready.
func WaitWorkstation(ctx context.Context, cs kubernetes.Interface, timeout time.Duration) error {
	var last string
	err := waitFor(ctx, timeout, "the workstation pod", func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(WorkstationNamespace).Get(ctx, WorkstationPod, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = podSummary(p)
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last seen: %s)", err, last)
	}
	return nil
}

func podSummary(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil {
			s += fmt.Sprintf(", %s waiting: %s %s", cs.Name, w.Reason, w.Message)
		}
	}
	return s
}

func waitFor(ctx context.Context, timeout time.Duration, what string, cond wait.ConditionWithContextFunc) error {
	if err := wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, timeout, true, cond); err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

// platformObjects decodes every YAML document of the platform folder, in file order.
func platformObjects(fsys fs.FS) ([]*unstructured.Unstructured, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var o unstructured.Unstructured
			if err := dec.Decode(&o.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", path.Join("platform", name), err)
			}
			if len(o.Object) > 0 {
				objs = append(objs, &o)
			}
		}
	}
	return objs, nil
}

// apply server-side applies one object.
func apply(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, o *unstructured.Unstructured) error {
	gvk := o.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
	}
	data, err := o.MarshalJSON()
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	force := true
	_, err = ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: fieldManager, Force: &force})
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
	}
	return nil
}

// CopyToWorkstation writes files (by name) into the workstation's home folder, as a
// tar stream through exec: immediate, unlike a ConfigMap update.
func CopyToWorkstation(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, files map[string][]byte) error {
	if len(files) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
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
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(WorkstationNamespace).Name(WorkstationPod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: WorkstationContainer, Command: []string{"tar", "-x", "-m", "-C", "/home/learner", "-f", "-"},
			Stdin: true, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	exec, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: &buf, Stdout: io.Discard, Stderr: &stderr}); err != nil {
		return fmt.Errorf("copy lab files into the workstation: %w: %s", err, stderr.String())
	}
	return nil
}
