//go:build e2e

package server_test

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/workstation"

	"github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlab/kindlab/cluster"
)

// shell types commands into a learner's terminal, as the learner would, and reads
// what the terminal shows until the command is done.
type shell struct {
	t    *testing.T
	conn *websocket.Conn
	n    int
	wait time.Duration // for a command to end (default a minute)
}

var rcLine = regexp.MustCompile(`RC=(\d+) END(\d+)`)

// run types cmd and returns what it printed and its exit code.
func (s *shell) run(cmd string) (string, int) {
	s.t.Helper()
	s.n++
	end := 100000 + s.n
	// The typed line shows END$((...)); only the output shows the number.
	s.conn.WriteJSON(map[string]any{"type": "input", "data": fmt.Sprintf("{ %s ; } 2>&1; echo \"RC=$? END$((100000+%d))\"\r", cmd, s.n)})
	out := readUntilWithin(s.t, s.conn, "END"+strconv.Itoa(end), cmp.Or(s.wait, time.Minute))
	for _, m := range rcLine.FindAllStringSubmatch(out, -1) {
		if m[2] == strconv.Itoa(end) {
			rc, _ := strconv.Atoi(m[1])
			return out, rc
		}
	}
	s.t.Fatalf("no exit code for %q in %q", cmd, out)
	return "", 0
}

// must runs cmd and fails the test unless it succeeds.
func (s *shell) must(cmd string) string {
	s.t.Helper()
	out, rc := s.run(cmd)
	if rc != 0 {
		s.t.Fatalf("%s: exit %d\n%s", cmd, rc, out)
	}
	return out
}

