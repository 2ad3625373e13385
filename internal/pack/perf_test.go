package pack

import (
	"context"
	"io"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/runctl/runctl/internal/pack/synth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompareTar(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar not installed")
	}
	root := t.TempDir()
	st, err := synth.SmallFiles(root, 200, synth.GoSource, 1)
	require.NoError(t, err)

	c, err := CompareTar(context.Background(), root, 1)
	require.NoError(t, err)
	assert.Equal(t, st.Bytes, c.InputBytes)
	assert.Positive(t, c.Pack)
	assert.Positive(t, c.Tar)
	assert.Positive(t, c.PackBytes)
	assert.InDelta(t, 1.0, c.SizeRatio(), 0.2, "both compress the same files: %s", c)
	assert.Contains(t, c.String(), "speedup=")
}

// TestWriteArchiveMemoryBounded packs 96 MiB and checks that the heap
// never grows by more than a few gzip blocks.
func TestWriteArchiveMemoryBounded(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes 96 MiB; the race detector inflates the heap")
	}
	root := t.TempDir()
	_, err := synth.LargeFiles(root, 1, 1, 48<<20, 1)
	require.NoError(t, err)
	m := scan(t, root, testOpts(t, withClock(time.Now().Add(time.Hour)))...)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	_, err = m.WriteArchive(context.Background(), io.Discard, func(Progress) {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	})
	require.NoError(t, err)
	assert.Less(t, peak-base, uint64(32<<20), "heap grew by %d MiB", (peak-base)>>20)
	t.Logf("heap grew by %.1f MiB while writing %d MiB", float64(peak-base)/(1<<20), m.TotalBytes>>20)
}

// TestRehashIsFast checks that an unchanged tree of 10,000 files is hashed
// from the stat cache well within the 0.3 s budget; the limit here is loose
// so that a busy machine does not fail it, the benchmark has the real
// number.
func TestRehashIsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 files")
	}
	root := t.TempDir()
	_, err := synth.SmallFiles(root, 10000, synth.GoSource, 1)
	require.NoError(t, err)
	opts := testOpts(t, withClock(time.Now().Add(time.Hour)))
	first := scan(t, root, opts...)

	start := time.Now()
	second := scan(t, root, opts...)
	elapsed := time.Since(start)
	assert.Equal(t, first.Hash, second.Hash)
	assert.Less(t, elapsed, time.Second, "rehash of 10,000 unchanged files took %v", elapsed)
	t.Logf("rehash of %d files: %v", second.Files, elapsed)
}
