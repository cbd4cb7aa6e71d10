package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Debian suite and the packages of the two root filesystems.
const debianSuite = "bookworm"

var (
	nodePackages = []string{
		"systemd", "containerd", "runc", "containernetworking-plugins", "iptables", "nftables",
		"conntrack", "iproute2", "ethtool", "util-linux", "mount", "kmod", "procps",
		"ca-certificates", "curl", "jq", "socat", "libseccomp2", "bash",
	}
	// dindPackages make the Docker-in-Docker image a learner's cluster runs in
	// on a host Kubernetes cluster.
	dindPackages = []string{
		"docker.io", "iptables", "ca-certificates", "procps", "kmod", "util-linux",
		"iproute2", "bash",
	}
	// postgresPackages make the PostgreSQL image manifests/kindlab runs.
	postgresPackages = []string{"postgresql", "passwd"}
	toolboxPackages  = []string{
		"bash", "bash-completion", "curl", "ca-certificates", "dnsutils", "iputils-ping",
		"less", "vim-tiny", "nano", "procps", "netcat-openbsd", "jq", "iproute2",
	}
)

// kubeCommands are built from images/kube, a wrapper module over k8s.io/kubernetes.
var kubeCommands = []string{
	"kubelet", "kubeadm", "kubectl", "kube-apiserver", "kube-controller-manager",
	"kube-scheduler", "kube-proxy",
}

// plan is a computed build: tags by content hash and the steps that make them.
type plan struct {
	b                  *Builder
	goVersion          string
	nodeRootfs         string // docker tag
	toolboxRootfs      string
	dindRootfs         string
	postgresRootfs     string
	kindVersion        string // of sigs.k8s.io/kind in go.mod
	kubeHash           string
	etcdHash           string
	corednsHash        string
	set                Set
	appTags            map[string]string
	nodeHash, toolHash string
}

// Plan computes the content tags of every image from the source tree, without
// building anything.
func (b *Builder) Plan(ctx context.Context) (Set, error) {
	p, err := b.plan(ctx)
	if err != nil {
		return Set{}, err
	}
	return p.set, nil
}

