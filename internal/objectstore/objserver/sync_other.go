//go:build !linux

package objserver

import (
	"errors"
	"io/fs"
	"os"
)

func fdatasync(f *os.File) error { return f.Sync() }

// listDir returns the names in dir, nil for a missing directory.
func listDir(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func startWriteback(*os.File, int64, int64) {}

func setDirect(*os.File, bool) error { return errors.ErrUnsupported }

// preadv fills bufs in turn from f at off; io.EOF if the file ended first.
func preadv(f *os.File, bufs [][]byte, off int64) (int, error) {
	total := 0
	for _, b := range bufs {
		n, err := f.ReadAt(b, off)
		total += n
		off += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func dropCache(*os.File, int64, int64) {}
