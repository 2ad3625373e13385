package pack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// formatVersion is hashed into every manifest, so a change to the archive
// layout also changes the names of the objects that hold archives.
const formatVersion = "runctl-pack/1"

// settleTime is how long a file must have been left alone before the stat
// cache trusts its times: file systems stamp times with a coarse clock, so a
// file rewritten within the same tick as it was hashed could keep its times.
const settleTime = 2 * time.Second

func sortEntries(entries []Entry) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
}

// hashFiles fills Hash (and the final stat) of every regular file, taking
// hashes from the stat cache where the file's stat data is unchanged.
func (m *Manifest) hashFiles(ctx context.Context) error {
	start := m.opts.now()
	cache := loadStatCache(m.opts.cacheDir, m.Root)

	var todo []int
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Type != TypeFile {
			continue
		}
		if sum, ok := cache.lookup(e.Path, e.st); ok {
			e.Hash = hex.EncodeToString(sum[:])
			continue
		}
		todo = append(todo, i)
	}
	if err := m.hashEntries(ctx, todo); err != nil {
		return err
	}
	cache.store(m.Entries, len(todo) > 0, start.Add(-settleTime).UnixNano())
	return nil
}

// hashEntries hashes the files at the given indexes with a pool of workers;
// reading several files at once keeps the disk and the cores busy.
func (m *Manifest) hashEntries(ctx context.Context, todo []int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	errs := make(chan error, m.opts.workers)
	var wg sync.WaitGroup
	for range min(m.opts.workers, max(1, len(todo))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for i := range jobs {
				if err := m.hashEntry(&m.Entries[i], buf); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
	feed(ctx, jobs, todo)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

func feed(ctx context.Context, jobs chan<- int, todo []int) {
	defer close(jobs)
	for _, i := range todo {
		select {
		case jobs <- i:
		case <-ctx.Done():
			return
		}
	}
}

// hashEntry reads one file. A file that changes while it is read is read
// again a few times before Scan gives up on it.
func (m *Manifest) hashEntry(e *Entry, buf []byte) error {
	abs := filepath.Join(m.Root, filepath.FromSlash(e.Path))
	want := e.st
	for range 3 {
		sum, st, err := hashFile(abs, want.size, buf)
		if err != nil {
			return fmt.Errorf("hashing %s: %w", abs, err)
		}
		if st == want {
			e.Hash, e.st, e.Size = hex.EncodeToString(sum), st, st.size
			return nil
		}
		want = st
	}
	return fmt.Errorf("hashing %s: %w", abs, ErrChanged)
}

// hashFile hashes the first size bytes of a file and returns the hash and
// the file's stat data after reading. The caller compares that with the
// stat data it expected (from the walk or a previous attempt): equal means
// the bytes read are the content described, since any write in between
// changes the modification time and a file of another length shows another
// size. Not reading to the end saves a system call per file.
func hashFile(abs string, size int64, buf []byte) ([]byte, fileStat, error) {
	f, err := openContent(abs)
	if err != nil {
		return nil, fileStat{}, err
	}
	defer f.Close()
	h := sha256.New()
	for left := size; left > 0; {
		k, err := f.Read(buf[:min(int64(len(buf)), left)])
		h.Write(buf[:k])
		left -= int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fileStat{}, err
		}
	}
	st, err := f.stat()
	if err != nil {
		return nil, fileStat{}, err
	}
	return h.Sum(nil), st, nil
}

// manifestHash hashes the sorted entries: kind, mode, size, content hash or
// link target, and path. NUL bytes separate fields, since no path holds one.
func manifestHash(entries []Entry) string {
	h := sha256.New()
	io.WriteString(h, formatVersion+"\n")
	var line []byte
	for _, e := range entries {
		line = line[:0]
		line = append(line, "?fdl"[e.Type], ' ')
		line = strconv.AppendUint(line, uint64(e.Mode.Perm()), 8)
		line = append(line, ' ')
		line = strconv.AppendInt(line, e.Size, 10)
		line = append(line, ' ')
		line = append(line, e.Hash...)
		line = append(line, 0)
		line = append(line, e.Link...)
		line = append(line, 0)
		line = append(line, e.Path...)
		line = append(line, 0, '\n')
		h.Write(line)
	}
	return hex.EncodeToString(h.Sum(nil))
}