func (b *Builder) plan(ctx context.Context) (*plan, error) {
	goVersion, err := output(ctx, b.Run, "go", "env", "GOVERSION")
	if err != nil {
		return nil, fmt.Errorf("find Go: %w", err)
	}
	p := &plan{b: b, goVersion: goVersion, appTags: map[string]string{}}
	h := func(paths []string, extra ...string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = contentHash(b.Src, paths, extra...)
		return s
	}
	rootfsNode := h(nil, debianSuite, strings.Join(nodePackages, ","))
	rootfsTool := h(nil, debianSuite, strings.Join(toolboxPackages, ","))
	rootfsDind := h(nil, debianSuite, strings.Join(dindPackages, ","))
	p.dindRootfs = "kindlab/rootfs:dind-" + rootfsDind
	p.postgresRootfs = "kindlab/rootfs:postgres-" + h(nil, debianSuite, strings.Join(postgresPackages, ","))
	p.set.Postgres = "kindlab/postgres:" + h([]string{"images/postgres"}, p.postgresRootfs)
	p.nodeRootfs = "kindlab/rootfs:node-" + rootfsNode
	p.toolboxRootfs = "kindlab/rootfs:toolbox-" + rootfsTool
	p.kubeHash = h([]string{"images/kube/go.mod", "images/kube/go.sum"}, goVersion, KubeVersion, strings.Join(kubeCommands, ","))
	p.etcdHash = h([]string{"images/etcd"}, goVersion)
	p.corednsHash = h([]string{"images/coredns"}, goVersion)
	p.toolHash = h([]string{"images/toolbox"}, p.toolboxRootfs, p.kubeHash)
	p.set.Toolbox = "kindlab/toolbox:" + p.toolHash
	appHashes := []string{p.toolHash}
	for _, app := range Apps {
		// The apps use the standard library only, so their sources and Go are all
		// they are built from (go.mod changes elsewhere do not rebuild them).
		ah := h([]string{"images/apps/" + app, "images/apps/internal"}, goVersion)
		p.appTags[app] = "kindlab/" + app + ":" + ah
		p.set.Apps = append(p.set.Apps, p.appTags[app])
		appHashes = append(appHashes, ah)
	}
	p.nodeHash = h([]string{"images/node", "images/pause", "images/runc-clamp", "images/plan.go"},
		append([]string{goVersion, KubeVersion, p.nodeRootfs, p.kubeHash, p.etcdHash, p.corednsHash}, appHashes...)...)
	p.set.Node = "kindlab/node:" + KubeVersion + "-" + p.nodeHash
	if err != nil {
		return nil, err
	}
	if p.kindVersion, err = kindVersion(b.Src); err != nil {
		return nil, err
	}
	p.set.Dind = "kindlab/dind:" + h([]string{"images/dind", "images/runc-clamp"}, goVersion, p.dindRootfs, p.kindVersion, p.set.Node)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Build builds whatever images are missing and returns the full set.
func (b *Builder) Build(ctx context.Context) (Set, error) {
	if _, err := output(ctx, b.Run, "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		return Set{}, &StepError{Step: "docker", Err: err, Fix: knownFixes[0].fix}
	}
	p, err := b.plan(ctx)
	if err != nil {
		return Set{}, err
	}
	if err := b.execute(ctx, p.steps()); err != nil {
		return Set{}, err
	}
	return p.set, nil
}

func (p *plan) dir(parts ...string) string {
	return filepath.Join(append([]string{p.b.Cache}, parts...)...)
}

func (p *plan) exists(ctx context.Context, tag string) bool {
	return p.b.Run.Run(ctx, Cmd{Name: "docker", Args: []string{"image", "inspect", "--format", "{{.Id}}", tag}}) == nil
}

func (p *plan) src(parts ...string) string {
	return filepath.Join(append([]string{p.b.Src}, parts...)...)
}

// steps lists the build steps; a step whose output exists is reported up to date.
// Steps that only feed images which already exist are left out entirely, so a warm
// build never touches the Go or Kubernetes toolchains.
func (p *plan) steps() []*step {
	ctx := context.Background()
	needNode := p.b.Force || !p.exists(ctx, p.set.Node)
	needTool := p.b.Force || !p.exists(ctx, p.set.Toolbox) || needNode
	var steps []*step
	add := func(s *step) { steps = append(steps, s) }

	if needNode {
		add(p.rootfsStep("rootfs-node", p.nodeRootfs, nodePackages))
	}
	if needTool {
		add(p.rootfsStep("rootfs-toolbox", p.toolboxRootfs, toolboxPackages))
		add(p.goStep("kube-binaries", "kube", p.kubeHash, "images/kube", kubeCommands, "k8s.io/kubernetes/cmd/", kubeLDFlags()))
		add(&step{
			name: "toolbox-image", deps: []string{"rootfs-toolbox", "kube-binaries"},
			done: func(ctx context.Context) bool { return p.exists(ctx, p.set.Toolbox) },
			run:  p.buildToolbox,
		})
	}
	var appSteps []string
	for _, app := range Apps {
		tag := p.appTags[app]
		name := "app-" + app
		appSteps = append(appSteps, name)
		add(&step{
			name: name, cpu: true,
			done: func(ctx context.Context) bool { return p.exists(ctx, tag) && p.exists(ctx, labTag(tag)) },
			run:  func(ctx context.Context, log io.Writer) error { return p.buildApp(ctx, log, app, tag) },
		})
	}
	if p.b.Force || !p.exists(ctx, p.set.Dind) || !p.exists(ctx, labTag(p.set.Dind)) {
		add(p.rootfsStep("rootfs-dind", p.dindRootfs, dindPackages))
		add(p.kindStep())
		deps := []string{"rootfs-dind", "kind"}
		if needNode {
			deps = append(deps, "node-image")
		}
		add(&step{name: "dind-image", deps: deps,
			done: func(ctx context.Context) bool { return p.exists(ctx, p.set.Dind) && p.exists(ctx, labTag(p.set.Dind)) },
			run:  p.buildDind,
		})
	}
	if p.b.Force || !p.exists(ctx, p.set.Postgres) || !p.exists(ctx, labTag(p.set.Postgres)) {
		add(p.rootfsStep("rootfs-postgres", p.postgresRootfs, postgresPackages))
		add(&step{name: "postgres-image", deps: []string{"rootfs-postgres"},
			done: func(ctx context.Context) bool {
				return p.exists(ctx, p.set.Postgres) && p.exists(ctx, labTag(p.set.Postgres))
			},
			run: func(ctx context.Context, log io.Writer) error {
				return p.dockerBuild(ctx, log, p.src("images", "postgres"), map[string]string{"BASE": p.postgresRootfs}, p.set.Postgres, labTag(p.set.Postgres))
			},
		})
	}
	if needNode {
		add(p.goStep("etcd", "etcd", p.etcdHash, "images/etcd", []string{"etcd"}, "go.etcd.io/etcd/server/v3", ""))
		// images/coredns/main.go: CoreDNS with only the plugins the Corefile uses.
		add(p.goStep("coredns", "coredns", p.corednsHash, "images/coredns", []string{"coredns"}, ".", ""))
		add(&step{name: "node-image", deps: append([]string{"rootfs-node", "kube-binaries", "etcd", "coredns", "toolbox-image"}, appSteps...),
			done: func(ctx context.Context) bool { return p.exists(ctx, p.set.Node) },
			run:  p.buildNode,
		})
	}
	return steps
}

func labTag(tag string) string {
	repo, _, _ := strings.Cut(tag, ":")
	return repo + ":" + LabTag
}

func kubeLDFlags() string {
	major, minor := "1", strings.Split(strings.TrimPrefix(KubeVersion, "v"), ".")[1]
	var f []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		f = append(f, "-X "+pkg+".gitVersion="+KubeVersion, "-X "+pkg+".gitMajor="+major,
			"-X "+pkg+".gitMinor="+minor, "-X "+pkg+".gitTreeState=clean")
	}
	return "-s -w " + strings.Join(f, " ")
}

