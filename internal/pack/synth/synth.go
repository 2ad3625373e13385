// Package synth writes synthetic code trees for the benchmarks of package
// pack: many small source files, a few large files, and a typical machine
// learning repository whose data directory is ignored. The same seed always
// gives the same tree.
package synth

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Stats says what a generator wrote.
type Stats struct {
	Files int
	Bytes int64
}

func (s *Stats) add(o Stats) { s.Files += o.Files; s.Bytes += o.Bytes }

// Text chooses the content of SmallFiles.
type Text int

const (
	// GoSource slices the Go standard library's sources into files: real
	// code, as compressible as code usually is. Without a GOROOT it falls
	// back to TokenSoup.
	GoSource Text = iota
	// TokenSoup strings random tokens from a small vocabulary into lines.
	// Its many short matches are a worst case for fast gzip levels.
	TokenSoup
)

// SmallFiles writes n files of 1 to 8 KiB under dir, spread over nested
// package directories, a few of them executable.
func SmallFiles(dir string, n int, text Text, seed uint64) (Stats, error) {
	r := rand.New(rand.NewPCG(seed, 1))
	corpus := goCorpus()
	var st Stats
	for i := range n {
		pkg := filepath.Join(dir, "src", fmt.Sprintf("pkg%02d", i%40), fmt.Sprintf("mod%02d", (i/40)%25))
		name := filepath.Join(pkg, fmt.Sprintf("file%05d.py", i))
		size := int64(1024 + r.IntN(7*1024))
		mode := os.FileMode(0o644)
		if i%97 == 0 {
			mode = 0o755
		}
		fill := func(w io.Writer, size int64) error { return sourceText(w, r, size) }
		if text == GoSource && len(corpus) > 1<<20 {
			off := r.Int64N(int64(len(corpus)) - size)
			fill = func(w io.Writer, size int64) error { _, err := w.Write(corpus[off : off+size]); return err }
		}
		if err := writeFile(name, mode, size, fill); err != nil {
			return st, err
		}
		st.add(Stats{Files: 1, Bytes: size})
	}
	return st, nil
}

var (
	corpusOnce sync.Once
	corpus     []byte
)

// goCorpus returns up to 16 MiB of the Go standard library's .go files,
// read in a fixed order, or nil when GOROOT has no sources.
func goCorpus() []byte {
	corpusOnce.Do(func() {
		var buf bytes.Buffer
		src := filepath.Join(runtime.GOROOT(), "src")
		_ = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || buf.Len() >= 16<<20 {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") {
				if b, err := os.ReadFile(p); err == nil {
					buf.Write(b)
				}
			}
			return nil
		})
		corpus = bytes.Clone(buf.Bytes()) // drop the spare capacity
	})
	return corpus
}

// LargeFiles writes random (incompressible) and numeric-text (compressible)
// files of size bytes each under dir.
func LargeFiles(dir string, random, compressible int, size int64, seed uint64) (Stats, error) {
	var st Stats
	for i := range random {
		r := rand.NewChaCha8(seedBytes(seed, i))
		if err := writeFile(filepath.Join(dir, "weights", fmt.Sprintf("w%d.bin", i)), 0o644, size,
			func(w io.Writer, size int64) error { _, err := io.CopyN(w, r, size); return err }); err != nil {
			return st, err
		}
		st.add(Stats{Files: 1, Bytes: size})
	}
	for i := range compressible {
		r := rand.New(rand.NewPCG(seed, uint64(i)+100))
		if err := writeFile(filepath.Join(dir, "tables", fmt.Sprintf("t%d.csv", i)), 0o644, size,
			func(w io.Writer, size int64) error { return numericText(w, r, size) }); err != nil {
			return st, err
		}
		st.add(Stats{Files: 1, Bytes: size})
	}
	return st, nil
}

// MLRepo writes a training repository: code and configs that are shipped,
// plus a .git directory, a data/ directory and checkpoints that .gitignore
// leaves out, dataBytes in all. It returns what is shipped and what is not.
func MLRepo(dir string, codeFiles int, dataBytes int64, seed uint64) (shipped, ignored Stats, err error) {
	if shipped, err = SmallFiles(dir, codeFiles, GoSource, seed); err != nil {
		return shipped, ignored, err
	}
	gitignore := "data/\n*.ckpt\n__pycache__/\n.venv/\nwandb/\n"
	if err := os.WriteFile(filepath.Join(dir, ".gitignore"), []byte(gitignore), 0o644); err != nil {
		return shipped, ignored, err
	}
	shipped.add(Stats{Files: 1, Bytes: int64(len(gitignore))})
	r := rand.NewChaCha8(seedBytes(seed, 7))
	random := func(w io.Writer, size int64) error { _, err := io.CopyN(w, r, size); return err }
	parts := []struct {
		name string
		size int64
	}{
		{"data/train-000.bin", dataBytes / 2}, {"data/train-001.bin", dataBytes / 4},
		{"checkpoints/epoch1.ckpt", dataBytes / 8}, {".git/objects/pack/pack-1.pack", dataBytes / 8},
	}
	for _, p := range parts {
		if err := writeFile(filepath.Join(dir, p.name), 0o644, p.size, random); err != nil {
			return shipped, ignored, err
		}
		ignored.add(Stats{Files: 1, Bytes: p.size})
	}
	return shipped, ignored, nil
}

func seedBytes(seed uint64, i int) [32]byte {
	var b [32]byte
	copy(b[:], strconv.FormatUint(seed, 16)+"/"+strconv.Itoa(i))
	return b
}

func writeFile(name string, mode os.FileMode, size int64, fill func(io.Writer, int64) error) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := fill(bw, size); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var vocabulary = []string{
	"def", "class", "return", "self", "import", "from", "for", "in", "if", "else", "None",
	"torch", "nn", "Linear", "forward", "x", "y", "batch", "loss", "optimizer", "step",
	"model", "config", "hidden_size", "=", "(", ")", ":", ",", "+", "*", "0", "1", "2",
	"numpy", "np", "array", "shape", "dtype", "float32", "device", "cuda", "print", "len",
	"range", "data", "loader", "epoch", "lr", "0.001", "weight", "bias", "grad", "zero_grad",
	"backward", "eval", "train", "with", "no_grad", "assert", "logger", "info", "args",
}

// sourceText writes size bytes of indented lines of code-like tokens.
func sourceText(w io.Writer, r *rand.Rand, size int64) error {
	line := make([]byte, 0, 128)
	var written int64
	for written < size {
		line = line[:0]
		for range r.IntN(4) {
			line = append(line, "    "...)
		}
		for range 3 + r.IntN(8) {
			line = append(line, vocabulary[r.IntN(len(vocabulary))]...)
			line = append(line, ' ')
		}
		line = append(line, '\n')
		line = line[:min(int64(len(line)), size-written)]
		if _, err := w.Write(line); err != nil {
			return err
		}
		written += int64(len(line))
	}
	return nil
}

// numericText writes size bytes of CSV rows of floats.
func numericText(w io.Writer, r *rand.Rand, size int64) error {
	line := make([]byte, 0, 128)
	var written int64
	for row := 0; written < size; row++ {
		line = strconv.AppendInt(line[:0], int64(row), 10)
		for range 6 {
			line = append(line, ',')
			line = strconv.AppendFloat(line, r.NormFloat64(), 'f', 5, 64)
		}
		line = append(line, '\n')
		line = line[:min(int64(len(line)), size-written)]
		if _, err := w.Write(line); err != nil {
			return err
		}
		written += int64(len(line))
	}
	return nil
}
