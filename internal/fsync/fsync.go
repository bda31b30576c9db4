// Package fsync makes a file or a directory durable by path: what a
// writer calls after renaming into a directory, or after a commit that
// did not sync itself.
package fsync

import "os"

// Path fsyncs the file or directory at path.
func Path(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
