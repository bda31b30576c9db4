//go:build !linux

package objserver

import "os"

func fdatasync(f *os.File) error { return f.Sync() }