// rootfsStep debootstraps a Debian root filesystem and imports it as an image.
func (p *plan) rootfsStep(name, tag string, packages []string) *step {
	return &step{
		name: name,
		done: func(ctx context.Context) bool { return p.exists(ctx, tag) },
		run: func(ctx context.Context, log io.Writer) error {
			dir := p.dir("rootfs", name)
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			mirror := os.Getenv("KINDLAB_DEBIAN_MIRROR")
			if mirror == "" {
				mirror = "http://deb.debian.org/debian"
			}
			err := logged(ctx, p.b.Run, log, Cmd{Name: "debootstrap", Args: []string{
				"--variant=minbase", "--include=" + strings.Join(packages, ","), debianSuite, dir, mirror}})
			if err != nil {
				return err
			}
			// Package caches and lists only make the image bigger.
			for _, junk := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
				entries, _ := os.ReadDir(filepath.Join(dir, junk))
				for _, e := range entries {
					if e.Type().IsRegular() {
						os.Remove(filepath.Join(dir, junk, e.Name()))
					}
				}
			}
			return logged(ctx, p.b.Run, log, Cmd{Name: "sh", Args: []string{"-c",
				`tar -C "$1" --numeric-owner -c . | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$2"`,
				"sh", dir, tag}})
		},
	}
}

// goStep builds Go commands from a wrapper module into the cache, once per hash.
func (p *plan) goStep(name, outName, hash, module string, cmds []string, pkgPrefix, ldflags string) *step {
	out := p.dir("bin", outName+"-"+hash)
	marker := filepath.Join(out, ".done")
	return &step{
		name: name, cpu: true,
		done: func(context.Context) bool { _, err := os.Stat(marker); return err == nil },
		run: func(ctx context.Context, log io.Writer) error {
			args := []string{"build", "-trimpath", "-ldflags", ldflags, "-o", out + "/"}
			if len(cmds) == 1 {
				args[len(args)-1] = filepath.Join(out, cmds[0])
				args = append(args, pkgPrefix)
			} else {
				for _, c := range cmds {
					args = append(args, pkgPrefix+c)
				}
			}
			if err := logged(ctx, p.b.Run, log, Cmd{Name: "go", Args: args, Dir: p.src(module), Env: []string{"CGO_ENABLED=0"}}); err != nil {
				return err
			}
			return os.WriteFile(marker, nil, 0o644)
		},
	}
}

