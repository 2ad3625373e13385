package pricecache

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPutGetSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "prices.json")
	c := Open(path)
	_, ok := c.Get("us-east-1", "t3.micro")
	assert.False(t, ok)

	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, c.Put("us-east-1", "t3.micro", Entry{USD: 0.0104, Source: "pricing-api", Fetched: at}))
	require.NoError(t, c.Put("us-east-1", "g5.xlarge", Entry{USD: 1.006, Source: "pricing-api", Fetched: at}))

	e, ok := Open(path).Get("us-east-1", "t3.micro")
	require.True(t, ok)
	assert.Equal(t, 0.0104, e.USD)
	assert.True(t, at.Equal(e.Fetched))
	_, ok = Open(path).Get("eu-west-1", "t3.micro")
	assert.False(t, ok)
}

func TestCorruptFileIsAMissNotACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.json")
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o644))
	c := Open(path)
	_, ok := c.Get("us-east-1", "t3.micro")
	assert.False(t, ok)
	require.NoError(t, c.Put("us-east-1", "t3.micro", Entry{USD: 1, Fetched: time.Now()}))
	_, ok = c.Get("us-east-1", "t3.micro")
	assert.True(t, ok)
}
