// Command coredns is CoreDNS with only the plugins a learner cluster's
// Corefile (kubeadm's default) uses, so that a cold build compiles a fraction
// of it: no cloud DNS backends, etcd client, tracing or DNSSEC signing. The
// plugins still run in CoreDNS's own order (its dnsserver.Directives); a
// Corefile naming any other plugin fails to load, saying which.
package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics" // the Corefile's "prometheus"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
