package dbserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

func TestHandlesKeepFewOpenAndCloseIdle(t *testing.T) {
	dir := t.TempDir()
	h := newHandles(2, 50*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	defer h.closeEvery()
	ctx := context.Background()
	now := swift.Now()
	init := &info{Account: "a", Container: "c", CreatedAt: now, PutTimestamp: now, StatusChangedAt: now}
	path := func(n int) string { return filepath.Join(dir, fmt.Sprintf("db%d", n), "x.db") }

	if _, _, err := h.acquire(ctx, path(9), kindContainer, nil); !errors.Is(err, errNoDB) {
		t.Fatalf("acquire of a missing database without init: %v", err)
	}
	var held []*db
	for n := range 3 {
		d, created, err := h.acquire(ctx, path(n), kindContainer, init)
		if err != nil || !created {
			t.Fatalf("create %d: %v %v", n, created, err)
		}
		held = append(held, d)
	}
	// All three in use: none may be closed.
	if len(h.open) != 3 {
		t.Fatalf("%d open while 3 are in use", len(h.open))
	}
	for _, d := range held {
		h.release(d)
	}
	if len(h.open) != 2 {
		t.Fatalf("%d open after release, want the 2 most recent", len(h.open))
	}
	if _, ok := h.open[path(0)]; ok {
		t.Fatal("the least recently used one stayed open")
	}
	// Opened again, it is the same database.
	d, created, err := h.acquire(ctx, path(0), kindContainer, init)
	if err != nil || created {
		t.Fatalf("reopen: %v %v", created, err)
	}
	i, err := readInfo(ctx, d.sql)
	if err != nil || i.Account != "a" || i.Container != "c" {
		t.Fatalf("reopened info %+v %v", i, err)
	}
	h.release(d)
	time.Sleep(100 * time.Millisecond)
	h.sweep()
	if len(h.open) != 0 {
		t.Fatalf("%d open after the idle sweep", len(h.open))
	}
	// Removal refuses a database in use.
	d, _, _ = h.acquire(ctx, path(1), kindContainer, nil)
	if gone, err := h.remove(path(1), d, d.commits.Load()); gone || err != nil {
		t.Fatalf("removed a database in use: %v %v", gone, err)
	}
	h.release(d)
	if gone, err := h.remove(path(1), d, d.commits.Load()); !gone || err != nil {
		t.Fatalf("remove: %v %v", gone, err)
	}
	if _, _, err := h.acquire(ctx, path(1), kindContainer, nil); !errors.Is(err, errNoDB) {
		t.Fatalf("acquire after remove: %v", err)
	}
}

func TestRunReplicatesAndUpdatesInTheBackground(t *testing.T) {
	c := newCluster(t, 2)
	for i := range c.nodes {
		c.nodes[i].srv.replicate = 20 * time.Millisecond
		c.nodes[i].srv.update = 20 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.nodes[0].srv.Run(ctx); close(done) }()
	c.must(201, 0, "PUT", c.containerPath(0, "a", "bg"), "X-Timestamp", tsAt(1))
	c.putObject(0, "a", "bg", "o", 2, 7, "e")
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := c.do(1, "HEAD", c.containerPath(1, "a", "bg"))
		a := c.do(1, "HEAD", c.accountPath(1, "a"))
		if r.status == 204 && r.header.Get("X-Container-Object-Count") == "1" && a.header.Get("X-Account-Bytes-Used") == "7" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background daemons did not bring the container (%d) and its stats (%v) to node 1", r.status, a.header)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
