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
//
// Times are the best of the rounds, which is the least disturbed by other
// work on the machine; CPU times count user and system time, for tar
// including its gzip child.
type TarComparison struct {
	Entries    int
	InputBytes int64
	Pack       time.Duration // Scan with an empty stat cache, then WriteArchive
	PackWarm   time.Duration // the same with the stat cache Scan just filled
	PackCPU    time.Duration // CPU time of the cold pack
	PackBytes  int64
	Tar        time.Duration
	TarCPU     time.Duration
	TarBytes   int64
}

// Speedup returns how many times faster a cold pack was than tar czf.
func (c TarComparison) Speedup() float64 { return c.Tar.Seconds() / c.Pack.Seconds() }

// SizeRatio returns the pack's compressed size over tar czf's.
func (c TarComparison) SizeRatio() float64 { return float64(c.PackBytes) / float64(c.TarBytes) }

// String formats the comparison on one line.
func (c TarComparison) String() string {
	return fmt.Sprintf("entries=%d input=%.1fMiB pack=%v (cpu %v, warm %v) %.2fMiB "+
		"tar_czf=%v (cpu %v) %.2fMiB speedup=%.2fx size=%.3f",
		c.Entries, mib(c.InputBytes), ms(c.Pack), ms(c.PackCPU), ms(c.PackWarm), mib(c.PackBytes),
		ms(c.Tar), ms(c.TarCPU), mib(c.TarBytes), c.Speedup(), c.SizeRatio())
}

func ms(d time.Duration) time.Duration {
	return d.Round(time.Millisecond)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// CompareTar times packing root against GNU tar's `czf` of the same entry
// list, each writing to a byte counter, rounds times each (at least once).
// The tree is read once first so that both run from the page cache; the stat
// cache lives in a temporary directory removed afterwards. opts may set the
// level or the concurrency.
func CompareTar(ctx context.Context, root string, rounds int, opts ...Option) (TarComparison, error) {
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
	for range max(1, rounds) {
		if err := c.round(ctx, m, cacheDir, opts); err != nil {
			return c, err
		}
	}
	return c, nil
}

// round measures once more and keeps the best times.
func (c *TarComparison) round(ctx context.Context, m *Manifest, cacheDir string, opts []Option) error {
	if err := os.RemoveAll(cacheDir); err != nil {
		return fmt.Errorf("emptying stat cache: %w", err)
	}
	opts = append(opts, WithCacheDir(cacheDir))
	cold, err := measure(func() error { return packOnce(ctx, m.Root, opts, &c.PackBytes) })
	if err != nil {
		return err
	}
	warm, err := measure(func() error { return packOnce(ctx, m.Root, opts, &c.PackBytes) })
	if err != nil {
		return err
	}
	tar, err := measure(func() error { return tarOnce(ctx, m, &c.TarBytes) })
	if err != nil {
		return err
	}
	c.Pack, c.PackCPU = best(c.Pack, cold.wall), best(c.PackCPU, cold.cpu)
	c.PackWarm = best(c.PackWarm, warm.wall)
	c.Tar, c.TarCPU = best(c.Tar, tar.wall), best(c.TarCPU, tar.cpu)
	return nil
}

func best(old, d time.Duration) time.Duration {
	if old == 0 || d < old {
		return d
	}
	return old
}

type timing struct{ wall, cpu time.Duration }

// measure runs f and returns its wall time and the CPU time this process
// and its waited-for children spent meanwhile.
func measure(f func() error) (timing, error) {
	cpu0, start := cpuTime(), time.Now()
	err := f()
	return timing{wall: time.Since(start), cpu: cpuTime() - cpu0}, err
}

func packOnce(ctx context.Context, root string, opts []Option, out *int64) error {
	m, err := Scan(ctx, root, opts...)
	if err != nil {
		return err
	}
	*out, err = m.WriteArchive(ctx, io.Discard, nil)
	return err
}

// tarOnce runs tar czf over the manifest's entries, in the same order.
func tarOnce(ctx context.Context, m *Manifest, out *int64) error {
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
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running tar czf: %w: %s", err, stderr.String())
	}
	*out = cw.n.Load()
	return nil
}