// kindVersion reads the version of kind that go.mod requires.
func kindVersion(src string) (string, error) {
	mod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*sigs\.k8s\.io/kind (v\S+)`).FindSubmatch(mod)
	if m == nil {
		return "", errors.New("go.mod does not require sigs.k8s.io/kind")
	}
	return string(m[1]), nil
}

// kindStep builds the kind command, at the version kindlab uses as a library,
// from the Go module proxy.
func (p *plan) kindStep() *step {
	out := p.dir("bin", "kind-"+p.kindVersion)
	return &step{
		name: "kind", cpu: true,
		done: func(context.Context) bool { _, err := os.Stat(filepath.Join(out, "kind")); return err == nil },
		run: func(ctx context.Context, log io.Writer) error {
			tmp := out + ".part"
			os.RemoveAll(tmp)
			if err := logged(ctx, p.b.Run, log, Cmd{Name: "go", Args: []string{"install", "-trimpath", "-ldflags", "-s -w", "sigs.k8s.io/kind@" + p.kindVersion},
				Dir: os.TempDir(), Env: []string{"CGO_ENABLED=0", "GOBIN=" + tmp, "GOFLAGS="}}); err != nil {
				return err
			}
			os.RemoveAll(out)
			return os.Rename(tmp, out)
		},
	}
}

// buildDind builds the Docker-in-Docker image: its rootfs, the wrapper, kind, and
// the node image saved into it.
func (p *plan) buildDind(ctx context.Context, log io.Writer) error {
	dir, err := os.MkdirTemp(p.dir(), "dind-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := copyTree(p.src("images", "dind"), dir); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(p.dir("bin", "kind-"+p.kindVersion), "kind"), filepath.Join(dir, "bin", "kind"), 0o755); err != nil {
		return err
	}
	if err := logged(ctx, p.b.Run, log, Cmd{Name: "go", Args: []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, "bin", "kindlab-runc"), "./images/runc-clamp"},
		Dir: p.b.Src, Env: []string{"CGO_ENABLED=0"}}); err != nil {
		return err
	}
	if err := logged(ctx, p.b.Run, log, Cmd{Name: "docker", Args: []string{"save", "-o", filepath.Join(dir, "node.tar"), p.set.Node}}); err != nil {
		return err
	}
	// Also tagged kindlab/dind:lab, the name manifests/kindlab uses.
	return p.dockerBuild(ctx, log, dir, map[string]string{"BASE": p.dindRootfs, "NODE_IMAGE": p.set.Node}, p.set.Dind, labTag(p.set.Dind))
}

func (p *plan) bin(outName, hash, cmd string) string {
	return p.dir("bin", outName+"-"+hash, cmd)
}

// dockerBuild builds a context folder with the legacy builder (no registry needed for
// FROM scratch or a local base) and applies the tags.
func (p *plan) dockerBuild(ctx context.Context, log io.Writer, context string, args map[string]string, tags ...string) error {
	a := []string{"build", "--network=none", "--force-rm"}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		a = append(a, "--build-arg", k+"="+args[k])
	}
	for _, t := range tags {
		a = append(a, "-t", t)
	}
	a = append(a, context)
	return logged(ctx, p.b.Run, log, Cmd{Name: "docker", Args: a, Env: []string{"DOCKER_BUILDKIT=0"}})
}

// scratchImage builds a one-binary image FROM scratch.
func (p *plan) scratchImage(ctx context.Context, log io.Writer, bin, dest string, entrypoint bool, tags ...string) error {
	dir, err := os.MkdirTemp(p.dir(), "ctx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := copyFile(bin, filepath.Join(dir, filepath.Base(bin)), 0o755); err != nil {
		return err
	}
	df := fmt.Sprintf("FROM scratch\nCOPY %s %s\nENV PATH=/usr/local/bin:/bin\n", filepath.Base(bin), dest)
	if entrypoint {
		df += fmt.Sprintf("ENTRYPOINT [%q]\n", dest)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	return p.dockerBuild(ctx, log, dir, nil, tags...)
}

func (p *plan) buildApp(ctx context.Context, log io.Writer, app, tag string) error {
	dir, err := os.MkdirTemp(p.dir(), "app-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, app)
	if err := logged(ctx, p.b.Run, log, Cmd{Name: "go", Args: []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./images/apps/" + app},
		Dir: p.b.Src, Env: []string{"CGO_ENABLED=0"}}); err != nil {
		return err
	}
	return p.scratchImage(ctx, log, bin, "/"+app, true, tag, labTag(tag))
}

func (p *plan) buildToolbox(ctx context.Context, log io.Writer) error {
	dir, err := os.MkdirTemp(p.dir(), "toolbox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := copyTree(p.src("images", "toolbox"), dir); err != nil {
		return err
	}
	if err := copyFile(p.bin("kube", p.kubeHash, "kubectl"), filepath.Join(dir, "bin", "kubectl"), 0o755); err != nil {
		return err
	}
	return p.dockerBuild(ctx, log, dir, map[string]string{"BASE": p.toolboxRootfs}, p.set.Toolbox, labTag(p.set.Toolbox))
}

// kubeadmImages asks the built kubeadm which images it wants, and containerd's config
// which sandbox (pause) image it uses.
func (p *plan) kubeadmImages(ctx context.Context) ([]string, error) {
	out, err := output(ctx, p.b.Run, p.bin("kube", p.kubeHash, "kubeadm"), "config", "images", "list", "--kubernetes-version", KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("kubeadm config images list: %w", err)
	}
	list := strings.Fields(out)
	cfg, err := os.ReadFile(p.src("images", "node", "files", "etc", "containerd", "config.toml"))
	if err != nil {
		return nil, err
	}
	if m := regexp.MustCompile(`sandbox_image\s*=\s*"([^"]+)"`).FindSubmatch(cfg); m != nil && !slices.Contains(list, string(m[1])) {
		list = append(list, string(m[1]))
	}
	return list, nil
}

