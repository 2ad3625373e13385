package pack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScanKeepsWhatGitWould(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, tree{
		".gitignore":            "data/\n*.json\n!config.json\n__pycache__/\n",
		".git/HEAD":             "ref: refs/heads/main\n",
		".git/objects/ab/cd":    "blob",
		"train.py":              "print(1)\n",
		"config.json":           "{}",
		"other.json":            "{}",
		"data/big.bin":          "xxxx",
		"model/__pycache__/a.c": "",
		"model/net.py":          "",
		"model/.gitignore":      "*.ckpt\n",
		"model/w.ckpt":          "",
		".runctlignore":         "notes/\n",
		"notes/todo.txt":        "",
		"sub/.git":              "gitdir: elsewhere\n",
		"sub/x.py":              "",
		"empty/":                "",
	})
	m := scan(t, root, testOpts(t)...)
	assert.Equal(t, []string{
		".gitignore", ".runctlignore", "config.json", "empty", "model", "model/.gitignore",
		"model/net.py", "sub", "sub/x.py", "train.py",
	}, paths(m))
	assert.Empty(t, m.Skipped)
	assert.Equal(t, 7, m.Files)
	assert.Equal(t, int64(len(".gitignore"+"data/\n*.json\n!config.json\n__pycache__/\n")-len(".gitignore")+
		len("notes/\n")+len("{}")+len("*.ckpt\n")+len("print(1)\n")), m.TotalBytes)
}

func TestScanLeavesOutSecrets(t *testing.T) {
	tests := []struct {
		name    string
		files   tree
		kept    []string
		skipped []string
	}{
		{
			name:    "defaults",
			files:   tree{".env": "TOKEN=1", ".env.prod": "", "cert.pem": "", ".aws/credentials": "", "id_rsa": "", "a.py": ""},
			kept:    []string{"a.py"},
			skipped: []string{".aws", ".env", ".env.prod", "cert.pem", "id_rsa"},
		},
		{
			name:    "one path re-included by runctlignore",
			files:   tree{".runctlignore": "!/.env\n", ".env": "X=1", "sub/.env": ""},
			kept:    []string{".env", ".runctlignore", "sub"},
			skipped: []string{"sub/.env"},
		},
		{
			name:  "a name re-included everywhere by runctlignore",
			files: tree{".runctlignore": "!.env\n", ".env": "X=1", "sub/.env": ""},
			kept:  []string{".env", ".runctlignore", "sub", "sub/.env"},
		},
		{
			name:  "already ignored by git is not reported",
			files: tree{".gitignore": ".env\n", ".env": ""},
			kept:  []string{".gitignore"},
		},
		{
			name:    "gitignore negation does not ship a secret",
			files:   tree{".gitignore": "!*.key\n", "tls.key": ""},
			kept:    []string{".gitignore"},
			skipped: []string{"tls.key"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			buildTree(t, root, tt.files)
			m := scan(t, root, testOpts(t)...)
			assert.Equal(t, tt.kept, paths(m))
			var skipped []string
			for _, s := range m.Skipped {
				assert.Equal(t, SkipSecret, s.Reason)
				skipped = append(skipped, s.Path)
			}
			assert.ElementsMatch(t, tt.skipped, skipped)
		})
	}
}

func TestWithSecretPatterns(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, tree{".env": "", "x.secret": ""})
	m := scan(t, root, testOpts(t, WithSecretPatterns("*.secret"))...)
	assert.Equal(t, []string{".env"}, paths(m))
	require.Len(t, m.Skipped, 1)
	assert.Equal(t, "x.secret", m.Skipped[0].Path)
}

