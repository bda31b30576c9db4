package instances

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/db"
)

// benchStore is a SQLite store holding n instances over 10 projects and
// 100 hosts, created in one transaction.
func benchStore(b *testing.B, n int) *Store {
	b.Helper()
	s := New(db.OpenTest(b, os.DirFS("../migrations")))
	ctx := context.Background()
	err := s.DB().Tx(ctx, func(tx *sql.Tx) error {
		for i := range n {
			in := newInstance(fmt.Sprint("p", i%10), fmt.Sprint("server-", i))
			in.Host = fmt.Sprint("h", i%100)
			in.VMState = Active
			in.Metadata = map[string]string{"k": "v"}
			in.Tags = []string{"t"}
			in.CreatedAt = time.Unix(1e9+int64(i), 0)
			if err := s.CreateTx(ctx, tx, in, Action{RequestID: "r"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkList: pages of servers out of 10,000.
func BenchmarkList(b *testing.B) {
	s := benchStore(b, 10000)
	ctx := context.Background()
	mid, err := s.List(ctx, Query{Limit: 5000})
	if err != nil {
		b.Fatal(err)
	}
	marker := mid[len(mid)-1].UUID
	for _, bc := range []struct {
		name string
		q    Query
	}{
		{"project-1000", Query{ProjectID: "p3", Limit: 1000}},
		{"all-1000", Query{Limit: 1000}},
		{"all-marker-1000", Query{Limit: 1000, Marker: marker}},
		{"all-by-name-1000", Query{Limit: 1000, SortKeys: []string{"display_name"}, SortDirs: []string{"asc"}}},
		{"project-regex-10", Query{ProjectID: "p3", Name: "-99", Limit: 10}},
		{"host-all", Query{Host: "h7"}},
		{"project-all", Query{ProjectID: "p3"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.List(ctx, bc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHeartbeat: 1,000 hosts beating.
func BenchmarkHeartbeat(b *testing.B) {
	s := New(db.OpenTest(b, os.DirFS("../migrations")))
	ctx := context.Background()
	for h := range 1000 {
		s.Heartbeat(ctx, fmt.Sprint("h", h), "nova-compute", time.Now(), 10*time.Second)
	}
	n := 0
	for b.Loop() {
		if _, _, err := s.Heartbeat(ctx, fmt.Sprint("h", n%1000), "nova-compute", time.Now(), 10*time.Second); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkGet and BenchmarkUpdate: one server out of 10,000.
func BenchmarkGetUpdate(b *testing.B) {
	s := benchStore(b, 10000)
	ctx := context.Background()
	l, _ := s.List(ctx, Query{Limit: 1})
	id := l[0].UUID
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Get(ctx, id, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Update(ctx, id, Guard{}, func(i *Instance) error { i.Progress++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCountUsage: the quota count of one project's 1,000 servers (of
// 10,000), as every server create runs it.
func BenchmarkCountUsage(b *testing.B) {
	s := benchStore(b, 10000)
	ctx := context.Background()
	for b.Loop() {
		n, _, _, err := s.CountUsage(ctx, nil, "p3", "")
		if err != nil || n != 1000 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkUpdateParallel: guarded updates of different servers (of
// 10,000) by 16 writers, each with an action event, as the conductor's.
func BenchmarkUpdateParallel(b *testing.B) {
	s := benchStore(b, 10000)
	ctx := context.Background()
	l, _ := s.List(ctx, Query{Limit: 1000})
	var n atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			in := l[n.Add(1)%int64(len(l))]
			ev := []EventWrite{{RequestID: "r", Event: "e", Start: time.Now(), Finish: time.Now(), Result: "Success"}}
			if _, err := s.UpdateRecording(ctx, in.UUID, Guard{}, ev, func(i *Instance) error { i.Progress++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
