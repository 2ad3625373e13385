package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/runctl/runctl/internal/pack/synth"
)

// Tree kinds, as the report names them.
const (
	TreeSmall = "small" // many small source files
	TreeLarge = "large" // a few large files, half random, half numeric text
	TreeML    = "ml"    // code plus a big data directory that .gitignore leaves out
	TreeShip  = "ship"  // the tree shipped for the memory measurement
)

// Sizes are the sizes of the synthetic trees.
type Sizes struct {
	SmallFiles  int   // files in the small tree
	LargeBytes  int64 // bytes of the large tree, in four files
	MLCodeFiles int   // code files of the ML repository
	MLDataBytes int64 // ignored bytes of the ML repository
	ShipBytes   int64 // bytes of the tree shipped for memory, in four files
}

// DefaultSizes are the sizes the report uses.
var DefaultSizes = Sizes{
	SmallFiles:  10000,
	LargeBytes:  256 << 20,
	MLCodeFiles: 2000,
	MLDataBytes: 1 << 30,
	ShipBytes:   1 << 30,
}

// Tree is a synthetic tree on disk.
type Tree struct {
	Kind    string
	Dir     string
	Shipped synth.Stats // what runctl ships
	Ignored synth.Stats // what .gitignore leaves out
	Written time.Time   // when its files were last touched
}

// Describe says what the tree holds, for the report.
func (t Tree) Describe() string {
	s := fmt.Sprintf("%s files, %s", thousands(int64(t.Shipped.Files)), mib(t.Shipped.Bytes))
	if t.Ignored.Files > 0 {
		s += fmt.Sprintf(" (+%s ignored)", mib(t.Ignored.Bytes))
	}
	return s
}

// MakeTree writes the tree of the given kind under dir. The same kind and
// sizes always give the same bytes. Its files are dated an hour back, as in
// a working tree.
func MakeTree(kind, dir string, sz Sizes) (Tree, error) {
	t := Tree{Kind: kind, Dir: dir}
	var err error
	switch kind {
	case TreeSmall:
		t.Shipped, err = synth.SmallFiles(dir, sz.SmallFiles, synth.GoSource, 1)
	case TreeLarge:
		t.Shipped, err = synth.LargeFiles(dir, 2, 2, sz.LargeBytes/4, 1)
	case TreeML:
		t.Shipped, t.Ignored, err = synth.MLRepo(dir, sz.MLCodeFiles, sz.MLDataBytes, 1)
	case TreeShip:
		t.Shipped, err = synth.LargeFiles(dir, 2, 2, sz.ShipBytes/4, 2)
	default:
		err = fmt.Errorf("unknown tree kind %q", kind)
	}
	if err != nil {
		return t, fmt.Errorf("writing the %s tree: %w", kind, err)
	}
	if err := age(dir, time.Hour); err != nil {
		return t, err
	}
	t.Written = time.Now()
	return t, nil
}

// settleTime is how long a file's change time must lie in the past before
// the stat cache of package pack trusts it, with a margin. Setting times
// moves the change time to now, and nothing can move it back.
const settleTime = 3 * time.Second

// Settle waits until the stat cache will trust every file of the tree, as
// it trusts the files of a working tree that was not just written.
func (t Tree) Settle(ctx context.Context) error {
	return sleep(ctx, time.Until(t.Written.Add(settleTime)))
}

// addScript writes an executable script into the tree and counts it.
func (t *Tree) addScript(name, body string) error {
	if err := os.WriteFile(filepath.Join(t.Dir, name), []byte(body), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	t.Shipped.Files++
	t.Shipped.Bytes += int64(len(body))
	if err := age(filepath.Join(t.Dir, name), time.Hour); err != nil {
		return err
	}
	t.Written = time.Now()
	return nil
}

// age sets the times of everything under root to d ago.
func age(root string, d time.Duration) error {
	old := time.Now().Add(-d)
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, old, old)
	})
}

func mib(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 10<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
