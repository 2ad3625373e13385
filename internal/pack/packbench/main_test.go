package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"gen", []string{"-files", "50", "gen", "small", dir}, 0, "files=50 "},
		{"pack", []string{"pack", dir}, 0, "peak_rss_mib="},
		{"rehash", []string{"rehash", dir}, 0, "rehash="},
		{"compare", []string{"-rounds", "1", "compare", dir}, 0, "speedup="},
		{"unknown command", []string{"dance", dir}, 1, ""},
		{"missing directory", []string{"pack"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			assert.Equal(t, tt.code, code, "stderr: %s", stderr.String())
			assert.Contains(t, stdout.String(), tt.want)
		})
	}
}