func TestSkipString(t *testing.T) {
	tests := []struct {
		skip Skip
		want string
	}{
		{Skip{Path: ".env", Reason: SkipSecret}, "left out .env (looks like a secret; add !/.env to .runctlignore to ship it)"},
		{Skip{Path: ".aws", Dir: true, Reason: SkipSecret}, "left out .aws/ (looks like a secret; add !/.aws/ to .runctlignore to ship it)"},
		{Skip{Path: "cfg/prod.key", Reason: SkipSecret}, "left out cfg/prod.key (looks like a secret; add !/cfg/prod.key to .runctlignore to ship it)"},
		{Skip{Path: "l", Reason: SkipLinkOutside}, "left out l (symbolic link pointing outside the code directory)"},
		{Skip{Path: "l", Reason: SkipLinkDangling}, "left out l (symbolic link to nothing)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.skip.String())
		})
	}
}

func TestScanSymlinks(t *testing.T) {
	outside := t.TempDir()
	buildTree(t, outside, tree{"secret.txt": "s"})
	root := t.TempDir()
	buildTree(t, root, tree{
		"lib/util.py":    "",
		"lib/deep/x.py":  "",
		".gitignore":     "ignored.txt\n",
		"ignored.txt":    "",
		"a/link-file":    "@link:../lib/util.py",
		"a/link-dir":     "@link:../lib",
		"a/link-self":    "@link:.",
		"a/chain":        "@link:link-file",
		"a/absolute":     "@link:" + filepath.Join(root, "lib/util.py"),
		"a/outside":      "@link:" + mustRel(t, filepath.Join(root, "a"), filepath.Join(outside, "secret.txt")),
		"a/escape-chain": "@link:../b/out",
		"b/out":          "@link:" + filepath.Join(outside, "secret.txt"),
		"a/dangling":     "@link:nothing-here",
		"a/loop1":        "@link:loop2",
		"a/loop2":        "@link:loop1",
		"a/to-ignored":   "@link:../ignored.txt",
		"a/to-dotgit":    "@link:../.git/config",
		".git/config":    "",
		"lib/deep/up":    "@link:../../lib/util.py",
	})
	m := scan(t, root, testOpts(t)...)

	links := map[string]string{}
	for _, e := range m.Entries {
		if e.Type == TypeSymlink {
			links[e.Path] = e.Link
		}
	}
	assert.Equal(t, map[string]string{
		"a/link-file": "../lib/util.py", "a/link-dir": "../lib", "a/link-self": ".",
		"a/chain": "../lib/util.py", "lib/deep/up": "../util.py",
	}, links)

	skipped := map[string]SkipReason{}
	for _, s := range m.Skipped {
		skipped[s.Path] = s.Reason
	}
	assert.Equal(t, map[string]SkipReason{
		"a/absolute": SkipLinkAbsolute, "a/outside": SkipLinkOutside, "a/escape-chain": SkipLinkOutside,
		"b/out": SkipLinkAbsolute, "a/dangling": SkipLinkDangling, "a/loop1": SkipLinkDangling,
		"a/loop2": SkipLinkDangling, "a/to-ignored": SkipLinkToLeftOut, "a/to-dotgit": SkipLinkToLeftOut,
	}, skipped)
	assert.NotContains(t, paths(m), "a/link-dir/util.py", "a linked directory must not be entered")
}

func mustRel(t *testing.T, from, to string) string {
	t.Helper()
	rel, err := filepath.Rel(from, to)
	require.NoError(t, err)
	return rel
}

func TestScanRootThroughSymlink(t *testing.T) {
	real := t.TempDir()
	buildTree(t, real, tree{"a.py": "x", "l": "@link:a.py"})
	link := filepath.Join(t.TempDir(), "code")
	require.NoError(t, os.Symlink(real, link))

	m := scan(t, link, testOpts(t)...)
	assert.Equal(t, []string{"a.py", "l"}, paths(m))
	assert.Equal(t, scan(t, real, testOpts(t)...).Hash, m.Hash)
}

func TestScanErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	tests := []struct{ name, root, want string }{
		{"missing", filepath.Join(t.TempDir(), "nope"), "resolving code directory"},
		{"a file", file, "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Scan(context.Background(), tt.root, testOpts(t)...)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestScanCancelled(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, tree{"a": "x"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Scan(ctx, root, testOpts(t)...)
	assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
}
