package pack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/runctl/runctl/internal/pack/synth"
)

// Benchmark trees are built once per test binary, lazily, and removed by
// TestMain.
var (
	benchMu    sync.Mutex
	benchDir   string
	benchTrees = map[string]string{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchTree returns the directory of the named synthetic tree:
//
//	small: 10,000 files of 1-8 KiB sliced from Go sources (44 MiB)
//	soup:  the same layout filled with random tokens, a worst case for size
//	large: two random and two numeric-text files of 64 MiB
//	ml:    2,000 code files, and 256 MiB of data, checkpoints and .git that
//	       are ignored
func benchTree(b *testing.B, name string) string {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if dir, ok := benchTrees[name]; ok {
		return dir
	}
	if benchDir == "" {
		dir, err := os.MkdirTemp("", "runctl-pack-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
	}
	dir := filepath.Join(benchDir, name)
	var err error
	switch name {
	case "small":
		_, err = synth.SmallFiles(dir, 10000, synth.GoSource, 1)
	case "soup":
		_, err = synth.SmallFiles(dir, 10000, synth.TokenSoup, 1)
	case "large":
		_, err = synth.LargeFiles(dir, 2, 2, 64<<20, 1)
	case "ml":
		_, _, err = synth.MLRepo(dir, 2000, 256<<20, 1)
	default:
		err = fmt.Errorf("unknown tree %q", name)
	}
	if err != nil {
		b.Fatal(err)
	}
	// Age the files past the stat cache's settle time, as a real tree is.
	old := time.Now().Add(-time.Hour)
	_ = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Chtimes(p, old, old)
		}
		return err
	})
	benchTrees[name] = dir
	return dir
}

var benchKinds = []string{"small", "soup", "large", "ml"}

// BenchmarkPack measures a full cold pack: Scan with an empty stat cache,
// so every file is read and hashed, then WriteArchive.
func BenchmarkPack(b *testing.B) {
	for _, kind := range benchKinds {
		b.Run(kind, func(b *testing.B) {
			root := benchTree(b, kind)
			var m *Manifest
			var out int64
			for b.Loop() {
				var err error
				if m, err = Scan(context.Background(), root, WithCacheDir("")); err != nil {
					b.Fatal(err)
				}
				if out, err = m.WriteArchive(context.Background(), io.Discard, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(m.TotalBytes)
			b.ReportMetric(float64(out), "out-bytes")
			b.ReportMetric(float64(m.Files), "files")
		})
	}
}

// BenchmarkTarCzf measures `tar czf` over the entries Pack ships, for
// comparison with BenchmarkPack.
func BenchmarkTarCzf(b *testing.B) {
	if _, err := exec.LookPath("tar"); err != nil {
		b.Skip("tar not installed")
	}
	for _, kind := range benchKinds {
		b.Run(kind, func(b *testing.B) {
			root := benchTree(b, kind)
			m, err := Scan(context.Background(), root, WithCacheDir(""))
			if err != nil {
				b.Fatal(err)
			}
			var out int64
			for b.Loop() {
				if err := tarOnce(context.Background(), m, &out); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(m.TotalBytes)
			b.ReportMetric(float64(out), "out-bytes")
		})
	}
}

// BenchmarkRehash measures Scan of an unchanged tree whose stat cache is
// filled: the change detection a second `runctl train` does.
func BenchmarkRehash(b *testing.B) {
	for _, kind := range []string{"small", "ml"} {
		b.Run(kind, func(b *testing.B) {
			root := benchTree(b, kind)
			cache := b.TempDir()
			if _, err := Scan(context.Background(), root, WithCacheDir(cache)); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := Scan(context.Background(), root, WithCacheDir(cache)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
