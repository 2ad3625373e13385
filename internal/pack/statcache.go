package pack

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// statCache remembers, per code directory, the content hash of each file
// together with the stat data it had when hashed, so an unchanged file is
// not read again. It is only an optimisation: a missing, unreadable or
// corrupt cache file reads as empty, and a failure to write it is ignored.
type statCache struct {
	file string // "" when the cache is off
	old  map[string]cacheEntry
}

type cacheEntry struct {
	st  fileStat
	sum [sha256.Size]byte
}

const cacheMagic = "runctl-statcache/1\n"

// loadStatCache reads the cache for root from dir.
func loadStatCache(dir, root string) *statCache {
	c := &statCache{old: map[string]cacheEntry{}}
	if dir == "" {
		return c
	}
	key := sha256.Sum256([]byte(root))
	c.file = filepath.Join(dir, hex.EncodeToString(key[:16])+".statcache")
	b, err := os.ReadFile(c.file)
	if err != nil {
		return c
	}
	if old, err := decodeCache(b); err == nil {
		c.old = old
	}
	return c
}

func (c *statCache) lookup(rel string, st fileStat) ([sha256.Size]byte, bool) {
	e, ok := c.old[rel]
	if !ok || e.st != st {
		return [sha256.Size]byte{}, false
	}
	return e.sum, true
}

// store writes the hashes of files whose times are older than settledBefore
// (Unix nanoseconds), when anything was hashed or the file set changed.
func (c *statCache) store(entries []Entry, hashed bool, settledBefore int64) {
	if c.file == "" {
		return
	}
	fresh := map[string]cacheEntry{}
	for _, e := range entries {
		if e.Type != TypeFile || e.st.mtime >= settledBefore || e.st.ctime >= settledBefore {
			continue
		}
		ce := cacheEntry{st: e.st}
		if _, err := hex.Decode(ce.sum[:], []byte(e.Hash)); err == nil {
			fresh[e.Path] = ce
		}
	}
	if !hashed && len(fresh) == len(c.old) {
		return
	}
	_ = writeFileAtomic(c.file, encodeCache(fresh)) // see the type's doc
}

func encodeCache(entries map[string]cacheEntry) []byte {
	b := []byte(cacheMagic)
	for p, e := range entries {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
		b = binary.AppendVarint(b, e.st.size)
		b = binary.AppendVarint(b, e.st.mtime)
		b = binary.AppendVarint(b, e.st.ctime)
		b = binary.AppendUvarint(b, e.st.ino)
		b = binary.AppendUvarint(b, e.st.dev)
		b = binary.AppendUvarint(b, uint64(e.st.mode))
		b = append(b, e.sum[:]...)
	}
	return b
}

var errCorruptCache = errors.New("corrupt stat cache")

func decodeCache(b []byte) (map[string]cacheEntry, error) {
	rest, ok := bytes.CutPrefix(b, []byte(cacheMagic))
	if !ok {
		return nil, errCorruptCache
	}
	r := bufio.NewReader(bytes.NewReader(rest))
	out := map[string]cacheEntry{}
	for {
		n, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return out, nil
		}
		if err != nil || n > 1<<16 {
			return nil, errCorruptCache
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			return nil, errCorruptCache
		}
		e, err := decodeCacheEntry(r)
		if err != nil {
			return nil, err
		}
		out[string(p)] = e
	}
}

func decodeCacheEntry(r *bufio.Reader) (cacheEntry, error) {
	var e cacheEntry
	var errs [6]error
	e.st.size, errs[0] = binary.ReadVarint(r)
	e.st.mtime, errs[1] = binary.ReadVarint(r)
	e.st.ctime, errs[2] = binary.ReadVarint(r)
	e.st.ino, errs[3] = binary.ReadUvarint(r)
	e.st.dev, errs[4] = binary.ReadUvarint(r)
	mode, err := binary.ReadUvarint(r)
	e.st.mode, errs[5] = uint32(mode), err
	if errors.Join(errs[:]...) != nil {
		return e, errCorruptCache
	}
	if _, err := io.ReadFull(r, e.sum[:]); err != nil {
		return e, errCorruptCache
	}
	return e, nil
}

// writeFileAtomic replaces file by renaming a finished temporary file over
// it, so concurrent runs never read half a cache.
func writeFileAtomic(file string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".statcache-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
