package objserver

import (
	"os"
	"syscall"
)

// fdatasync flushes a file's data and the metadata needed to read it back
// (its size), skipping timestamps: what Swift calls before renaming.
func fdatasync(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return f.Sync()
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
