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
