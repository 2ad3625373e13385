package ignore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLayers(t *testing.T) {
	defaults := []string{".env", ".env.*", ".ssh/", "*.pem"}
	tests := []struct {
		name      string
		files     tree
		ignored   []string
		byDefault []string // ignored only because of a default
		kept      []string
	}{
		{
			name:    "runctlignore adds exclusions",
			files:   tree{".runctlignore": "data/\n*.ckpt\n", "data/x": "", "m.ckpt": "", "train.py": ""},
			ignored: []string{"data", "data/x", "m.ckpt"},
			kept:    []string{"train.py"},
		},
		{
			name:    "runctlignore negation beats a gitignore",
			files:   tree{".gitignore": "*.csv\n", ".runctlignore": "!small.csv\n", "small.csv": "", "big.csv": ""},
			ignored: []string{"big.csv"},
			kept:    []string{"small.csv"},
		},
		{
			name: "a root runctlignore beats a deeper gitignore",
			files: tree{
				"sub/.gitignore": "*.bin\n", ".runctlignore": "!sub/keep.bin\n",
				"sub/keep.bin": "", "sub/other.bin": "",
			},
			ignored: []string{"sub/other.bin"},
			kept:    []string{"sub/keep.bin"},
		},
		{
			name:      "runctlignore reopens a directory a gitignore excluded",
			files:     tree{".gitignore": "out/\n", ".runctlignore": "!out/\n", "out/a": "", "out/b.pem": ""},
			byDefault: []string{"out/b.pem"},
			kept:      []string{"out", "out/a"},
		},
		{
			name:      "defaults leave secrets out",
			files:     tree{".env": "", ".env.local": "", "cert.pem": "", ".ssh/id": "", "app.py": "", "sub/.env": ""},
			byDefault: []string{".env", ".env.local", "cert.pem", ".ssh", ".ssh/id", "sub/.env"},
			kept:      []string{"app.py"},
		},
		{
			name:      "runctlignore can re-include a default",
			files:     tree{".runctlignore": "!.env\n!sub/x.pem\n", ".env": "", "sub/x.pem": "", "sub/y.pem": ""},
			byDefault: []string{"sub/y.pem"},
			kept:      []string{".env", "sub/x.pem"},
		},
		{
			name:      "a gitignore negation cannot re-include a default",
			files:     tree{".gitignore": "!.env\n", ".env": ""},
			byDefault: []string{".env"},
		},
		{
			name:    "a default that git also ignores is an ordinary ignore",
			files:   tree{".gitignore": ".env\n", ".env": ""},
			ignored: []string{".env"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			buildTree(t, root, tt.files)
			m, err := New(root, WithDefaults(defaults...))
			require.NoError(t, err)
			for _, p := range tt.ignored {
				r := m.Match(p, isDirPath(root, p))
				assert.True(t, r.Ignored, "want %s ignored", p)
				assert.False(t, r.ByDefault, "want %s not ignored by default", p)
			}
			for _, p := range tt.byDefault {
				r := m.Match(p, isDirPath(root, p))
				assert.True(t, r.Ignored && r.ByDefault, "want %s ignored by default, got %+v", p, r)
			}
			for _, p := range tt.kept {
				assert.False(t, m.Ignored(p, isDirPath(root, p)), "want %s kept", p)
			}
		})
	}
}

func TestRuleDescribesSource(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, tree{"sub/.gitignore": "# c\n\n*.o\n", "sub/a.o": "", ".env": ""})
	m, err := New(root, WithDefaults(".env"))
	require.NoError(t, err)

	assert.Equal(t, &Rule{Source: "sub/.gitignore", Line: 3, Pattern: "*.o"}, m.Match("sub/a.o", false).Rule)
	assert.Equal(t, &Rule{Source: DefaultsSource, Line: 1, Pattern: ".env"}, m.Match(".env", false).Rule)
	assert.Nil(t, m.Match("sub", true).Rule)
}

