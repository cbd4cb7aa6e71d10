package platform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/workstation"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// LearnerUser is the identity the learner's kubectl works as in the workstation.
const (
	LearnerUser  = "system:serviceaccount:kindlab:learner"
	fieldManager = "kindlab"
)

// Preparer returns what a Pool runs on each new cluster (PoolOptions.Prepare):
// Prepare, on a connection to it.
func Preparer(platformFS fs.FS, labFiles map[string][]byte) func(ctx context.Context, c *cluster.Cluster) error {
	return func(ctx context.Context, c *cluster.Cluster) error {
		conn, err := workstation.Connect(c.Kubeconfig)
		if err != nil {
			return err
		}
		return Prepare(ctx, conn, platformFS, labFiles)
	}
}

// Prepare sets a cluster up for a learner: the platform objects from platformFS
// (learner ServiceAccount and RBAC, admission guard, workstation pod) and the
// catalog's lab files (labFiles, from workstation.CatalogFiles; nil for none),
// then waits for the workstation to be Ready. A lab's files reach the learner's
// home when a learner claims the cluster (workstation.Conn.PlaceFiles).
func Prepare(ctx context.Context, conn *workstation.Conn, platformFS fs.FS, labFiles map[string][]byte) error {
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(conn.Client.Discovery()))
	objs, err := platformObjects(platformFS)
	if err != nil {
		return err
	}
	if len(labFiles) > 0 { // before the workstation, which mounts it
		catalog, err := runtime.DefaultUnstructuredConverter.ToUnstructured(workstation.Catalog(labFiles))
		if err != nil {
			return err
		}
		at := slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "Pod" })
		if at < 0 {
			at = len(objs)
		}
		objs = slices.Insert(objs, at, &unstructured.Unstructured{Object: catalog})
	}
	// The default ServiceAccount appears a moment after the API server; pods need it.
	if err := waitFor(ctx, time.Minute, "the default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := conn.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return err
	}
	for _, o := range objs {
		if err := apply(ctx, conn.Dynamic, mapper, o); err != nil {
			return err
		}
	}
	return conn.WaitReady(ctx, 2*time.Minute)
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
		o, err := decodeObjects(fsys, name, path.Join("platform", name))
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

// decodeObjects decodes every YAML document of file name in fsys; shown is its
// name in errors.
func decodeObjects(fsys fs.FS, name, shown string) ([]*unstructured.Unstructured, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var o unstructured.Unstructured
		if err := dec.Decode(&o.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: %w", shown, err)
		}
		if len(o.Object) > 0 {
			objs = append(objs, &o)
		}
	}
}

// ApplySetup applies, with kindlab's own admin rights, the manifests a lab's or
// a step's setup names (paths relative to manifests): the state a lab starts
// from, broken on purpose if it likes. Objects without a namespace go to ns.
func ApplySetup(ctx context.Context, conn *workstation.Conn, manifests fs.FS, ns string, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(conn.Client.Discovery()))
	for _, p := range paths {
		objs, err := decodeObjects(manifests, p, p)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		for _, o := range objs {
			if o.GetNamespace() == "" {
				if m, err := mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version); err == nil && m.Scope.Name() == meta.RESTScopeNameNamespace {
					o.SetNamespace(ns)
				}
			}
			if err := apply(ctx, conn.Dynamic, mapper, o); err != nil {
				return fmt.Errorf("setup %s: %w", p, err)
			}
		}
	}
	return nil
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
