package ignore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// tree describes files to create: a path ending in "/" is an empty
// directory, content starting with "@link:" makes a symbolic link.
type tree map[string]string

func buildTree(t testing.TB, root string, files tree) {
	t.Helper()
	for p, content := range files {
		abs := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			require.NoError(t, os.MkdirAll(abs, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(abs), 0o755))
		if target, ok := strings.CutPrefix(content, "@link:"); ok {
			require.NoError(t, os.Symlink(target, abs))
			continue
		}
		require.NoError(t, os.WriteFile(abs, []byte(content), 0o644))
	}
}

// allPaths lists every file, link and directory below root except .git,
// slash-separated and sorted.
func allPaths(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		if d.Name() == ".git" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	require.NoError(t, err)
	sort.Strings(out)
	return out
}

// walkKept lists the files and links a walk with m keeps: it does not enter
// ignored directories, like git.
func walkKept(t testing.TB, m *Matcher, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		if d.Name() == ".git" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if m.Ignored(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			out = append(out, rel)
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(out)
	return out
}

func isDirPath(root, rel string) bool {
	fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel)))
	return err == nil && fi.IsDir()
}

func requireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
}

// git runs git in dir isolated from the user's and system configuration, so
// no global excludes file takes part.
func git(t testing.TB, dir, stdin string, args ...string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// check-ignore exits 1 when it found nothing ignored.
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 && args[0] == "check-ignore" {
		err = nil
	}
	require.NoError(t, err, "git %v: %s", args, stderr.String())
	return string(out)
}

func gitInit(t testing.TB, root, exclude string) {
	t.Helper()
	git(t, root, "", "init", "-q")
	if exclude != "" {
		require.NoError(t, os.WriteFile(filepath.Join(root, ".git", "info", "exclude"), []byte(exclude), 0o644))
	}
}

// gitVerdict is what git check-ignore -v says about one path.
type gitVerdict struct {
	Ignored bool
	Source  string
	Line    int
	Pattern string
}

func gitCheckIgnore(t testing.TB, root string, paths []string) map[string]gitVerdict {
	t.Helper()
	out := git(t, root, strings.Join(paths, "\x00")+"\x00",
		"check-ignore", "--no-index", "-v", "-n", "-z", "--stdin")
	fields := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	require.Zero(t, len(fields)%4, "check-ignore output %q", out)
	verdicts := map[string]gitVerdict{}
	for i := 0; i < len(fields); i += 4 {
		v := gitVerdict{Source: fields[i], Pattern: fields[i+2]}
		v.Line, _ = strconv.Atoi(fields[i+1])
		v.Ignored = v.Pattern != "" && !strings.HasPrefix(v.Pattern, "!")
		verdicts[fields[i+3]] = v
	}
	return verdicts
}

// gitKept lists the untracked files git does not ignore.
func gitKept(t testing.TB, root string) []string {
	t.Helper()
	out := git(t, root, "", "ls-files", "-z", "--others", "--exclude-standard")
	var files []string
	for _, f := range strings.Split(out, "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	return files
}

// ourVerdict converts a Result into check-ignore's terms.
func ourVerdict(r Result) gitVerdict {
	if r.Rule == nil {
		return gitVerdict{}
	}
	src := r.Rule.Source
	return gitVerdict{Ignored: r.Ignored, Source: src, Line: r.Rule.Line, Pattern: r.Rule.Pattern}
}