// TestE2EHostileLearner types every escape attempt we know of into a learner's
// real workstation terminal and checks each is refused, with a message that says
// the thing belongs to the platform. A new attempt is one line in the table.
func TestE2EHostileLearner(t *testing.T) {
	t.Parallel() // mostly waits: beside TestE2EHostedCluster (fixtures_e2e_test.go)
	p := startPlatform(t)
	c, sessionURL := startSession(t, p.URL)
	conn := openTerminal(t, c, sessionURL)
	defer conn.Close()
	sh := &shell{t: t, conn: conn}

	// What every attempt below uses: the node's name, a CoreDNS and a kube-proxy pod,
	// a namespace of the learner's own and a pod of theirs in it. The CoreDNS pod is
	// one not being deleted: just after a cluster is made, the replica the one-coredns
	// tuning scales away is still terminating, and the API server answers a delete of
	// a pod already being deleted with success, changing nothing and asking no
	// admission (so the guard is not asked either).
	sh.must(`N=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}'); DNS=$(kubectl -n kube-system get pod -l k8s-app=kube-dns -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}} {{end}}{{end}}' | cut -d' ' -f1); KP=$(kubectl -n kube-system get pod -l k8s-app=kube-proxy -o jsonpath='{.items[0].metadata.name}'); test -n "$N" -a -n "$DNS" -a -n "$KP"`)
	sh.must(`kubectl create namespace mine`)
	sh.must(`kubectl -n mine run mypod --image=kindlab/toolbox:lab --image-pull-policy=Never -- sleep 1d && kubectl -n mine wait --for=condition=Ready pod/mypod --timeout=90s`)
	const img = `--image=kindlab/toolbox:lab --image-pull-policy=Never`
	// The workshop host as a pod sees it: a web server on the host's address in
	// the learner cluster's Docker network (its gateway). Nothing a learner runs
	// may open a connection out of their cluster, to it or anywhere else.
	host := listenOnGateway(t, learnerCluster(t, p))
	sh.must(fmt.Sprintf(`HOST=%s`, host.addr))
	podWith := func(ns, name, spec string) string {
		return fmt.Sprintf(`kubectl -n %s run %s %s --overrides='{"spec":%s}' -- sleep 1d`, ns, name, img, spec)
	}
	container := func(name, extra string) string {
		return fmt.Sprintf(`{"name":"%s","image":"kindlab/toolbox:lab","imagePullPolicy":"Never","command":["sleep","1d"]%s}`, name, extra)
	}

	// Each attempt must fail (exit status not 0). Those refused by the platform must
	// say so ("kindlab:"); contained ones are allowed by design but get nowhere.
	type attempt struct {
		name, cmd string
		contained bool
	}
	attempts := []attempt{
		// exec, attach, port-forward and proxy into the system and the platform
		{"exec kube-proxy", `kubectl -n kube-system exec $KP -- id`, false},
		{"exec CoreDNS", `kubectl -n kube-system exec $DNS -- id`, false},
		{"exec etcd", `kubectl -n kube-system exec etcd-$N -- id`, false},
		{"exec kube-apiserver", `kubectl -n kube-system exec kube-apiserver-$N -- id`, false},
		{"exec kube-controller-manager", `kubectl -n kube-system exec kube-controller-manager-$N -- id`, false},
		{"exec kube-scheduler", `kubectl -n kube-system exec kube-scheduler-$N -- id`, false},
		{"exec the workstation (kindlab)", `kubectl -n kindlab exec workstation -- id`, false},
		{"attach kube-proxy", `timeout 30 kubectl -n kube-system attach $KP`, false},
		{"attach CoreDNS", `timeout 30 kubectl -n kube-system attach $DNS`, false},
		{"port-forward CoreDNS", `timeout 30 kubectl -n kube-system port-forward pod/$DNS 19153:9153`, false},
		{"port-forward etcd", `timeout 30 kubectl -n kube-system port-forward pod/etcd-$N 12379:2379`, false},
		{"port-forward the workstation", `timeout 30 kubectl -n kindlab port-forward pod/workstation 18080:8080`, false},
		{"proxy to a CoreDNS pod", `kubectl get --raw /api/v1/namespaces/kube-system/pods/$DNS:9153/proxy/metrics`, false},
		{"proxy to the kube-dns Service", `kubectl get --raw /api/v1/namespaces/kube-system/services/kube-dns:metrics/proxy/metrics`, false},
		{"node proxy (kubelet pods)", `kubectl get --raw /api/v1/nodes/$N/proxy/pods`, false},
		{"node proxy (kubelet exec)", `kubectl create --raw "/api/v1/nodes/$N/proxy/run/kube-system/$KP/kube-proxy?cmd=id" -f /dev/null`, false},
		// system workloads and their subresources
		{"scale CoreDNS to 0", `kubectl -n kube-system scale deploy coredns --replicas=0`, false},
		{"scale CoreDNS, server dry run", `kubectl -n kube-system scale deploy coredns --replicas=0 --dry-run=server`, false},
		{"patch kube-proxy", `kubectl -n kube-system patch ds kube-proxy --type=merge -p '{"spec":{"template":{"spec":{"hostPID":true}}}}'`, false},
		{"write CoreDNS status", `kubectl -n kube-system patch deploy coredns --subresource=status --type=merge -p '{"status":{"replicas":5}}'`, false},
		{"delete a CoreDNS pod", `kubectl -n kube-system delete pod $DNS --wait=false`, false},
		{"evict a CoreDNS pod", `echo '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"'$DNS'","namespace":"kube-system"}}' | kubectl create --raw /api/v1/namespaces/kube-system/pods/$DNS/eviction -f -`, false},
		{"bind a pod in kube-system", `echo '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"x"},"target":{"kind":"Node","name":"'$N'"}}' | kubectl create --raw /api/v1/namespaces/kube-system/pods/x/binding -f -`, false},
		{"evict CoreDNS (drain the node)", `kubectl drain $N --ignore-daemonsets --delete-emptydir-data --timeout=20s`, false},
		{"cordon the node", `kubectl cordon $N; kubectl get node $N -o jsonpath='{.spec.unschedulable}' | grep -q true`, false},
		{"pod in kube-system", `kubectl -n kube-system run x ` + img + ` -- sleep 1d`, false},
		// kubectl debug, every profile
		{"debug CoreDNS (ephemeral container)", `kubectl -n kube-system debug $DNS ` + img + ` -- id`, false},
		{"debug node, legacy", `kubectl debug node/$N --profile=legacy ` + img + ` -- true`, false},
		{"debug node, general", `kubectl debug node/$N --profile=general ` + img + ` -- true`, false},
		// These two profiles make a plain pod (no host namespaces, no host root): it is
		// allowed, and it cannot read the node.
		{"debug node, baseline: no host root", `timeout 30 kubectl debug node/$N --profile=baseline ` + img + ` -i -- cat /host/etc/kubernetes/admin.conf | grep -q client-certificate-data`, true},
		{"debug node, restricted: no host root", `timeout 30 kubectl debug node/$N --profile=restricted ` + img + ` -i -- cat /host/etc/kubernetes/admin.conf | grep -q client-certificate-data`, true},
		{"debug node, netadmin", `kubectl debug node/$N --profile=netadmin ` + img + ` -- true`, false},
		{"debug node, sysadmin", `kubectl debug node/$N --profile=sysadmin ` + img + ` -- true`, false},
		// identities, RBAC, admission
		{"token for CoreDNS's account", `kubectl -n kube-system create token coredns`, false},
		{"token for the default account", `kubectl create token default`, false},
		{"token for the learner itself", `kubectl -n kindlab create token learner`, false},
		{"impersonate an admin", `kubectl get pods --as=system:admin`, false},
		{"impersonate system:masters", `kubectl get nodes --as=someone --as-group=system:masters`, false},
		{"impersonate a system account", `kubectl get secrets -n kube-system --as=system:serviceaccount:kube-system:generic-garbage-collector`, false},
		{"certificate signing request", `echo '{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"me"},"spec":{"request":"aGVsbG8=","signerName":"kubernetes.io/kube-apiserver-client","usages":["client auth"]}}' | kubectl create -f -`, false},
		{"validating webhook", `echo '{"apiVersion":"admissionregistration.k8s.io/v1","kind":"ValidatingWebhookConfiguration","metadata":{"name":"evil"},"webhooks":[]}' | kubectl create -f -`, false},
		{"mutating webhook", `echo '{"apiVersion":"admissionregistration.k8s.io/v1","kind":"MutatingWebhookConfiguration","metadata":{"name":"evil"},"webhooks":[]}' | kubectl create -f -`, false},
		{"delete the guard", `kubectl delete validatingadmissionpolicy kindlab-learner-guard`, false},
		{"delete the guard's binding", `kubectl delete validatingadmissionpolicybinding kindlab-learner-guard`, false},
		{"bind cluster-admin", `kubectl create clusterrolebinding me --clusterrole=cluster-admin --serviceaccount=kindlab:learner`, false},
		{"read secrets", `kubectl -n kube-system get secrets`, false},
		{"delete the quota", `kubectl delete resourcequota kindlab-quota`, false},
		{"write endpoints", `echo '{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"kubelet"},"subsets":[{"addresses":[{"ip":"10.0.0.1"}],"ports":[{"port":10250}]}]}' | kubectl create -f -`, false},
		{"namespace labelled privileged", `echo '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"evil","labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}' | kubectl create -f -`, false},
		{"relabel a namespace privileged", `kubectl label ns mine pod-security.kubernetes.io/enforce=privileged --overwrite`, false},
		{"delete kube-system", `kubectl delete namespace kube-system --wait=false`, false},
		{"delete the kindlab namespace", `kubectl delete namespace kindlab --wait=false`, false},
		// pods that would own the node, in default and in a namespace the learner made
		{"privileged pod in default", `kubectl run priv --privileged ` + img + ` -- sleep 1d`, false},
		{"privileged pod in mine", `kubectl -n mine run priv --privileged ` + img + ` -- sleep 1d`, false},
		{"hostPath pod in default", podWith("default", "hp", `{"volumes":[{"name":"h","hostPath":{"path":"/"}}],"containers":[`+container("hp", `,"volumeMounts":[{"name":"h","mountPath":"/host"}]`)+`]}`), false},
		{"hostPath pod in mine", podWith("mine", "hp", `{"volumes":[{"name":"h","hostPath":{"path":"/"}}],"containers":[`+container("hp", `,"volumeMounts":[{"name":"h","mountPath":"/host"}]`)+`]}`), false},
		{"hostNetwork pod in default", podWith("default", "hn", `{"hostNetwork":true}`), false},
		{"hostNetwork pod in mine", podWith("mine", "hn", `{"hostNetwork":true}`), false},
		{"hostPID pod in default", podWith("default", "hpid", `{"hostPID":true}`), false},
		{"hostPID pod in mine", podWith("mine", "hpid", `{"hostPID":true}`), false},
		{"hostPort pod in default", podWith("default", "hport", `{"containers":[`+container("hport", `,"ports":[{"containerPort":80,"hostPort":8080}]`)+`]}`), false},
		{"hostPort pod in mine", podWith("mine", "hport", `{"containers":[`+container("hport", `,"ports":[{"containerPort":80,"hostPort":8080}]`)+`]}`), false},
		{"SYS_ADMIN capability", podWith("mine", "capadm", `{"containers":[`+container("capadm", `,"securityContext":{"capabilities":{"add":["SYS_ADMIN"]}}`)+`]}`), false},
		{"unconfined seccomp", podWith("mine", "unconf", `{"securityContext":{"seccompProfile":{"type":"Unconfined"}}}`), false},
		// out of the cluster: the workshop host and the networks behind it
		{"connect to the workshop host from the terminal", `curl -sS -m 5 http://$HOST/`, true},
		{"connect to the workshop host from a pod", `kubectl -n mine exec mypod -- curl -sS -m 5 http://$HOST/`, true},
		{"connect to the workshop host from a pod, by raw TCP", `kubectl -n mine exec mypod -- sh -c "echo GET / | nc -w 5 ${HOST%:*} ${HOST#*:}"`, true},
		{"the host through a Service without selector", `kubectl -n mine create service clusterip tohost --tcp=80:${HOST#*:} --dry-run=client -o json | jq 'del(.spec.selector)' | kubectl create -f - && echo '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"tohost","namespace":"mine","labels":{"kubernetes.io/service-name":"tohost"}},"addressType":"IPv4","endpoints":[{"addresses":["'${HOST%:*}'"]}],"ports":[{"port":'${HOST#*:}'}]}' | kubectl create -f -`, true},
		{"the host through the API server's Service proxy", `kubectl get --raw "/api/v1/namespaces/mine/services/http:tohost:80/proxy/"`, true},
	}
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			sh.t = t
			out, rc := sh.run(a.cmd)
			if rc == 0 {
				t.Fatalf("allowed (exit 0); a learner must not be able to do this:\n%s", out)
			}
			if !a.contained && !strings.Contains(out, "kindlab:") {
				t.Errorf("refused without saying it belongs to the platform:\n%s", out)
			}
		})
	}
	sh.t = t
	if n := host.hits.Load(); n != 0 {
		t.Errorf("the workshop host was reached %d times from the learner's cluster", n)
	}

	// The learner's own work goes on: exec into their own pod, under the runtime's
	// default seccomp profile, with the namespace's quota and limits in place.
	if out := sh.must(`kubectl -n mine exec mypod -- grep Seccomp: /proc/1/status`); !regexp.MustCompile(`Seccomp:\s+2`).MatchString(out) {
		t.Errorf("a learner's pod runs without the default seccomp profile:\n%s", out)
	}
	sh.must(`kubectl get resourcequota kindlab-quota && kubectl -n mine get resourcequota kindlab-quota && kubectl -n mine get limitrange kindlab-limits`)

	// A fork bomb stops at the pod's PID limit; the terminal says what happened and
	// keeps working, and the cluster answers.
	bombed := time.Now()
	conn.WriteJSON(map[string]any{"type": "input", "data": "bomb(){ bomb | bomb & }; bomb\r"})
	out := readUntil(t, conn, "kindlab stopped")
	t.Logf("fork bomb stopped, and said so in the terminal, %s after it was typed", time.Since(bombed).Round(100*time.Millisecond))
	if !strings.Contains(out, fmt.Sprintf("limit of %d processes", cluster.PodPidsLimit)) {
		t.Errorf("the fork bomb message does not name the limit:\n%.2000s", out)
	}
	time.Sleep(2 * time.Second) // the shell prints the bomb job's end
	if out := sh.must(`echo ALIVE$((40+2)); kubectl get pod -n mine mypod -o name`); !strings.Contains(out, "ALIVE42") || !strings.Contains(out, "pod/mypod") {
		t.Errorf("the terminal after the fork bomb:\n%s", out)
	}

	// Defence in depth, read as the platform: no bootstrap token, no StorageClass,
	// no shell in kube-proxy.
	ctx := context.Background()
	adminConn := adminOf(t, p)
	admin := adminConn.Client
	secrets, err := admin.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{FieldSelector: "type=bootstrap.kubernetes.io/token"})
	if err != nil || len(secrets.Items) != 0 {
		t.Errorf("bootstrap tokens left: %v, %v", len(secrets.Items), err)
	}
	if scs, err := admin.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{}); err != nil || len(scs.Items) != 0 {
		t.Errorf("StorageClasses: %v, %v; want none", scs, err)
	}
	kp, err := admin.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-proxy"})
	if err != nil || len(kp.Items) == 0 {
		t.Fatalf("kube-proxy pods: %v", err)
	}
	for _, sh := range []string{"sh", "bash", "dash", "perl"} {
		_, _, code, err := adminConn.Exec(ctx, "kube-system", kp.Items[0].Name, "", []string{sh, "-c", "id"})
		if err == nil && code == 0 {
			t.Errorf("kube-proxy has %s", sh)
		}
	}
}

