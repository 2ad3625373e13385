package pack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tree describes files to create: a path ending in "/" is an empty
// directory, content starting with "@link:" makes a symbolic link, and a
// path ending in "*" is an executable file (the star is dropped).
type tree map[string]string

func buildTree(t testing.TB, root string, files tree) {
	t.Helper()
	for p, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, "*") {
			p, mode = strings.TrimSuffix(p, "*"), 0o755
		}
		abs := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			require.NoError(t, os.MkdirAll(abs, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(abs), 0o755))
		if target, ok := strings.CutPrefix(content, "@link:"); ok {
			require.NoError(t, os.Symlink(target, abs))
			continue
		}
		require.NoError(t, os.WriteFile(abs, []byte(content), mode))
		require.NoError(t, os.Chmod(abs, mode))
	}
}

// testOpts keeps every test's stat cache in its own directory.
func testOpts(t testing.TB, extra ...Option) []Option {
	return append([]Option{WithCacheDir(t.TempDir())}, extra...)
}

func scan(t testing.TB, root string, opts ...Option) *Manifest {
	t.Helper()
	m, err := Scan(context.Background(), root, opts...)
	require.NoError(t, err)
	return m
}

func paths(m *Manifest) []string {
	var out []string
	for _, e := range m.Entries {
		out = append(out, e.Path)
	}
	return out
}

func archive(t testing.TB, m *Manifest) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := m.WriteArchive(context.Background(), &buf, nil)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n)
	return buf.Bytes()
}

// readBack is one entry read from an archive with archive/tar.
type readBack struct {
	hdr     *tar.Header
	content string
}

func readArchive(t testing.TB, b []byte) []readBack {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var out []readBack
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		content, err := io.ReadAll(tr)
		require.NoError(t, err)
		out = append(out, readBack{hdr: hdr, content: string(content)})
	}
}

// withClock makes Scan see now as the current time, for the stat cache.
func withClock(now time.Time) Option {
	return func(o *options) { o.now = func() time.Time { return now } }
}
