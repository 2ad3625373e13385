package ignore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// semanticsCase is one tree with the verdicts git gives for some of its
// paths. TestSemanticsAgreeWithGit checks every expectation against git
// itself, so the table cannot drift from git's behaviour.
type semanticsCase struct {
	name    string
	files   tree
	exclude string // content of .git/info/exclude
	ignored []string
	kept    []string
}

var semanticsCases = []semanticsCase{
	{
		name:    "negation re-includes config.json after *.json",
		files:   tree{".gitignore": "*.json\n!config.json\n", "a.json": "", "config.json": "", "sub/config.json": "", "sub/b.json": ""},
		ignored: []string{"a.json", "sub/b.json"},
		kept:    []string{"config.json", "sub/config.json", ".gitignore"},
	},
	{
		name: "nested gitignore is honoured and overrides its parent",
		files: tree{
			".gitignore": "*.log\n", "a.log": "", "z.tmp": "",
			"sub/.gitignore": "!keep.log\n*.tmp\n", "sub/keep.log": "", "sub/x.log": "", "sub/y.tmp": "",
			"sub/deeper/keep.log": "", "sub/deeper/k.tmp": "",
		},
		ignored: []string{"a.log", "sub/x.log", "sub/y.tmp", "sub/deeper/k.tmp"},
		kept:    []string{"z.tmp", "sub/keep.log", "sub/deeper/keep.log"},
	},
	{
		name: "nested gitignore patterns are relative to their directory",
		files: tree{
			"sub/.gitignore": "/only-here.txt\nnested/x.txt\n", "only-here.txt": "", "sub/only-here.txt": "",
			"sub/deep/only-here.txt": "", "sub/nested/x.txt": "", "nested/x.txt": "", "sub/deep/nested/x.txt": "",
		},
		ignored: []string{"sub/only-here.txt", "sub/nested/x.txt"},
		kept:    []string{"only-here.txt", "sub/deep/only-here.txt", "nested/x.txt", "sub/deep/nested/x.txt"},
	},
	{
		name:    "a file cannot be re-included when its directory is excluded",
		files:   tree{".gitignore": "build/\n!build/keep.txt\n", "build/keep.txt": "", "build/out.o": ""},
		ignored: []string{"build", "build/keep.txt", "build/out.o"},
	},
	{
		name:    "excluding the contents instead of the directory allows re-inclusion",
		files:   tree{".gitignore": "build/*\n!build/keep.txt\n", "build/keep.txt": "", "build/out.o": "", "build/sub/a": ""},
		ignored: []string{"build/out.o", "build/sub", "build/sub/a"},
		kept:    []string{"build", "build/keep.txt"},
	},
	{
		name:    "a deeper negation cannot reach inside a directory excluded above",
		files:   tree{".gitignore": "data/\n", "data/.gitignore": "!*\n", "data/x.csv": ""},
		ignored: []string{"data", "data/x.csv", "data/.gitignore"},
	},
	{
		name:    "a negated directory reopens it",
		files:   tree{".gitignore": "cache*\n!cache-keep/\n", "cache1/a": "", "cache-keep/a": "", "cache-keep/b": ""},
		ignored: []string{"cache1", "cache1/a"},
		kept:    []string{"cache-keep", "cache-keep/a", "cache-keep/b"},
	},
	{
		name:    "trailing slash matches directories only",
		files:   tree{".gitignore": "logs/\n", "logs": "a file", "a/logs/x": "", "b/logs": "file"},
		ignored: []string{"a/logs", "a/logs/x"},
		kept:    []string{"logs", "b/logs"},
	},
	{
		name:    "leading slash anchors to the ignore file's directory",
		files:   tree{".gitignore": "/root.txt\n/d/\n", "root.txt": "", "sub/root.txt": "", "d/x": "", "sub/d/x": ""},
		ignored: []string{"root.txt", "d", "d/x"},
		kept:    []string{"sub/root.txt", "sub/d", "sub/d/x"},
	},
	{
		name:    "a slash in the middle anchors too",
		files:   tree{".gitignore": "sub/only.txt\ndoc/*.md\n", "sub/only.txt": "", "x/sub/only.txt": "", "doc/a.md": "", "doc/d/b.md": "", "x/doc/a.md": ""},
		ignored: []string{"sub/only.txt", "doc/a.md"},
		kept:    []string{"x/sub/only.txt", "doc/d/b.md", "x/doc/a.md"},
	},
	{
		name: "double stars leading, trailing and in the middle",
		files: tree{
			".gitignore": "**/cache\nfoo/**\na/**/b\n**/*.pyc\n",
			"cache":      "", "x/y/cache/z": "", "foo/bar": "", "foo/d/e": "", "x/foo/bar": "",
			"a/b": "", "a/x/b": "", "a/x/y/b": "", "x/a/b": "", "m/n.pyc": "", "n.pyc": "",
		},
		ignored: []string{"cache", "x/y/cache", "x/y/cache/z", "foo/bar", "foo/d", "foo/d/e", "a/b", "a/x/b", "a/x/y/b", "m/n.pyc", "n.pyc"},
		kept:    []string{"foo", "x/foo/bar", "x/a/b"},
	},
	{
		name:    "a double star not between slashes is a single star",
		files:   tree{".gitignore": "/x**y\n/p**/q\n", "xay": "", "xa/by": "", "pa/q": "", "p/b/c/q": "", "pa/b/q": ""},
		ignored: []string{"xay", "pa/q", "p/b/c/q", "pa/b/q"},
		kept:    []string{"xa/by"},
	},
	{
		name: "question marks and bracket expressions",
		files: tree{
			".gitignore": "file?.txt\n[abc].md\n[!x]y.c\n[a-c]z.c\n[[:digit:]]d.txt\n[]]e\n",
			"file1.txt":  "", "file12.txt": "", "b.md": "", "d.md": "", "ay.c": "", "xy.c": "",
			"bz.c": "", "dz.c": "", "7d.txt": "", "ad.txt": "", "]e": "",
		},
		ignored: []string{"file1.txt", "b.md", "ay.c", "bz.c", "7d.txt", "]e"},
		kept:    []string{"file12.txt", "d.md", "xy.c", "dz.c", "ad.txt"},
	},
	{
		name: "escapes, comments and trailing spaces",
		files: tree{
			".gitignore": "\\!bang\n\\#hash\n#comment\nspace\\ \ntrail   \n  lead\n\\*star\n",
			"!bang":      "", "#hash": "", "#comment": "", "space ": "", "space": "", "trail": "", "  lead": "",
			"*star": "", "xstar": "",
		},
		ignored: []string{"!bang", "#hash", "space ", "trail", "  lead", "*star"},
		kept:    []string{"#comment", "space", "xstar"},
	},
	{
		name:    "carriage returns and a byte order mark",
		files:   tree{".gitignore": "\xef\xbb\xbffirst\r\nsecond\r\n", "first": "", "second": "", "third": ""},
		ignored: []string{"first", "second"},
		kept:    []string{"third"},
	},
	{
		name:    "info/exclude applies below every gitignore",
		files:   tree{".gitignore": "!a.secret\n", "a.secret": "", "b.secret": "", "sub/c.secret": ""},
		exclude: "*.secret\n",
		ignored: []string{"b.secret", "sub/c.secret"},
		kept:    []string{"a.secret"},
	},
	{
		name:    "the documented re-include pattern",
		files:   tree{".gitignore": "/*\n!/foo\n/foo/*\n!/foo/bar\n", "x": "", "foo/bar/a": "", "foo/baz": "", "other/a": ""},
		ignored: []string{"x", "foo/baz", "other", "other/a", ".gitignore"},
		kept:    []string{"foo", "foo/bar", "foo/bar/a"},
	},
	{
		name:    "later lines win within one file",
		files:   tree{".gitignore": "!x.txt\n*.txt\n", "x.txt": "", "y.txt": ""},
		ignored: []string{"x.txt", "y.txt"},
	},
	{
		name:  "a symlinked gitignore is not read",
		files: tree{"real": "*.txt\n", "sub/.gitignore": "@link:../real", "sub/a.txt": ""},
		kept:  []string{"sub/a.txt", "real"},
	},
	{
		name:  "a symlink to a directory is not a directory",
		files: tree{".gitignore": "lnk/\n", "d/x": "", "lnk": "@link:d"},
		kept:  []string{"lnk", "d/x"},
	},
}