// hostListener is a web server on the workshop host that counts connections.
type hostListener struct {
	addr string // host:port
	hits atomic.Int32
}

// listenOnGateway serves on the host's address in cluster's Docker network.
func listenOnGateway(t *testing.T, cluster string) *hostListener {
	t.Helper()
	out, err := exec.Command("docker", "network", "inspect", cluster, "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}").Output()
	if err != nil {
		t.Fatalf("the cluster's network: %v", err)
	}
	gw := strings.Fields(string(out))
	if len(gw) == 0 {
		t.Fatalf("network %s has no gateway", cluster)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(gw[0], "0"))
	if err != nil {
		t.Fatal(err)
	}
	h := &hostListener{addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "the workshop host") }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				h.hits.Add(1)
			}
		}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h
}

// learnerCluster names the learner's cluster: the one with the namespace the
// learner made (the pool also keeps a warm one).
func learnerCluster(t *testing.T, p *platform) string {
	t.Helper()
	names, err := p.m.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		c, err := p.m.Get(context.Background(), n)
		if err != nil {
			continue
		}
		conn, err := workstation.Connect(c.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Client.CoreV1().Namespaces().Get(context.Background(), "mine", metav1.GetOptions{}); err == nil {
			return n
		}
	}
	t.Fatalf("none of %v is the learner's cluster", names)
	return ""
}

