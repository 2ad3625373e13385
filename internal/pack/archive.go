package pack

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/pgzip"
)

// Progress tells how much of an archive WriteArchive has written, counting
// regular files and their uncompressed bytes.
type Progress struct {
	Files, TotalFiles int
	Bytes, TotalBytes int64
}

// fixedModTime stamps every entry. It is later than 1980 because zip-based
// tools (Python wheels built from the extracted code) reject older times.
var fixedModTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	blockSize     = 1 << 20 // gzip block compressed by one goroutine
	copyChunk     = 1 << 20 // read size for file contents
	progressEvery = 4 << 20 // bytes between progress calls within a file
)

// WriteArchive writes the gzip'd tar archive of the Manifest's entries to w
// and returns the number of compressed bytes written. Memory stays bounded
// (a few MiB per gzip block in flight) whatever the size of the tree.
//
// progress, if not nil, is called synchronously after each file and every
// few MiB within large files; it must not block. A file that changed since
// Scan makes WriteArchive fail with an error wrapping ErrChanged. The
// archive is written from more than one goroutine, one at a time, so w
// needs no locking but must not assume the caller's goroutine.
func (m *Manifest) WriteArchive(ctx context.Context, w io.Writer, progress func(Progress)) (int64, error) {
	o := m.opts
	if o.blocks == 0 {
		o = resolveOptions(nil) // a Manifest built by hand rather than by Scan
	}
	cw := &countingWriter{w: w}
	zw, err := pgzip.NewWriterLevel(cw, o.level)
	if err != nil {
		return 0, fmt.Errorf("starting gzip: %w", err)
	}
	if err := zw.SetConcurrency(blockSize, o.blocks); err != nil {
		return 0, fmt.Errorf("starting gzip: %w", err)
	}
	a := &archiver{
		root: m.Root, tw: tar.NewWriter(zw), buf: make([]byte, copyChunk), progress: progress,
		done: Progress{TotalFiles: m.Files, TotalBytes: m.TotalBytes},
	}
	err = a.writeAll(ctx, m.Entries)
	if err == nil {
		err = a.tw.Close()
	}

	// After a failure, still close pgzip so its goroutines end, but drop
	// its last blocks and trailer: w must never hold a complete archive
	// that is not the one described.
	if err != nil {
		cw.discard.Store(true)
		_ = zw.Close()
		return cw.n.Load(), err
	}
	if err := zw.Close(); err != nil {
		return cw.n.Load(), fmt.Errorf("compressing archive: %w", err)
	}
	return cw.n.Load(), nil
}

// archiver writes entries into a tar stream.
type archiver struct {
	root     string
	tw       *tar.Writer
	buf      []byte
	progress func(Progress)
	done     Progress
}

func (a *archiver) writeAll(ctx context.Context, entries []Entry) error {
	for i := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := a.write(&entries[i]); err != nil {
			return err
		}
	}
	return nil
}

func (a *archiver) write(e *Entry) error {
	hdr, err := header(e)
	if err != nil {
		return err
	}
	if e.Type != TypeFile {
		return a.writeHeader(hdr)
	}
	f, err := openContent(filepath.Join(a.root, filepath.FromSlash(e.Path)))
	if err != nil {
		return fmt.Errorf("opening %s: %w", e.Path, err)
	}
	defer f.Close()
	if err := a.writeHeader(hdr); err != nil {
		return err
	}
	if err := a.copy(f, e); err != nil {
		return err
	}
	a.done.Files++
	a.report()
	return sameFile(f, e)
}

func (a *archiver) writeHeader(hdr *tar.Header) error {
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing archive entry %s: %w", hdr.Name, err)
	}
	return nil
}

// copy writes exactly e.Size bytes of f, reporting progress on the way.
func (a *archiver) copy(f *rawFile, e *Entry) error {
	var sinceReport int64
	for left := e.Size; left > 0; {
		n, err := f.Read(a.buf[:min(left, int64(len(a.buf)))])
		if n > 0 {
			if _, werr := a.tw.Write(a.buf[:n]); werr != nil {
				return fmt.Errorf("writing archive entry %s: %w", e.Path, werr)
			}
			left -= int64(n)
			a.done.Bytes += int64(n)
			if sinceReport += int64(n); sinceReport >= progressEvery && left > 0 {
				a.report()
				sinceReport = 0
			}
		}
		if err == io.EOF && left > 0 {
			return fmt.Errorf("reading %s: %w", e.Path, ErrChanged)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading %s: %w", e.Path, err)
		}
	}
	return nil
}

func (a *archiver) report() {
	if a.progress != nil {
		a.progress(a.done)
	}
}

// sameFile checks, after its content was copied, that the open file still
// has the stat data it had when it was hashed, so the archive matches the
// manifest's hash. Any write since then changed its modification time.
func sameFile(f *rawFile, e *Entry) error {
	st, err := f.stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", e.Path, err)
	}
	if st != e.st {
		return fmt.Errorf("reading %s: %w", e.Path, ErrChanged)
	}
	return nil
}

// header builds the tar header of an entry, refusing any name or link that
// could land outside the directory the archive is extracted into.
func header(e *Entry) (*tar.Header, error) {
	if !safeName(e.Path) {
		return nil, fmt.Errorf("refusing archive entry %q: not a clean relative path", e.Path)
	}
	h := &tar.Header{Name: e.Path, Mode: int64(e.Mode.Perm()), ModTime: fixedModTime}
	switch e.Type {
	case TypeFile:
		h.Typeflag, h.Size = tar.TypeReg, e.Size
	case TypeDir:
		h.Typeflag, h.Name = tar.TypeDir, e.Path+"/"
	case TypeSymlink:
		if !safeLink(e.Path, e.Link) {
			return nil, fmt.Errorf("refusing archive entry %q: link leads outside the archive", e.Path)
		}
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.Link
	default:
		return nil, fmt.Errorf("refusing archive entry %q: unknown type %d", e.Path, e.Type)
	}
	return h, nil
}

// safeName reports whether p is relative, clean and free of "." and ".."
// elements and NUL bytes.
func safeName(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// safeLink reports whether a relative link at p resolves, lexically, to a
// path inside the archive root.
func safeLink(p, link string) bool {
	if link == "" || path.IsAbs(link) || strings.ContainsRune(link, 0) {
		return false
	}
	target := path.Join(path.Dir(p), link)
	return target != ".." && !strings.HasPrefix(target, "../")
}

// countingWriter counts the bytes pgzip writes, from its own goroutine,
// and drops them once discard is set.
type countingWriter struct {
	w       io.Writer
	n       atomic.Int64
	discard atomic.Bool
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.discard.Load() {
		return len(p), nil
	}
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