// buildNode builds the control-plane images, the node image, and imports the
// control-plane and lab images into the node's containerd so clusters start without a
// registry.
func (p *plan) buildNode(ctx context.Context, log io.Writer) error {
	dir, err := os.MkdirTemp(p.dir(), "node-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// 1. Control-plane images under the exact names kubeadm asks for.
	wanted, err := p.kubeadmImages(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "kubeadm wants: %s\n", strings.Join(wanted, " "))
	var pause string
	for _, ref := range wanted {
		name := ref[strings.LastIndex(ref, "/")+1:]
		name, _, _ = strings.Cut(name, ":")
		switch name {
		case "kube-apiserver", "kube-controller-manager", "kube-scheduler":
			err = p.scratchImage(ctx, log, p.bin("kube", p.kubeHash, name), "/usr/local/bin/"+name, false, ref)
		case "etcd":
			err = p.scratchImage(ctx, log, p.bin("etcd", p.etcdHash, "etcd"), "/usr/local/bin/etcd", false, ref)
		case "coredns":
			err = p.scratchImage(ctx, log, p.bin("coredns", p.corednsHash, "coredns"), "/coredns", true, ref)
		case "pause":
			if pause == "" {
				pause = filepath.Join(dir, "pause")
				err = logged(ctx, p.b.Run, log, Cmd{Name: "go", Args: []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", pause, "./images/pause"},
					Dir: p.b.Src, Env: []string{"CGO_ENABLED=0"}})
			}
			if err == nil {
				err = p.scratchImage(ctx, log, pause, "/pause", true, ref)
			}
		case "kube-proxy":
			err = p.kubeProxyImage(ctx, log, ref)
		default:
			err = fmt.Errorf("kubeadm wants %s, which kindlab does not know how to build", ref)
		}
		if err != nil {
			return err
		}
	}

	// 2. The node image proper.
	ctxDir := filepath.Join(dir, "context")
	if err := copyTree(p.src("images", "node"), ctxDir); err != nil {
		return err
	}
	for _, c := range []string{"kubelet", "kubeadm", "kubectl"} {
		if err := copyFile(p.bin("kube", p.kubeHash, c), filepath.Join(ctxDir, "bin", c), 0o755); err != nil {
			return err
		}
	}
	clamp := filepath.Join(ctxDir, "bin", "kindlab-runc")
	if err := logged(ctx, p.b.Run, log, Cmd{Name: "go", Args: []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", clamp, "./images/runc-clamp"},
		Dir: p.b.Src, Env: []string{"CGO_ENABLED=0"}}); err != nil {
		return err
	}
	stage := p.set.Node + "-stage"
	if err := p.dockerBuild(ctx, log, ctxDir, map[string]string{"BASE": p.nodeRootfs, "KUBE_VERSION": KubeVersion}, stage); err != nil {
		return err
	}
	defer p.b.Run.Run(context.WithoutCancel(ctx), Cmd{Name: "docker", Args: []string{"rmi", stage}})

	// 3. Import every image into containerd's k8s.io namespace inside a container of
	// the stage image, then commit that container as the node image.
	all := append(slices.Clone(wanted), Set{}.LabImages()...)
	tarPath := filepath.Join(dir, "images.tar")
	if err := logged(ctx, p.b.Run, log, Cmd{Name: "docker", Args: append([]string{"save", "-o", tarPath}, all...)}); err != nil {
		return err
	}
	name := "kindlab-node-build-" + p.nodeHash
	p.b.Run.Run(ctx, Cmd{Name: "docker", Args: []string{"rm", "-f", "-v", name}})
	defer p.b.Run.Run(context.WithoutCancel(ctx), Cmd{Name: "docker", Args: []string{"rm", "-f", "-v", name}})
	if err := logged(ctx, p.b.Run, log, Cmd{Name: "docker", Args: []string{"run", "-d", "--name", name, "--privileged",
		"--network=none", "-v", dir + ":/kindlab-build:ro", "--entrypoint", "sleep", stage, "infinity"}}); err != nil {
		return err
	}
	script := `set -e
containerd >/tmp/containerd.log 2>&1 &
for i in $(seq 1 60); do ctr version >/dev/null 2>&1 && break; sleep 0.5; done
ctr -n k8s.io images import --no-unpack --all-platforms /kindlab-build/images.tar
ctr -n k8s.io images ls -q
kill %1; wait || true
rm -f /tmp/containerd.log`
	if err := logged(ctx, p.b.Run, log, Cmd{Name: "docker", Args: []string{"exec", name, "bash", "-c", script}}); err != nil {
		return err
	}
	if err := logged(ctx, p.b.Run, log, Cmd{Name: "docker", Args: []string{"stop", "-t", "1", name}}); err != nil {
		return err
	}
	return logged(ctx, p.b.Run, log, Cmd{Name: "docker", Args: []string{"commit",
		"--change", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`, "--change", `CMD []`,
		"--change", "LABEL org.kindlab.kube-version=" + KubeVersion,
		name, p.set.Node}})
}

// kubeProxyImage builds kube-proxy's image FROM scratch: the binary, the
// iptables (nft) and conntrack commands it runs and the shared libraries and
// xtables extensions they load, taken from the node's Debian rootfs. It has no
// shell or interpreter (kube-proxy runs privileged, and nothing in it needs
// one), and it is small: containerd unpacks it when the cluster's first pod
// starts, and CoreDNS waits for kube-proxy (the whole rootfs was 388 MiB).
func (p *plan) kubeProxyImage(ctx context.Context, log io.Writer, ref string) error {
	dir, err := os.MkdirTemp(p.dir(), "kube-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := copyFile(p.bin("kube", p.kubeHash, "kube-proxy"), filepath.Join(dir, "kube-proxy"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "collect.sh"), []byte(kubeProxyCollect), 0o755); err != nil {
		return err
	}
	df := "ARG BASE\nFROM ${BASE} AS rootfs\nCOPY collect.sh kube-proxy /\nRUN [\"/usr/bin/bash\", \"/collect.sh\"]\n" +
		"FROM scratch\nCOPY --from=rootfs /out/ /\n" +
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	return p.dockerBuild(ctx, log, dir, map[string]string{"BASE": p.nodeRootfs}, ref)
}

// kubeProxyCollect copies into /out what kube-proxy needs from the rootfs it
// runs on: its binary, iptables' nft commands (named as kube-proxy calls them),
// conntrack and nft, every shared library they link, and the xtables
// extensions iptables loads by name.
const kubeProxyCollect = `set -euo pipefail
out=/out
mkdir -p $out/usr/local/bin $out/usr/sbin $out/run $out/tmp $out/var/lib/kube-proxy $out/etc
cp /kube-proxy $out/usr/local/bin/kube-proxy
bins=(/usr/sbin/xtables-nft-multi /usr/sbin/conntrack /usr/sbin/nft)
for b in "${bins[@]}"; do cp -a "$b" $out/usr/sbin/; done
for n in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore \
         iptables-nft iptables-nft-save iptables-nft-restore ip6tables-nft ip6tables-nft-save ip6tables-nft-restore; do
  ln -s xtables-nft-multi $out/usr/sbin/$n
done
ext=$(echo /usr/lib/*-linux-gnu/xtables)
mkdir -p $out$ext && cp -a $ext/. $out$ext/
libs=$(for f in "${bins[@]}" $ext/*.so; do ldd "$f" | grep -o '/[^ ]*'; done | sort -u)
for d in /lib /lib64; do if [ -L $d ]; then ln -s "$(readlink $d)" $out$d; fi; done
for l in $libs; do
  dest=$out$(readlink -f "$(dirname "$l")")
  mkdir -p "$dest" && cp -L "$l" "$dest/"
done
for f in /etc/protocols /etc/services /etc/nsswitch.conf; do if [ -e $f ]; then cp $f $out/etc/; fi; done
`

func copyFile(src, dst string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return copyFile(path, target, info.Mode().Perm())
	})
}
