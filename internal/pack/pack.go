// Package pack turns a code directory into one gzip'd tar stream that is the
// same, byte for byte, whenever the code is the same.
//
// [Scan] walks the directory, leaving out what .gitignore and .runctlignore
// files exclude (see package ignore), the .git directory, files that look
// like secrets and symbolic links that would lead outside the directory. It
// hashes what is left into a Manifest whose Hash names the code: callers can
// store the archive under that name and skip the upload when it exists.
// [Manifest.WriteArchive] then streams the archive with bounded memory.
//
// Archives hold regular files, directories and relative symbolic links whose
// names are relative and clean, with owner 0, a fixed modification time and
// the permission bits of the source. Extract them with tar's -m (--touch) so
// that tools which compare modification times, such as Python's bytecode
// cache, see the files as new.
package pack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/runctl/runctl/internal/ignore"
)

// ErrChanged reports that a file changed between Scan and WriteArchive, so
// the archive would not match the Manifest's Hash. Scan again and retry.
var ErrChanged = errors.New("file changed since it was scanned")

// EntryType is the kind of an Entry.
type EntryType uint8

// The kinds of entries an archive holds.
const (
	TypeFile EntryType = iota + 1
	TypeDir
	TypeSymlink
)

// Entry is one path in the archive.
type Entry struct {
	// Path is slash-separated and relative to the root, never "." and never
	// holding ".." elements.
	Path string
	Type EntryType
	Mode fs.FileMode // permission bits only
	Size int64       // content length for files, 0 otherwise
	Hash string      // hex SHA-256 of the content, for files
	Link string      // target of a symbolic link, relative to its directory

	st fileStat
}

// Manifest lists what Scan found. Its Entries are sorted by Path and its
// Hash identifies their names, kinds, modes and contents (not times or
// owners), so equal hashes mean equal archives. WriteArchive may be called
// any number of times, also concurrently, as long as nobody changes the
// Manifest meanwhile.
type Manifest struct {
	Root       string  // absolute directory, symbolic links resolved
	Entries    []Entry // sorted by Path
	Skipped    []Skip  // paths left out that the caller should mention
	Files      int     // regular files among Entries
	TotalBytes int64   // sum of the regular files' sizes
	Hash       string  // hex SHA-256 of the manifest; see the package doc

	opts options
}

// Scan walks root and returns what its archive would hold, without building
// the archive: use it for dry runs and to decide whether an upload is needed.
//
// It hashes every file whose content the stat cache does not vouch for, so
// its first run on a tree reads everything, while later runs on an unchanged
// tree only list directories and stat files. A file that cannot be read, or
// an ignore file that cannot be read, fails the Scan: shipping a tree with a
// hole in it, or with files an unread .gitignore meant to leave out, would
// be worse. Paths left out as secrets or unsafe links are in Skipped; tell
// the user about them.
func Scan(ctx context.Context, root string, opts ...Option) (*Manifest, error) {
	o := resolveOptions(opts)
	dir, err := resolveRoot(root)
	if err != nil {
		return nil, err
	}
	m, err := ignore.New(dir, ignore.WithDefaults(o.secrets...))
	if err != nil {
		return nil, fmt.Errorf("reading ignore rules of %s: %w", root, err)
	}

	// Walk, then settle links, whose fate depends on what else is kept.
	w := &walker{ctx: ctx, root: dir, matcher: m}
	if err := w.walk(""); err != nil {
		return nil, err
	}
	if err := m.Err(); err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, err)
	}
	sortEntries(w.entries)
	entries, skipped := settleLinks(w.entries, w.links, w.skipped)

	man := &Manifest{Root: dir, Entries: entries, Skipped: skipped, opts: o}
	if err := man.hashFiles(ctx); err != nil {
		return nil, err
	}
	man.summarize()
	return man, nil
}

// resolveRoot returns root as an absolute path free of symbolic links, so
// that links inside it can be checked against it.
func resolveRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("resolving code directory %s: %w", root, err)
	}
	dir, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("resolving code directory %s: %w", root, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("reading code directory %s: %w", root, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("code directory %s is not a directory", root)
	}
	return dir, nil
}

// summarize fills the totals and the manifest hash.
func (m *Manifest) summarize() {
	m.Files, m.TotalBytes = 0, 0
	for _, e := range m.Entries {
		if e.Type == TypeFile {
			m.Files++
			m.TotalBytes += e.Size
		}
	}
	m.Hash = manifestHash(m.Entries)
}
