package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/server"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/workshop"
)

// refillAfter is how long after a learner takes a warm cluster the pool starts
// a new one: the learner's start then does not share the CPU with a create.
const refillAfter = 3 * time.Second

func (c *cli) serve(args []string) error {
	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags.SetOutput(c.stderr)
	addr := flags.String("addr", "127.0.0.1:8080", "listen address")
	db := flags.String("db", os.Getenv("KINDLAB_DB"), "where kindlab keeps its state: a SQLite file, or a postgres:// URL that replicas share (default: $KINDLAB_DB, else kindlab.db in the state folder; PGPASSWORD and ~/.pgpass keep a password out of the URL)")
	warm := flags.Int("pool-warm", 1, "clusters kept ready ahead of learners")
	hot := flags.Int("pool-hot", 1, "warm clusters kept running; the others are paused (no CPU) until claimed (-1: none paused)")
	maxClusters := flags.Int("pool-max", 0, "most clusters at once (default: what kindlab doctor says fits)")
	idle := flags.Duration("idle-timeout", 2*time.Hour, "end sessions idle this long")
	maxAge := flags.Duration("max-age", 8*time.Hour, "end sessions this long after they started")
	pauseIdle := flags.Duration("pause-idle", 10*time.Minute, "pause a learner's cluster (no CPU) once they have done nothing for this long; their next keystroke, page or app link wakes it (0: never)")
	health := flags.Duration("health-every", 2*time.Second, "probe each learner's cluster this often; one that fails three probes in a row (or times them out for 45 s while its node runs) is replaced and the learner kept on their step (0: never)")
	dir := flags.String("dir", "", "serve labs from this source tree instead of the built-in catalog")
	tokenFile := flags.String("instructor-token-file", "", "read the instructor token from this file (or set KINDLAB_INSTRUCTOR_TOKEN; default: a random one, printed once)")
	tlsCert := flags.String("tls-cert", "", "serve HTTPS with this certificate (PEM); cookies are then Secure, with HSTS")
	tlsKey := flags.String("tls-key", "", "the private key of --tls-cert (PEM)")
	secureCookies := flags.Bool("secure-cookies", false, "mark every cookie Secure (kindlab is reached over HTTPS through a proxy)")
	trusted := flags.String("trusted-proxy", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed")
	hosts := flags.String("host", "", "comma-separated host names kindlab is reached by, besides the listen address (others are refused)")
	perClient := flags.Int("sessions-per-client", 2, "live lab sessions one address may start without a workshop")
	streamsPerSession := flags.Int("streams-per-session", 16, "live connections (event streams, terminals) one lab session or workshop dashboard may hold open")
	streamsPerClient := flags.Int("streams-per-client", 128, "live connections one address may hold open (a room behind one NAT address shares it)")
	hostname, _ := os.Hostname()
	replica := flags.String("replica", hostname, "this kindlab's name in the database: the owner of the sessions it starts (replicas sharing a postgres:// --db need different names)")
	replicaURL := flags.String("replica-url", "", "where the other replicas reach this one, with a postgres:// --db (default: http:// and --addr)")
	lease := flags.Duration("replica-lease", 10*time.Second, "with a postgres:// --db: a replica silent for this long is gone, and the others take its learners over")
	m, set, err := c.manager(flags, args)
	if err != nil {
		return err
	}
	allowed, err := server.ListenHosts(*addr, strings.Split(*hosts, ",")...)
	if err != nil {
		return usageError{err.Error()}
	}
	cat, fsys, err := loadCatalog(*dir)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return fmt.Errorf("the lab catalog has problems; fix them and start again")
	}
	state := filepath.Dir(m.KubeconfigDir())
	if *db == "" {
		*db = filepath.Join(state, "kindlab.db")
	}
	if !store.IsPostgres(*db) {
		if err := os.MkdirAll(filepath.Dir(*db), 0o700); err != nil {
			return err
		}
	}
	st, err := store.Open(c.ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	instructorToken, generated, err := readInstructorToken(*tokenFile)
	if err != nil {
		return err
	}
	proxies, err := parsePrefixes(*trusted)
	if err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if fit := m.Fit(c.ctx); *maxClusters <= 0 {
		*maxClusters = max(1, fit.Fit)
	} else if fit.Measured != nil && *maxClusters > fit.Fit {
		fmt.Fprintf(c.stderr, "warning: --pool-max %d asks for more clusters than this host serves well: %d learners at work, measured %s (p95 command end to green %s, keystroke echo %s); beyond that, checks and typing slow down for everyone\n",
			*maxClusters, fit.Fit, fit.Measured.Measured.Format(time.DateOnly), fit.Measured.GreenP95, fit.Measured.EchoP95)
	}
	defer m.Close()
	platformFS, err := fs.Sub(fsys.manifests, "platform")
	if err != nil {
		return err
	}
	labFiles, err := platform.CatalogFiles(fsys.manifests, cat.Labs)
	if err != nil {
		return err
	}
	pool := cluster.NewPool(m, cluster.PoolOptions{
		Warm: *warm, Hot: *hot, Max: *maxClusters, Tag: cluster.PoolTag(*replica), Logger: c.log, RefillAfter: refillAfter,
		Prepare: platform.Preparer(platformFS, labFiles),
	})
	if !store.IsPostgres(*db) {
		*lease = 0 // one replica: SQLite is not shared
	} else if *replicaURL == "" {
		*replicaURL = "http://" + *addr
	}
	limits, err := platform.LoadNamespaceLimits(platformFS)
	if err != nil {
		return err
	}
	board, err := workshop.NewBoard(st, cat, workshop.WithLogger(c.log))
	if err != nil {
		return err
	}
	// The sessions outlive the signal that stops kindlab until the HTTP server
	// has shut down: a learner's terminal must see kindlab go away (and
	// reconnect to another replica, or to this one restarted), not its shell
	// exit.
	life, endSessions := context.WithCancel(context.WithoutCancel(c.ctx))
	defer endSessions()
	sessions, err := session.New(life, session.Config{
		Catalog: cat, Manifests: fsys.manifests, Store: st, Pool: pool, Clusters: m, Limits: limits, Logger: c.log,
		IdleTimeout: *idle, MaxAge: *maxAge, HealthEvery: *health, PauseIdle: *pauseIdle, DiskBudget: m.Budget().Disk,
		OnEvent: func(e activity.Event) { board.Record(life, e) },
		Replica: *replica, Lease: *lease, ReplicaURL: *replicaURL,
	})
	if err != nil {
		return err
	}
	if store.IsPostgres(*db) { // other replicas may share it
		go board.Follow(life, *replica, func(e activity.Event) { sessions.TellWorkshop(e.Workshop, e.Message) })
	}
	srv, err := server.New(server.Config{
		Catalog: cat, Store: st, Sessions: sessions, Board: board, Pool: pool, Logger: c.log,
		FreeMemory: m.FreeMemoryMiB, InstructorToken: instructorToken,
		SecureCookies: *secureCookies, TrustedProxies: proxies, Hosts: allowed,
		Limits: server.Limits{SessionsPerClient: *perClient, StreamsPerSession: *streamsPerSession, StreamsPerClient: *streamsPerClient},
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := sessions.Recover(c.ctx, func(cl *cluster.Cluster) { pool.Adopt(cl, true) }); err != nil {
		return fmt.Errorf("recover sessions: %w", err)
	}
	go pool.Run(c.ctx)
	go sessions.Reap(c.ctx, 30*time.Second)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String()
	c.log.Info("kindlab serving", "url", base, "node_image", set.Node, "backend", m.String(), "pool_warm", *warm, "pool_hot", *hot, "pool_max", *maxClusters, "db", store.Redact(*db))
	fmt.Fprintf(c.stdout, "kindlab is serving on %s\n", base)
	if generated {
		// Printed once, to the terminal that started kindlab; never logged.
		fmt.Fprintf(c.stdout, "instructors: %s/instructor with the token %s\n", base, instructorToken)
	} else {
		fmt.Fprintf(c.stdout, "instructors: %s/instructor with the token you gave\n", base)
	}
	return c.listenAndServe(ln, srv.Handler(), *tlsCert, *tlsKey)
}

// listenAndServe serves h on ln (over TLS when cert is set) until the CLI's
// context ends, then shuts down gracefully.
func (c *cli) listenAndServe(ln net.Listener, h http.Handler, cert, key string) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() {
		if cert != "" {
			errc <- hs.ServeTLS(ln, cert, key)
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-c.ctx.Done():
	}
	c.log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// readInstructorToken takes the instructor token from a file or the environment
// (never a flag: the process list shows flags), or makes a random one. generated
// says whether kindlab made it (and so must print it).
func readInstructorToken(file string) (token string, generated bool, err error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("instructor token: %w", err)
		}
		token = strings.TrimSpace(string(data))
	} else {
		token = os.Getenv("KINDLAB_INSTRUCTOR_TOKEN")
		os.Unsetenv("KINDLAB_INSTRUCTOR_TOKEN") // not passed on to docker, kind and friends
	}
	if token != "" {
		if len(token) < 16 {
			return "", false, errors.New("the instructor token must be at least 16 characters")
		}
		return token, false, nil
	}
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b), true, nil
}

// parsePrefixes reads a comma-separated list of addresses and CIDRs.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
