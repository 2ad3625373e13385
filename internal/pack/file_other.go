//go:build !linux && !darwin

package pack

import (
	"io/fs"
	"os"
)

// statOf returns the stat data the stat cache and WriteArchive compare.
// TODO(runctl): without inode and change time here, the stat cache trusts
// size and modification time alone on these systems.
func statOf(fi fs.FileInfo) fileStat {
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: uint32(fi.Mode())}
}

// rawFile reads a file; elsewhere than Linux and macOS an *os.File does.
type rawFile struct{ *os.File }

func openContent(abs string) (*rawFile, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	return &rawFile{f}, nil
}

func (f *rawFile) stat() (fileStat, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileStat{}, err
	}
	return statOf(fi), nil
}
