// Command packbench measures package pack on real or synthetic trees, for
// bench scripts:
//
//	packbench gen small|soup|large|ml DIR   write a synthetic tree (see package synth)
//	packbench pack DIR                 Scan and WriteArchive to a byte counter;
//	                                   prints time, bytes and peak RSS
//	packbench rehash DIR               Scan twice, print the second (cached) time
//	packbench compare DIR              time against tar czf of the same entries
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/runctl/runctl/internal/pack"
	"github.com/runctl/runctl/internal/pack/synth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("packbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	size := fs.Int64("size", 1<<30, "bytes of large content for gen large and gen ml")
	files := fs.Int("files", 10000, "small files for gen small and gen ml")
	level := fs.Int("level", 6, "gzip level")
	rounds := fs.Int("rounds", 3, "rounds of compare; the best time of each side counts")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) < 2 {
		fmt.Fprintln(stderr, "usage: packbench [flags] gen small|soup|large|ml DIR | pack DIR | rehash DIR | compare DIR")
		return 2
	}
	var err error
	switch rest[0] {
	case "gen":
		err = gen(rest[1:], *files, *size, stdout)
	case "pack":
		err = packOnce(ctx, rest[1], *level, stdout)
	case "rehash":
		err = rehash(ctx, rest[1], stdout)
	case "compare":
		var c pack.TarComparison
		if c, err = pack.CompareTar(ctx, rest[1], *rounds, pack.WithLevel(*level)); err == nil {
			fmt.Fprintln(stdout, c)
		}
	default:
		err = fmt.Errorf("unknown command %q", rest[0])
	}
	if err != nil {
		fmt.Fprintln(stderr, "packbench:", err)
		return 1
	}
	return 0
}

func gen(args []string, files int, size int64, stdout io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("gen needs a kind and a directory")
	}
	var st, ignored synth.Stats
	var err error
	switch args[0] {
	case "small":
		st, err = synth.SmallFiles(args[1], files, synth.GoSource, 1)
	case "soup":
		st, err = synth.SmallFiles(args[1], files, synth.TokenSoup, 1)
	case "large":
		st, err = synth.LargeFiles(args[1], 2, 2, size/4, 1)
	case "ml":
		st, ignored, err = synth.MLRepo(args[1], files, size, 1)
	default:
		return fmt.Errorf("unknown kind %q", args[0])
	}
	fmt.Fprintf(stdout, "files=%d bytes=%d ignored_files=%d ignored_bytes=%d\n", st.Files, st.Bytes, ignored.Files, ignored.Bytes)
	return err
}

func packOnce(ctx context.Context, dir string, level int, stdout io.Writer) error {
	cache, err := os.MkdirTemp("", "packbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	start := time.Now()
	m, err := pack.Scan(ctx, dir, pack.WithCacheDir(cache), pack.WithLevel(level))
	if err != nil {
		return err
	}
	scanned := time.Since(start)
	n, err := m.WriteArchive(ctx, io.Discard, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "files=%d input=%d scan=%v total=%v output=%d peak_rss_mib=%.1f\n",
		m.Files, m.TotalBytes, scanned.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), n, peakRSS())
	return nil
}

func rehash(ctx context.Context, dir string, stdout io.Writer) error {
	cache, err := os.MkdirTemp("", "packbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	// A clock an hour ahead would be needed to cache freshly written files;
	// a real tree is older than the settle time, so use the real clock.
	if _, err := pack.Scan(ctx, dir, pack.WithCacheDir(cache)); err != nil {
		return err
	}
	start := time.Now()
	m, err := pack.Scan(ctx, dir, pack.WithCacheDir(cache))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "files=%d rehash=%v hash=%s\n", m.Files, time.Since(start).Round(time.Microsecond), m.Hash)
	return nil
}
