package ignore

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	randomNames = []string{"a", "b", "ab", "ba", "a.txt", "b.log", "x.y", ".h", "a b", "[a]",
		"*", "?b", "!a", "#a", "a\\b", "aa", "abc", "c", "data", "ab.json"}
	randomTokens = []string{"a", "b", "c", ".", "*", "**", "?", "/", "[ab]", "[!a]", "[a-c]",
		"\\*", "\\!", "\\#", "[[:alpha:]]", "txt", "log", " ", "\\ ", "[", "]"}
)

// randomTree builds a tree of up to three levels from a fixed alphabet, with
// ignore files at the top and in some directories.
func randomTree(r *rand.Rand) tree {
	files := tree{}
	dirs := []string{""}
	for len(dirs) < 8 {
		parent := dirs[r.IntN(len(dirs))]
		if strings.Count(parent, "/") >= 2 {
			continue
		}
		dirs = append(dirs, parent+randomNames[r.IntN(len(randomNames))]+"/")
	}
	isDir := map[string]bool{}
	for _, d := range dirs {
		isDir[strings.TrimSuffix(d, "/")] = true
	}
	for _, d := range dirs {
		for range 6 {
			p := d + randomNames[r.IntN(len(randomNames))]
			if !isDir[p] {
				files[p] = ""
			}
		}
		if d == "" || r.IntN(3) == 0 {
			files[d+GitIgnoreFile] = randomIgnoreFile(r)
		}
	}
	for _, d := range dirs[1:] {
		if _, ok := files[d]; !ok && !hasChild(files, d) {
			files[d] = ""
		}
	}
	return files
}

func hasChild(files tree, dir string) bool {
	for p := range files {
		if strings.HasPrefix(p, dir) {
			return true
		}
	}
	return false
}

func randomIgnoreFile(r *rand.Rand) string {
	var b strings.Builder
	for range 4 + r.IntN(12) {
		if r.IntN(5) == 0 {
			b.WriteString("!")
		}
		if r.IntN(4) == 0 {
			b.WriteString("/")
		}
		for range 1 + r.IntN(4) {
			b.WriteString(randomTokens[r.IntN(len(randomTokens))])
		}
		if r.IntN(4) == 0 {
			b.WriteString("/")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestRandomPatternsAgreeWithGit compares the matcher with git on random
// trees and random ignore files, path by path and deciding rule by rule.
func TestRandomPatternsAgreeWithGit(t *testing.T) {
	requireGit(t)
	seeds := 60
	if testing.Short() {
		seeds = 10
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 7))
			root := t.TempDir()
			files := randomTree(r)
			buildTree(t, root, files)
			gitInit(t, root, randomIgnoreFile(r))
			paths := allPaths(t, root)
			want := gitCheckIgnore(t, root, paths)

			m, err := New(root)
			require.NoError(t, err)
			for _, p := range paths {
				if !assert.Equal(t, want[p], ourVerdict(m.Match(p, isDirPath(root, p))), "path %q", p) {
					t.Logf("tree: %q", files)
				}
			}
			assert.Equal(t, gitKept(t, root), walkKept(t, m, root))
		})
	}
}
