// Package pricecache keeps the last good on-demand prices on disk, so a
// price list that cannot be reached falls back on what was read before
// rather than on nothing.
package pricecache

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Entry is one cached price.
type Entry struct {
	USD     float64   `json:"usd"`
	Source  string    `json:"source"`
	Fetched time.Time `json:"fetched"`
}

type file struct {
	Version int              `json:"version"`
	Entries map[string]Entry `json:"entries"`
}

// Cache is a JSON file of prices keyed by region and instance type. It is
// safe for concurrent use within a process; across processes the last
// writer wins, which loses at most a refresh.
type Cache struct {
	path string
	mu   sync.Mutex
}

// Open returns the cache stored at path. The file need not exist.
func Open(path string) *Cache { return &Cache{path: path} }

// Get returns the cached price of itype in region.
func (c *Cache) Get(region, itype string) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.read()
	if err != nil {
		return Entry{}, false
	}
	e, ok := f.Entries[key(region, itype)]
	return e, ok && e.USD > 0
}

// Put stores a price, replacing the file atomically.
func (c *Cache) Put(region, itype string, e Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.read()
	if err != nil {
		f = &file{}
	}
	if f.Entries == nil {
		f.Entries = map[string]Entry{}
	}
	f.Version = 1
	f.Entries[key(region, itype)] = e
	return c.write(f)
}

func key(region, itype string) string { return region + "/" + itype }

func (c *Cache) read() (*file, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return &file{}, nil
	}
	if err != nil {
		return nil, err
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("reading price cache %s: %w", c.path, err)
	}
	return &f, nil
}

func (c *Cache) write(f *file) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".prices-*.json")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}
