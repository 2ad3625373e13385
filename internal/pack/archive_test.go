package pack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var sampleTree = tree{
	"train.py":                 "import torch\n",
	"run.sh*":                  "#!/bin/sh\necho hi\n",
	"pkg/__init__.py":          "",
	"pkg/model.py":             strings.Repeat("layer = 1\n", 5000),
	"pkg/latest":               "@link:model.py",
	"empty/":                   "",
	"deep/a/b/c/d.txt":         "deep",
	strings.Repeat("n", 120):   "a long name needs a PAX or GNU header",
	"ünïcode/ファイル.txt":         "utf-8 names",
	"spaces and\ttabs/x y.txt": "odd names",
	"not-utf8-\xff.txt":        "a name that is not UTF-8",
}

// TestArchiveReadsBackClean reads the archive with archive/tar: every name
// must be relative and clean, and every entry must match the tree.
func TestArchiveReadsBackClean(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, sampleTree)
	m := scan(t, root, testOpts(t)...)
	got := readArchive(t, archive(t, m))

	require.Len(t, got, len(m.Entries))
	for i, rb := range got {
		h, e := rb.hdr, m.Entries[i]
		name := strings.TrimSuffix(h.Name, "/")
		assert.False(t, path.IsAbs(name), "absolute name %q", h.Name)
		assert.Equal(t, name, path.Clean(name), "unclean name %q", h.Name)
		assert.NotContains(t, strings.Split(name, "/"), "..")
		assert.Equal(t, e.Path, name)
		assert.Zero(t, h.Uid)
		assert.Zero(t, h.Gid)
		assert.Empty(t, h.Uname)
		assert.True(t, h.ModTime.Equal(fixedModTime), "mtime %v", h.ModTime)
		assert.Equal(t, int64(e.Mode), h.Mode, "mode of %s", name)
		switch e.Type {
		case TypeFile:
			assert.Equal(t, byte(tar.TypeReg), h.Typeflag)
			want, err := os.ReadFile(filepath.Join(root, e.Path))
			require.NoError(t, err)
			assert.Equal(t, string(want), rb.content)
		case TypeDir:
			assert.Equal(t, byte(tar.TypeDir), h.Typeflag)
			assert.True(t, strings.HasSuffix(h.Name, "/"))
		case TypeSymlink:
			assert.Equal(t, byte(tar.TypeSymlink), h.Typeflag)
			assert.Equal(t, "model.py", h.Linkname)
		}
	}
	assert.Equal(t, int64(0o755), got[indexOf(m, "run.sh")].hdr.Mode, "the executable bit is kept")
}

func indexOf(m *Manifest, p string) int {
	for i, e := range m.Entries {
		if e.Path == p {
			return i
		}
	}
	return -1
}

// TestArchiveExtractsWithGNUTar extracts the archive the way an instance
// does and compares the result with the source.
func TestArchiveExtractsWithGNUTar(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar not installed")
	}
	root, dest := t.TempDir(), t.TempDir()
	buildTree(t, root, sampleTree)
	m := scan(t, root, testOpts(t)...)
	cmd := exec.Command("tar", "-xzmf", "-", "-C", dest)
	cmd.Stdin = bytes.NewReader(archive(t, m))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	again := scan(t, dest, testOpts(t)...)
	assert.Equal(t, m.Hash, again.Hash, "the extracted tree packs to the same hash")
	fi, err := os.Stat(filepath.Join(dest, "run.sh"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
}

func TestArchiveIsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	buildTree(t, a, sampleTree)
	buildTree(t, b, sampleTree)
	old := time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, os.Chtimes(filepath.Join(b, "train.py"), old, old))

	ma := scan(t, a, testOpts(t, WithConcurrency(1))...)
	mb := scan(t, b, testOpts(t, WithConcurrency(4))...)
	assert.Equal(t, ma.Hash, mb.Hash, "same tree, other place and times: same hash")
	assert.Equal(t, archive(t, ma), archive(t, mb), "and the same bytes")
	assert.Equal(t, archive(t, ma), archive(t, ma), "writing twice gives the same bytes")
}