func TestMatcherSemantics(t *testing.T) {
	for _, tc := range semanticsCases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			buildTree(t, root, tc.files)
			if tc.exclude != "" {
				writeExclude(t, root, tc.exclude)
			}
			m, err := New(root)
			require.NoError(t, err)
			for _, p := range tc.ignored {
				assert.True(t, m.Ignored(p, isDirPath(root, p)), "want %s ignored", p)
			}
			for _, p := range tc.kept {
				assert.False(t, m.Ignored(p, isDirPath(root, p)), "want %s kept", p)
			}
			assert.NoError(t, m.Err())
		})
	}
}

// TestSemanticsAgreeWithGit checks the table against git and then compares
// every path's verdict, deciding pattern and the walk's result with git's.
func TestSemanticsAgreeWithGit(t *testing.T) {
	requireGit(t)
	for _, tc := range semanticsCases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			buildTree(t, root, tc.files)
			gitInit(t, root, tc.exclude)
			paths := allPaths(t, root)
			want := gitCheckIgnore(t, root, paths)
			for _, p := range tc.ignored {
				assert.True(t, want[p].Ignored, "table says %s is ignored, git disagrees", p)
			}
			for _, p := range tc.kept {
				assert.False(t, want[p].Ignored, "table says %s is kept, git disagrees", p)
			}

			m, err := New(root)
			require.NoError(t, err)
			for _, p := range paths {
				assert.Equal(t, want[p], ourVerdict(m.Match(p, isDirPath(root, p))), "path %q", p)
			}
			assert.Equal(t, gitKept(t, root), walkKept(t, m, root))
		})
	}
}

// TestRunctlIgnoreReadLikeGitignore renames every .gitignore of the table to
// .runctlignore and expects git's verdicts for the original tree.
func TestRunctlIgnoreReadLikeGitignore(t *testing.T) {
	requireGit(t)
	for _, tc := range semanticsCases {
		t.Run(tc.name, func(t *testing.T) {
			gitRoot, ourRoot := t.TempDir(), t.TempDir()
			buildTree(t, gitRoot, tc.files)
			gitInit(t, gitRoot, tc.exclude)
			renamed := tree{}
			for p, c := range tc.files {
				renamed[strings.Replace(p, GitIgnoreFile, RunctlIgnoreFile, 1)] = c
			}
			buildTree(t, ourRoot, renamed)
			if tc.exclude != "" {
				writeExclude(t, ourRoot, tc.exclude)
			}
			paths := allPaths(t, gitRoot)
			want := gitCheckIgnore(t, gitRoot, paths)
			m, err := New(ourRoot)
			require.NoError(t, err)
			for _, p := range paths {
				ours := strings.Replace(p, GitIgnoreFile, RunctlIgnoreFile, 1)
				assert.Equal(t, want[p].Ignored, m.Ignored(ours, isDirPath(ourRoot, ours)), "path %q", ours)
			}
		})
	}
}

func writeExclude(t *testing.T, root, content string) {
	t.Helper()
	dir := filepath.Join(root, ".git", "info")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "exclude"), []byte(content), 0o644))
}
