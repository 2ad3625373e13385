package pack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// TarComparison is one timing of this package against `tar czf` packing the
// same entries of the same tree.
type TarComparison struct {
	Entries    int
	InputBytes int64
	Pack       time.Duration // Scan with an empty stat cache, then WriteArchive
	PackWarm   time.Duration // the same with the stat cache Scan just filled
	PackBytes  int64
	Tar        time.Duration
	TarBytes   int64
}

// Speedup returns how many times faster a cold pack was than tar czf.
func (c TarComparison) Speedup() float64 { return c.Tar.Seconds() / c.Pack.Seconds() }

// SizeRatio returns the pack's compressed size over tar czf's.
func (c TarComparison) SizeRatio() float64 { return float64(c.PackBytes) / float64(c.TarBytes) }

// String formats the comparison on one line.
func (c TarComparison) String() string {
	return fmt.Sprintf("entries=%d input=%.1fMiB pack=%v (warm %v) %.2fMiB tar_czf=%v %.2fMiB speedup=%.2fx size=%.3f",
		c.Entries, mib(c.InputBytes), c.Pack.Round(time.Millisecond), c.PackWarm.Round(time.Millisecond),
		mib(c.PackBytes), c.Tar.Round(time.Millisecond), mib(c.TarBytes), c.Speedup(), c.SizeRatio())
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// CompareTar times packing root against GNU tar's `czf` of the same entry
// list, each writing to a byte counter. The tree is read once first so that
// both run from the page cache; the stat cache lives in a temporary
// directory removed afterwards. opts may set the level or concurrency.
func CompareTar(ctx context.Context, root string, opts ...Option) (TarComparison, error) {
	cacheDir, err := os.MkdirTemp("", "runctl-pack-compare-")
	if err != nil {
		return TarComparison{}, fmt.Errorf("making stat cache directory: %w", err)
	}
	defer os.RemoveAll(cacheDir)

	// Warm the page cache, without the stat cache.
	m, err := Scan(ctx, root, append(opts, WithCacheDir(""))...)
	if err != nil {
		return TarComparison{}, err
	}
	c := TarComparison{Entries: len(m.Entries), InputBytes: m.TotalBytes}
	opts = append(opts, WithCacheDir(cacheDir))
	if c.Pack, c.PackBytes, err = timePack(ctx, root, opts); err != nil {
		return c, err
	}
	if c.PackWarm, _, err = timePack(ctx, root, opts); err != nil {
		return c, err
	}
	c.Tar, c.TarBytes, err = timeTar(ctx, m)
	return c, err
}

func timePack(ctx context.Context, root string, opts []Option) (time.Duration, int64, error) {
	start := time.Now()
	m, err := Scan(ctx, root, opts...)
	if err != nil {
		return 0, 0, err
	}
	n, err := m.WriteArchive(ctx, io.Discard, nil)
	return time.Since(start), n, err
}

// timeTar runs tar czf over the manifest's entries, in the same order.
func timeTar(ctx context.Context, m *Manifest) (time.Duration, int64, error) {
	var list bytes.Buffer
	for _, e := range m.Entries {
		list.WriteString(e.Path)
		list.WriteByte(0)
	}
	cw := &countingWriter{w: io.Discard}
	cmd := exec.CommandContext(ctx, "tar", "-C", m.Root, "--null", "--no-recursion", "-T", "-", "-czf", "-")
	cmd.Stdin, cmd.Stdout = &list, cw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("running tar czf: %w: %s", err, stderr.String())
	}
	return time.Since(start), cw.n.Load(), nil
}
