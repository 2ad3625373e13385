package pack

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResolveOptions(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", home)
	tests := []struct {
		name  string
		opts  []Option
		check func(t *testing.T, o options)
	}{
		{"defaults", nil, func(t *testing.T, o options) {
			assert.Equal(t, 6, o.level, "level 6 keeps output within a few percent of gzip -6")
			assert.Equal(t, filepath.Join(home, "runctl", "pack"), o.cacheDir)
			assert.Equal(t, DefaultSecretPatterns(), o.secrets)
			assert.GreaterOrEqual(t, o.workers, 2)
		}},
		{"level out of range", []Option{WithLevel(12)}, func(t *testing.T, o options) {
			assert.Equal(t, 6, o.level)
		}},
		{"level", []Option{WithLevel(9)}, func(t *testing.T, o options) {
			assert.Equal(t, 9, o.level)
		}},
		{"cache off", []Option{WithCacheDir("")}, func(t *testing.T, o options) {
			assert.Empty(t, o.cacheDir)
		}},
		{"concurrency", []Option{WithConcurrency(5)}, func(t *testing.T, o options) {
			assert.Equal(t, 5, o.workers)
			assert.Equal(t, 5, o.blocks)
		}},
		{"zero concurrency ignored", []Option{WithConcurrency(0)}, func(t *testing.T, o options) {
			assert.GreaterOrEqual(t, o.blocks, 2)
		}},
		{"no secret patterns", []Option{WithSecretPatterns()}, func(t *testing.T, o options) {
			assert.Empty(t, o.secrets)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, resolveOptions(tt.opts))
		})
	}
}
