//go:build linux || darwin

package pack

import (
	"io"
	"io/fs"
	"syscall"
)

// statOf returns the stat data the stat cache and WriteArchive compare.
func statOf(fi fs.FileInfo) fileStat {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fromSys(st)
	}
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: uint32(fi.Mode())}
}

// rawFile reads a file through plain system calls. Opening an *os.File
// also registers it with the runtime's poller, which for a regular file
// costs three more system calls that fail or undo each other; with tens of
// thousands of small files that is a measurable share of a pack.
type rawFile struct{ fd int }

// openContent opens a regular file for reading. O_NOFOLLOW makes a file
// swapped for a symbolic link since the walk fail instead of leading
// elsewhere.
func openContent(abs string) (*rawFile, error) {
	for {
		fd, err := syscall.Open(abs, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: abs, Err: err}
		}
		return &rawFile{fd: fd}, nil
	}
}

func (f *rawFile) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(f.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *rawFile) stat() (fileStat, error) {
	var st syscall.Stat_t
	for {
		err := syscall.Fstat(f.fd, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fileStat{}, err
		}
		return fromSys(&st), nil
	}
}

func (f *rawFile) Close() error { return syscall.Close(f.fd) }
