package objserver

import (
	"io"
	"os"
	"syscall"
	"unsafe"
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

// listDir returns the names in dir, nil for a missing directory. It
// speaks to the kernel directly: os.Open would add an fstat, and this is
// on the path of every request.
func listDir(dir string) ([]string, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		if err == syscall.ENOENT {
			return nil, nil
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	var buf [8192]byte
	var names []string
	for {
		n, err := syscall.Getdents(fd, buf[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
	}
}

// startWriteback asks the kernel to start writing [off, off+n) of f to
// disk without waiting, so a large upload reaches the disk while it
// streams in and the final fdatasync has little left to do.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2 // SYNC_FILE_RANGE_WRITE
	if sc, err := f.SyscallConn(); err == nil {
		_ = sc.Control(func(fd uintptr) { _ = syscall.SyncFileRange(int(fd), off, n, syncFileRangeWrite) })
	}
}

// setDirect turns O_DIRECT on or off for f (Linux lets fcntl change it).
func setDirect(f *os.File, on bool) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		if errno != 0 {
			serr = errno
			return
		}
		if on {
			flags |= syscall.O_DIRECT
		} else {
			flags &^= syscall.O_DIRECT
		}
		if _, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFL, flags); errno != 0 {
			serr = errno
		}
	}); err != nil {
		return err
	}
	return serr
}

// preadv fills bufs in turn from f at off with as few system calls as
// the kernel allows (one, unless interrupted); it returns the bytes read
// and io.EOF if the file ended first.
func preadv(f *os.File, bufs [][]byte, off int64) (int, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	iov := make([]syscall.Iovec, 0, len(bufs))
	for _, b := range bufs {
		if len(b) > 0 {
			iov = append(iov, syscall.Iovec{Base: &b[0], Len: uint64(len(b))})
		}
	}
	total := 0
	var rerr error
	if err := sc.Control(func(fd uintptr) {
		for len(iov) > 0 {
			n, _, errno := syscall.Syscall6(syscall.SYS_PREADV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)),
				uintptr(off), uintptr(off>>32), 0)
			if errno == syscall.EINTR || errno == syscall.EAGAIN {
				continue
			}
			if errno != 0 {
				rerr = &os.PathError{Op: "preadv", Path: f.Name(), Err: errno}
				return
			}
			if n == 0 {
				rerr = io.EOF
				return
			}
			total += int(n)
			off += int64(n)
			for n > 0 && len(iov) > 0 {
				if uint64(n) < iov[0].Len {
					iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
					iov[0].Len -= uint64(n)
					break
				}
				n -= uintptr(iov[0].Len)
				iov = iov[1:]
			}
		}
	}); err != nil {
		return total, err
	}
	return total, rerr
}

// dropCache tells the kernel that [off, off+n) of f will not be read
// again soon (POSIX_FADV_DONTNEED): its clean pages are freed at once.
func dropCache(f *os.File, off, n int64) {
	const fadvDontNeed = 4
	if sc, err := f.SyscallConn(); err == nil {
		_ = sc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, fd, uintptr(off), uintptr(n), fadvDontNeed, 0, 0)
		})
	}
}
