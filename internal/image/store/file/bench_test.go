package file_test

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/image/store/file"
	"github.com/nimbus-cloud/nimbus/internal/image/store/storetest"
)

// zeros is an endless reader that does not even clear its buffer: the
// benchmark measures the store, not the source (like dd if=/dev/zero).
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { return len(p), nil }

// BenchmarkPutGet1GiB puts 1 GiB (fsynced) and reads it back. Set
// NIMBUS_BENCH_DIR to measure a given disk; compare with
// dd if=/dev/zero of=X bs=1M count=1024 conv=fsync there.
func BenchmarkPutGet1GiB(b *testing.B) {
	const size = 1 << 30
	dir := os.Getenv("NIMBUS_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp(dir, "bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	s, err := file.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var put, get time.Duration
	for b.Loop() {
		t0 := time.Now()
		obj, err := s.Put(b.Context(), storetest.NewID(), io.LimitReader(zeros{}, size), 0)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		rc, err := s.Open(b.Context(), obj.Location, 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != size {
			b.Fatalf("read %d bytes, %v", n, err)
		}
		t2 := time.Now()
		put += t1.Sub(t0)
		get += t2.Sub(t1)
		b.StopTimer()
		if err := s.Delete(b.Context(), obj.Location); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(size*b.N)/1e6/put.Seconds(), "put-MB/s")
	b.ReportMetric(float64(size*b.N)/1e6/get.Seconds(), "get-MB/s")
}
