package pack

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScanShipsWhatGitTracks compares the files Scan ships with the files
// `git ls-files --others --exclude-standard` would add, on a tree with
// nested ignore files, negations and info/exclude but no secrets.
func TestScanShipsWhatGitTracks(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	buildTree(t, root, tree{
		".gitignore":               "*.json\n!config.json\nbuild/\n/logs/*\n!/logs/keep.log\n**/tmp/**\n",
		"config.json":              "{}",
		"a.json":                   "{}",
		"src/config.json":          "{}",
		"src/b.json":               "{}",
		"src/.gitignore":           "!b.json\n*.o\n",
		"src/x.o":                  "",
		"src/x.c":                  "",
		"src/deep/.gitignore":      "/only-here\n",
		"src/deep/only-here":       "",
		"src/deep/sub/only-here":   "",
		"build/out":                "",
		"logs/a.log":               "",
		"logs/keep.log":            "",
		"tmp/a/b":                  "",
		"tmp/keep":                 "",
		"run.sh*":                  "#!/bin/sh\n",
		"weird name [1].txt":       "",
		"data/.gitignore":          "*\n!.gitignore\n",
		"data/big.bin":             "",
		"excluded-by-info.scratch": "",
	})
	cmd := exec.Command("git", "init", "-q")
	cmd.Dir = root
	cmd.Env = gitEnv(t)
	require.NoError(t, cmd.Run())
	require.NoError(t, os.WriteFile(filepath.Join(root, ".git/info/exclude"), []byte("*.scratch\n"), 0o644))

	cmd = exec.Command("git", "ls-files", "-z", "--others", "--exclude-standard")
	cmd.Dir = root
	cmd.Env = gitEnv(t)
	out, err := cmd.Output()
	require.NoError(t, err)
	want := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	sort.Strings(want)

	var got []string
	for _, e := range scan(t, root, testOpts(t)...).Entries {
		if e.Type != TypeDir {
			got = append(got, e.Path)
		}
	}
	assert.Equal(t, want, got)
	assert.Contains(t, got, "config.json")
	assert.Contains(t, got, "src/b.json")
}

func gitEnv(t *testing.T) []string {
	home := t.TempDir()
	return append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
}
