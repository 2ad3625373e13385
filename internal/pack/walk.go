package pack

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/runctl/runctl/internal/ignore"
)

// fileStat is what the stat cache and WriteArchive compare to tell whether
// a file changed.
type fileStat struct {
	size, mtime, ctime int64
	ino, dev           uint64
	mode               uint32
}

// walker collects entries below root. It never enters an ignored directory,
// a .git directory or a symbolic link.
type walker struct {
	ctx     context.Context
	root    string
	matcher *ignore.Matcher
	entries []Entry
	links   []pendingLink
	skipped []Skip
}

// pendingLink is a symbolic link inside the root whose target resolved to
// the slash-separated path target ("" for the root itself).
type pendingLink struct {
	entry  Entry
	target string
}

func (w *walker) walk(dir string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	des, err := os.ReadDir(filepath.Join(w.root, filepath.FromSlash(dir)))
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", w.display(dir), err)
	}
	for _, de := range des {
		if de.Name() == ".git" {
			continue // a repository's store is never shipped
		}
		if err := w.visit(path.Join(dir, de.Name()), de); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) visit(rel string, de fs.DirEntry) error {
	isDir := de.IsDir()
	if r := w.matcher.Match(rel, isDir); r.Ignored {
		if r.ByDefault {
			w.skipped = append(w.skipped, Skip{Path: rel, Dir: isDir, Reason: SkipSecret})
		}
		return nil
	}
	fi, err := de.Info()
	if err != nil {
		return fmt.Errorf("reading %s: %w", w.display(rel), err)
	}
	e := Entry{Path: rel, Mode: fi.Mode().Perm(), st: statOf(fi)}
	switch {
	case isDir:
		e.Type = TypeDir
		w.entries = append(w.entries, e)
		return w.walk(rel)
	case fi.Mode().IsRegular():
		e.Type, e.Size = TypeFile, fi.Size()
		w.entries = append(w.entries, e)
	case fi.Mode()&fs.ModeSymlink != 0:
		w.visitLink(e)
	default:
		w.skipped = append(w.skipped, Skip{Path: rel, Reason: SkipSpecial})
	}
	return nil
}

// visitLink keeps a link for settleLinks if it resolves inside the root.
func (w *walker) visitLink(e Entry) {
	abs := filepath.Join(w.root, filepath.FromSlash(e.Path))
	e.Type, e.Mode = TypeSymlink, 0o777
	target, err := os.Readlink(abs)
	if err == nil && filepath.IsAbs(target) {
		w.skipped = append(w.skipped, Skip{Path: e.Path, Reason: SkipLinkAbsolute})
		return
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		w.skipped = append(w.skipped, Skip{Path: e.Path, Reason: SkipLinkDangling})
		return
	}
	rel, err := filepath.Rel(w.root, resolved)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		w.skipped = append(w.skipped, Skip{Path: e.Path, Reason: SkipLinkOutside})
		return
	}
	if rel == "." {
		rel = ""
	}
	w.links = append(w.links, pendingLink{entry: e, target: filepath.ToSlash(rel)})
}

func (w *walker) display(rel string) string {
	return filepath.Join(w.root, filepath.FromSlash(rel))
}

// settleLinks adds the links whose resolved target is shipped, written as a
// path relative to the link's directory, and reports the others. entries
// must be sorted; the result is too.
func settleLinks(entries []Entry, links []pendingLink, skipped []Skip) ([]Entry, []Skip) {
	if len(links) == 0 {
		return entries, skipped
	}
	kept := make(map[string]bool, len(entries))
	for _, e := range entries {
		kept[e.Path] = true
	}
	for _, l := range links {
		if l.target != "" && !kept[l.target] {
			skipped = append(skipped, Skip{Path: l.entry.Path, Reason: SkipLinkToLeftOut})
			continue
		}
		l.entry.Link = relativeLink(path.Dir(l.entry.Path), l.target)
		entries = append(entries, l.entry)
	}
	sortEntries(entries)
	return entries, skipped
}

// relativeLink returns target, relative to the root, as seen from dir.
func relativeLink(dir, target string) string {
	if dir == "." {
		dir = ""
	}
	from := splitPath(dir)
	to := splitPath(target)
	common := 0
	for common < len(from) && common < len(to) && from[common] == to[common] {
		common++
	}
	parts := make([]string, 0, len(from)-common+len(to)-common)
	for range from[common:] {
		parts = append(parts, "..")
	}
	parts = append(parts, to[common:]...)
	if len(parts) == 0 {
		return "."
	}
	return strings.Join(parts, "/")
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
