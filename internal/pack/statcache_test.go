package pack

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// later is a clock far enough ahead that every file counts as settled.
func later() Option { return withClock(time.Now().Add(time.Hour)) }

// poisonCache replaces every cached hash with a marker, so a Scan that
// trusts the cache shows it.
func poisonCache(t *testing.T, cacheDir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(cacheDir, "*.statcache"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	entries, err := decodeCache(b)
	require.NoError(t, err)
	marker := sha256.Sum256([]byte("poison"))
	for p, e := range entries {
		e.sum = marker
		entries[p] = e
	}
	require.NoError(t, os.WriteFile(files[0], encodeCache(entries), 0o600))
	return hex.EncodeToString(marker[:])
}

func fileHash(m *Manifest, p string) string {
	return m.Entries[indexOf(m, p)].Hash
}

func TestStatCacheSkipsUnchangedFiles(t *testing.T) {
	root, cache := t.TempDir(), t.TempDir()
	buildTree(t, root, tree{"a.py": "aaa", "b.py": "bbb"})
	first := scan(t, root, WithCacheDir(cache), later())
	marker := poisonCache(t, cache)

	second := scan(t, root, WithCacheDir(cache), later())
	assert.Equal(t, marker, fileHash(second, "a.py"), "an unchanged file is not read again")
	assert.NotEqual(t, first.Hash, second.Hash)
}

func TestStatCacheNoticesChanges(t *testing.T) {
	root, cache := t.TempDir(), t.TempDir()
	buildTree(t, root, tree{"a.py": "aaa", "b.py": "bbb"})
	scan(t, root, WithCacheDir(cache), later())
	marker := poisonCache(t, cache)

	// Same size and the old modification time: only ctime gives it away.
	p := filepath.Join(root, "a.py")
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte("zzz"), 0o644))
	require.NoError(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))

	m := scan(t, root, WithCacheDir(cache), later())
	want := sha256.Sum256([]byte("zzz"))
	assert.Equal(t, hex.EncodeToString(want[:]), fileHash(m, "a.py"))
	assert.Equal(t, marker, fileHash(m, "b.py"))
}

func TestStatCacheDistrustsFreshFiles(t *testing.T) {
	root, cache := t.TempDir(), t.TempDir()
	buildTree(t, root, tree{"a.py": "aaa"})
	scan(t, root, WithCacheDir(cache), withClock(time.Now()))
	files, err := filepath.Glob(filepath.Join(cache, "*.statcache"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	entries, err := decodeCache(b)
	require.NoError(t, err)
	assert.Empty(t, entries, "a file written within the settle time is not cached")
}

func TestStatCacheCorruptFileIsIgnored(t *testing.T) {
	root, cache := t.TempDir(), t.TempDir()
	buildTree(t, root, tree{"a.py": "aaa"})
	want := scan(t, root, WithCacheDir(cache), later()).Hash
	files, _ := filepath.Glob(filepath.Join(cache, "*.statcache"))
	require.Len(t, files, 1)
	for _, junk := range []string{"", "garbage", cacheMagic + "\x05ab"} {
		require.NoError(t, os.WriteFile(files[0], []byte(junk), 0o600))
		assert.Equal(t, want, scan(t, root, WithCacheDir(cache), later()).Hash, "junk %q", junk)
	}
}

func TestStatCacheOff(t *testing.T) {
	root, home := t.TempDir(), t.TempDir()
	t.Setenv("XDG_CACHE_HOME", home)
	buildTree(t, root, tree{"a.py": "aaa"})
	scan(t, root, WithCacheDir(""), later())
	des, err := os.ReadDir(home)
	require.NoError(t, err)
	assert.Empty(t, des)

	scan(t, root, later())
	files, _ := filepath.Glob(filepath.Join(home, "runctl", "pack", "*.statcache"))
	assert.Len(t, files, 1, "the default cache lives under the user cache directory")
}

func TestCacheEncodingRoundTrip(t *testing.T) {
	in := map[string]cacheEntry{
		"a/b.py": {st: fileStat{size: 3, mtime: -5, ctime: 1 << 60, ino: 7, dev: 9, mode: 0o644}, sum: sha256.Sum256([]byte("x"))},
		"ü":      {st: fileStat{size: 0}},
	}
	out, err := decodeCache(encodeCache(in))
	require.NoError(t, err)
	assert.Equal(t, in, out)
}
