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
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindlab/kindlab/server"
	"github.com/kindlab/kindlab/server/cluster"
	"github.com/kindlab/kindlab/server/store"
)

func (c *cli) serve(args []string) error {
	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags.SetOutput(c.stderr)
	addr := flags.String("addr", "127.0.0.1:8080", "listen address")
	db := flags.String("db", "", "SQLite database (default: kindlab.db in the state folder)")
	warm := flags.Int("pool-warm", 1, "clusters kept ready ahead of learners")
	maxClusters := flags.Int("pool-max", 0, "most clusters at once (default: what kindlab doctor says fits)")
	idle := flags.Duration("idle-timeout", 2*time.Hour, "end sessions idle this long")
	maxAge := flags.Duration("max-age", 8*time.Hour, "end sessions this long after they started")
	dir := flags.String("dir", "", "serve labs from this source tree instead of the built-in catalog")
	instructorToken := flags.String("instructor-token", os.Getenv("KINDLAB_INSTRUCTOR_TOKEN"), "instructors sign in with this token (default: a random one, printed)")
	m, set, err := c.manager(flags, args)
	if err != nil {
		return err
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
	if err := os.MkdirAll(filepath.Dir(*db), 0o700); err != nil {
		return err
	}
	st, err := store.Open(c.ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	if *instructorToken == "" {
		b := make([]byte, 18)
		rand.Read(b)
		*instructorToken = base64.RawURLEncoding.EncodeToString(b)
	}
	if *maxClusters <= 0 {
		*maxClusters = max(1, cluster.Doctor(c.ctx, cluster.LocalHost(), set.Node).Fit)
	}
	platform, err := fs.Sub(fsys.manifests, "platform")
	if err != nil {
		return err
	}
	pool := cluster.NewPool(m, cluster.PoolOptions{
		Warm: *warm, Max: *maxClusters, Logger: c.log,
		Prepare: func(ctx context.Context, cl *cluster.Cluster) error {
			cfg, err := clientcmd.BuildConfigFromFlags("", cl.Kubeconfig)
			if err != nil {
				return err
			}
			return cluster.Prepare(ctx, cfg, platform, nil)
		},
	})
	srv, err := server.New(server.Config{
		Catalog: cat, Manifests: fsys.manifests, Store: st, Pool: pool, Clusters: m, Logger: c.log,
		IdleTimeout: *idle, MaxAge: *maxAge, InstructorToken: *instructorToken,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Recover(c.ctx, func(cl *cluster.Cluster) { pool.Adopt(cl, true) }); err != nil {
		return fmt.Errorf("recover sessions: %w", err)
	}
	go pool.Run(c.ctx)
	go srv.Reap(c.ctx, 30*time.Second)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	c.log.Info("kindlab serving", "url", "http://"+ln.Addr().String(), "node_image", set.Node, "pool_warm", *warm, "pool_max", *maxClusters, "db", *db)
	fmt.Fprintf(c.stdout, "kindlab is serving on http://%s\ninstructors: http://%s/instructor with the token %s\n", ln.Addr(), ln.Addr(), *instructorToken)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
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
