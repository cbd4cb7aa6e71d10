// Package storetest gives tests a kindlab store on each database it supports:
// a SQLite file, and a new database on the PostgreSQL server named by
// $KINDLAB_TEST_POSTGRES (make unit starts one with hack/ensure-postgres.sh).
package storetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the test PostgreSQL server's URL.
const Env = "KINDLAB_TEST_POSTGRES"

// Each runs f once per database, with where to open the store: a SQLite file
// in a temporary folder, then a new PostgreSQL database.
func Each(t *testing.T, f func(t *testing.T, where string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, filepath.Join(t.TempDir(), "kindlab.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, Postgres(t)) })
}

// Postgres creates an empty database on the test server and returns its URL;
// the database is dropped when t ends. Without $KINDLAB_TEST_POSTGRES, t is
// skipped, saying how to start the server.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(Env)
	if base == "" {
		t.Skipf("%s is not set: run make unit, or export %s=$(bash hack/ensure-postgres.sh)", Env, Env)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("the test PostgreSQL server (%s) does not answer: %v", u.Redacted(), err)
	}
	defer admin.Close(context.Background())
	name := "kindlab_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", name)); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// Cuttable puts a TCP proxy in front of the PostgreSQL database at where and
// returns the URL through it, and cut, which drops every connection and
// refuses new ones, as a lost network or a restarting server does, until the
// restore it returns is called.
func Cuttable(t testing.TB, where string) (proxied string, cut func() (restore func())) {
	t.Helper()
	u, err := url.Parse(where)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: u.Host, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.drop() })
	go p.serve(ln)
	u.Host = ln.Addr().String()
	return u.String(), func() func() {
		p.setDown(true)
		p.drop()
		return func() { p.setDown(false) }
	}
}

type proxy struct {
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func (p *proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *proxy) forward(c net.Conn) {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		c.Close()
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	go func() { io.Copy(s, c); s.Close() }()
	io.Copy(c, s)
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// drop closes every connection through the proxy.
func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}