// TestEnclosingRepository covers a root inside a repository: the ignore files
// above the root and info/exclude apply, but the root itself stays in.
func TestEnclosingRepository(t *testing.T) {
	repo := t.TempDir()
	buildTree(t, repo, tree{
		".gitignore":                "*.ckpt\nproject/\n",
		"project/train.py":          "",
		"project/model.ckpt":        "",
		"project/x.tmp":             "",
		"project/.gitignore":        "!keep.ckpt\n",
		"project/keep.ckpt":         "",
		".git/info/exclude":         "*.tmp\n",
		"project/sub/.runctlignore": "*.py\n",
		"project/sub/a.py":          "",
	})
	root := filepath.Join(repo, "project")

	m, err := New(root)
	require.NoError(t, err)
	assert.False(t, m.Ignored("train.py", false))
	assert.True(t, m.Ignored("model.ckpt", false))
	assert.False(t, m.Ignored("keep.ckpt", false))
	assert.True(t, m.Ignored("x.tmp", false))
	assert.True(t, m.Ignored("sub/a.py", false))
	assert.Equal(t, "../.gitignore", m.Match("model.ckpt", false).Rule.Source)

	alone, err := New(root, WithoutRepository())
	require.NoError(t, err)
	assert.False(t, alone.Ignored("model.ckpt", false))
	assert.False(t, alone.Ignored("x.tmp", false))
	assert.True(t, alone.Ignored("sub/a.py", false))
}

func TestLinkedWorktreeExclude(t *testing.T) {
	base := t.TempDir()
	buildTree(t, base, tree{
		"main/.git/info/exclude":           "*.tmp\n",
		"main/.git/worktrees/wt/commondir": "../..\n",
		"wt/.git":                          "gitdir: " + filepath.Join(base, "main/.git/worktrees/wt") + "\n",
		"wt/a.tmp":                         "",
	})
	m, err := New(filepath.Join(base, "wt"))
	require.NoError(t, err)
	assert.True(t, m.Ignored("a.tmp", false))
}

func TestMatchOddPaths(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, tree{".gitignore": "*\n"})
	m, err := New(root)
	require.NoError(t, err)
	for _, p := range []string{"", ".", "..", "../x"} {
		assert.False(t, m.Ignored(p, true), "path %q", p)
	}
	assert.True(t, m.Ignored("./a//b", false))
}

func TestUnreadableIgnoreFileIsReported(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, tree{"sub/x": ""})
	// A .gitignore that cannot be read: a dangling link is skipped like
	// git, so make a regular file and take away its read permission, or,
	// when running as root where permissions do not apply, skip.
	gi := filepath.Join(root, "sub", GitIgnoreFile)
	require.NoError(t, os.WriteFile(gi, []byte("x\n"), 0o000))
	if f, err := os.Open(gi); err == nil {
		f.Close()
		t.Skip("running with permission to read any file")
	}
	m, err := New(root)
	require.NoError(t, err)
	assert.False(t, m.Ignored("sub/x", false))
	assert.ErrorContains(t, m.Err(), "reading ignore file")
}

// TestIgnoreFilesReadOnce checks that a Matcher keeps what it read: a
// change to an ignore file after the first question about its directory
// does not show, even for paths in directories not yet asked about.
func TestIgnoreFilesReadOnce(t *testing.T) {
	root := t.TempDir()
	buildTree(t, root, tree{".gitignore": "*.log\n", "a/x.log": "", "b/c/y.log": "", "b/c/z.tmp": ""})
	m, err := New(root)
	require.NoError(t, err)
	require.True(t, m.Ignored("a/x.log", false))

	require.NoError(t, os.WriteFile(filepath.Join(root, ".gitignore"), []byte("*.tmp\n"), 0o644))
	assert.True(t, m.Ignored("b/c/y.log", false))
	assert.False(t, m.Ignored("b/c/z.tmp", false))
}