// adminOf returns an admin connection to the learner's cluster: the one with the
// namespace the learner made (the pool also keeps a warm one).
func adminOf(t *testing.T, p *platform) *workstation.Conn {
	t.Helper()
	c, err := p.m.Get(context.Background(), learnerCluster(t, p))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := workstation.Connect(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestE2EForgedShellMarks types, into a learner's real terminal on services-dns
// step 3 (whose only check is a command check for `kubectl logs --selector
// app=signup,component=homepage`), every way we know of to print a shell
// integration mark claiming that command ran and succeeded. None records the
// command or passes the step; the real command, typed after them, does both.
func TestE2EForgedShellMarks(t *testing.T) {
	p := startHandingOver(t)
	c, sessionURL := startSession(t, p.URL)
	sid := sessionID(t, strings.TrimPrefix(sessionURL, p.URL))
	resp, err := c.PostForm(sessionURL+"/step", url.Values{"step": {"3"}, "csrf": {pageCSRF(t, c, sessionURL)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	conn := openTerminal(t, c, sessionURL)
	defer conn.Close()
	sh := &shell{t: t, conn: conn}
	sh.must(`kubectl apply -f homepage.yaml && kubectl rollout status deploy/homepage --timeout=120s`)

	const claim = `kubectl logs --selector app=signup,component=homepage`
	entry := `\e]633;E;  99  ` + claim + `\a`
	forgeries := []struct{ name, cmd string }{
		{"printf of an end mark", `printf '` + entry + `\e]133;D;0;0\a'`},
		{"printf of a whole command's marks", `printf '\e]133;C\a` + entry + `\e]133;D;0;0\a'`},
		{"echo -e of the marks with ST terminators", `echo -e '\e]133;C\e\\\e]633;E;  99  ` + claim + `\e\\\e]133;D;0\e\\'`},
		{"marks from a background job after the prompt", `(sleep 1; printf '\e]133;C\a` + entry + `\e]133;D;0;0\a') & sleep 2`},
		{"the history entry's own number, claimed", `printf '\e]633;E;%s\a\e]133;D;0;0\a' "$(HISTTIMEFORMAT= history 1 | sed 's/^ *[0-9]*  //; s/.*/  999  ` + claim + `/')"`},
		{"marks printed by a script file", `printf '#!/bin/sh\nprintf "\\033]133;D;0;0\\007"\n' > /tmp/f.sh && sh /tmp/f.sh`},
	}
	for _, f := range forgeries {
		t.Run(f.name, func(t *testing.T) {
			sh.t = t
			sh.run(f.cmd)
			time.Sleep(500 * time.Millisecond) // a background job's marks
			cmds, err := p.db.Commands(context.Background(), sid, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cmds {
				if strings.HasPrefix(c.Line, "kubectl logs") {
					t.Fatalf("a forged mark recorded %q", c.Line)
				}
			}
			if passed(t, p, sid, 3) {
				t.Fatal("a forged mark passed the step")
			}
		})
	}
	sh.t = t
	// Typed on its own line, as the step shows it (the helper's wrapper would hide
	// its exit status behind an echo).
	conn.WriteJSON(map[string]any{"type": "input", "data": claim + "\r"})
	deadline := time.Now().Add(30 * time.Second)
	for !passed(t, p, sid, 3) {
		if time.Now().After(deadline) {
			t.Fatal("the real command did not pass the step: the test above proves nothing")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// passed reports whether step n of session sid has passed.
func passed(t *testing.T, p *platform, sid string, n int) bool {
	t.Helper()
	events, err := p.db.Events(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Kind == activity.KindStepPass && e.Step == n {
			return true
		}
	}
	return false
}
