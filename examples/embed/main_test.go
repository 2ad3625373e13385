package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hermetic keeps the program away from real AWS settings and gives it a
// private temporary directory, returned so a test can see what is left.
func hermetic(t *testing.T) string {
	t.Helper()
	missing := filepath.Join(t.TempDir(), "no-such-file")
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:1",
		"AWS_CONFIG_FILE":             missing,
		"AWS_SHARED_CREDENTIALS_FILE": missing,
		"RUNCTL_SANDBOX_FAULTS":       "",
	} {
		t.Setenv(k, v)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	return tmp
}

type result struct {
	code           int
	stdout, stderr string
}

func runEmbed(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

var eventLine = regexp.MustCompile(`^runctl\.[A-Z][A-Za-z]+ +\S`)

func TestEmbedPrintsEveryEventWithItsType(t *testing.T) {
	tmp := hermetic(t)

	res := runEmbed(t)
	require.Equal(t, 0, res.code, "stderr:\n%s\nstdout:\n%s", res.stderr, res.stdout)
	assert.Empty(t, res.stderr)

	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	for _, l := range lines {
		assert.Regexp(t, eventLine, l, "every line starts with the event's Go type")
	}

	// The walk-through, in order: launch, ship, start, the script's own
	// lines, the result, the termination.
	want := []*regexp.Regexp{
		regexp.MustCompile(`^runctl\.PriceQuote +type=t3\.micro .*on-demand=\$`),
		regexp.MustCompile(`^runctl\.InstanceLaunched +instance=i-\w+ market=spot type=t3\.micro`),
		regexp.MustCompile(`^runctl\.SyncProgress +.*uploaded=true`),
		regexp.MustCompile(`^runctl\.JobStarted +job=\S+ instance=i-\w+ script=train\.py args=\["--epochs" "2"\]`),
		regexp.MustCompile(`^runctl\.LogOutput +epoch 1/2 loss=`),
		regexp.MustCompile(`^runctl\.LogOutput +epoch 2/2 loss=`),
		regexp.MustCompile(`^runctl\.LogOutput +final test_acc=0\.\d+`),
		regexp.MustCompile(`^runctl\.JobFinished +job=\S+ exit=0 interrupted=false .*cost=\$\d`),
		regexp.MustCompile(`^runctl\.InstanceTerminated +instance=i-\w+ state=terminated final=true`),
	}
	next := 0
	for _, l := range lines {
		if next < len(want) && want[next].MatchString(l) {
			next++
		}
	}
	if next < len(want) {
		t.Errorf("no line matching %s after the earlier ones in:\n%s", want[next], res.stdout)
	}

	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the sandbox directory is removed")
}

func TestEmbedPassesAFailedScriptsStatusThrough(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	script := "import sys\nprint('about to fail', flush=True)\nsys.exit(7)\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "train.py"), []byte(script), 0o644))

	res := runEmbed(t, "-code-dir", dir)
	assert.Equal(t, 7, res.code, "stderr:\n%s", res.stderr)
	assert.Contains(t, res.stdout, "runctl.LogOutput             about to fail\n")
	assert.Regexp(t, `(?m)^runctl\.InstanceTerminated +instance=i-\w+ state=terminated final=true$`, res.stdout)
	assert.Contains(t, res.stderr, "exit code 7")
}

func TestEmbedUsage(t *testing.T) {
	hermetic(t)
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"unknown flag", []string{"-nope"}, exitUsage, "flag provided but not defined: -nope"},
		{"stray argument", []string{"extra"}, exitUsage, `unexpected arguments ["extra"]`},
		{"bad epochs", []string{"-epochs", "two"}, exitUsage, `invalid value "two"`},
		{"help", []string{"-h"}, exitOK, "-code-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runEmbed(t, tt.args...)
			assert.Equal(t, tt.code, res.code)
			assert.Contains(t, res.stderr, tt.err)
			assert.Empty(t, res.stdout)
		})
	}
}

func TestFindCodeDir(t *testing.T) {
	dir, err := findCodeDir("")
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(dir, "train.py"))

	dir, err = findCodeDir("/given")
	require.NoError(t, err)
	assert.Equal(t, "/given", dir)
}