func TestHashFollowsContentAndMode(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, root string)
	}{
		{"content", func(t *testing.T, root string) {
			require.NoError(t, os.WriteFile(filepath.Join(root, "train.py"), []byte("import jax\n"), 0o644))
		}},
		{"executable bit", func(t *testing.T, root string) {
			require.NoError(t, os.Chmod(filepath.Join(root, "train.py"), 0o755))
		}},
		{"new empty directory", func(t *testing.T, root string) {
			require.NoError(t, os.Mkdir(filepath.Join(root, "out"), 0o755))
		}},
		{"rename", func(t *testing.T, root string) {
			require.NoError(t, os.Rename(filepath.Join(root, "train.py"), filepath.Join(root, "main.py")))
		}},
		{"link target", func(t *testing.T, root string) {
			require.NoError(t, os.Remove(filepath.Join(root, "pkg/latest")))
			require.NoError(t, os.Symlink("__init__.py", filepath.Join(root, "pkg/latest")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			buildTree(t, root, sampleTree)
			opts := testOpts(t)
			before := scan(t, root, opts...).Hash
			tt.change(t, root)
			assert.NotEqual(t, before, scan(t, root, opts...).Hash)
		})
	}
}

func TestWriteArchiveDetectsChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(p string) error
	}{
		{"grown", func(p string) error { return os.WriteFile(p, []byte("import torch, numpy\n"), 0o644) }},
		{"shrunk", func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) }},
		{"removed", func(p string) error { return os.Remove(p) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			buildTree(t, root, sampleTree)
			m := scan(t, root, testOpts(t)...)
			require.NoError(t, tt.change(filepath.Join(root, "train.py")))
			var out bytes.Buffer
			_, err := m.WriteArchive(context.Background(), &out, nil)
			require.Error(t, err)
			if tt.name != "removed" {
				assert.True(t, errors.Is(err, ErrChanged), "got %v", err)
			}
			assert.Error(t, readAll(out.Bytes()), "what was written must not read as a whole archive")
		})
	}
}

func TestWriteArchiveRefusesUnsafeEntries(t *testing.T) {
	tests := []struct {
		name  string
		entry Entry
	}{
		{"absolute", Entry{Path: "/etc/passwd", Type: TypeDir}},
		{"dot dot", Entry{Path: "a/../../x", Type: TypeDir}},
		{"leading dot dot", Entry{Path: "../x", Type: TypeDir}},
		{"dot", Entry{Path: "./x", Type: TypeDir}},
		{"empty element", Entry{Path: "a//b", Type: TypeDir}},
		{"empty", Entry{Path: "", Type: TypeDir}},
		{"escaping link", Entry{Path: "a/l", Type: TypeSymlink, Link: "../../etc"}},
		{"absolute link", Entry{Path: "l", Type: TypeSymlink, Link: "/etc/passwd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Manifest{Root: t.TempDir(), Entries: []Entry{tt.entry}}
			_, err := m.WriteArchive(context.Background(), io.Discard, nil)
			assert.ErrorContains(t, err, "refusing archive entry")
		})
	}
}

func TestWriteArchiveProgress(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, tree{"a": "1", "big": strings.Repeat("x", 9<<20), "c/d": "22"})
	m := scan(t, root, testOpts(t)...)
	var calls []Progress
	_, err := m.WriteArchive(context.Background(), io.Discard, func(p Progress) { calls = append(calls, p) })
	require.NoError(t, err)

	require.NotEmpty(t, calls)
	last := calls[len(calls)-1]
	assert.Equal(t, Progress{Files: 3, TotalFiles: 3, Bytes: 3 + 9<<20, TotalBytes: 3 + 9<<20}, last)
	assert.Greater(t, len(calls), 3, "large files report on the way")
	for i := 1; i < len(calls); i++ {
		assert.GreaterOrEqual(t, calls[i].Bytes, calls[i-1].Bytes)
	}
}

func TestWriteArchiveCancelled(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, sampleTree)
	m := scan(t, root, testOpts(t)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.WriteArchive(ctx, io.Discard, nil)
	assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("upload broke") }

func TestWriteArchiveWriterError(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, tree{"big": strings.Repeat("x", 5<<20)})
	m := scan(t, root, testOpts(t)...)
	_, err := m.WriteArchive(context.Background(), failingWriter{}, nil)
	assert.ErrorContains(t, err, "upload broke")
}

func TestRelativeLink(t *testing.T) {
	tests := []struct{ dir, target, want string }{
		{"", "a/b", "a/b"},
		{"a", "a/b", "b"},
		{"a/x", "a/b", "../b"},
		{"a/x/y", "", "../../.."},
		{"a", "a", "."},
		{"ab", "a/c", "../a/c"},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"->"+tt.target, func(t *testing.T) {
			assert.Equal(t, tt.want, relativeLink(tt.dir, tt.target))
		})
	}
}

func TestWriteArchiveOfHandBuiltManifest(t *testing.T) {
	m := &Manifest{Root: t.TempDir(), Entries: []Entry{{Path: "out", Type: TypeDir, Mode: 0o755}}}
	got := readArchive(t, archive(t, m))
	require.Len(t, got, 1)
	assert.Equal(t, "out/", got[0].hdr.Name)
}

// readAll reads a gzip'd tar stream to its end and returns the first error.
func readAll(b []byte) error {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		if _, err := tr.Next(); err == io.EOF {
			_, err = io.Copy(io.Discard, zr)
			return err
		} else if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return err
		}
	}
}
