package ignore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// findRepository looks from the root upwards for a directory holding .git
// and, when it finds one, makes it the top and loads its info/exclude.
func (m *Matcher) findRepository() error {
	for dir := m.root; ; {
		dotGit := filepath.Join(dir, ".git")
		if _, err := os.Lstat(dotGit); err == nil {
			return m.useRepository(dir, dotGit)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

func (m *Matcher) useRepository(top, dotGit string) error {
	m.top = top
	if top != m.root {
		rel, err := filepath.Rel(top, m.root)
		if err != nil {
			return fmt.Errorf("placing %s in repository %s: %w", m.root, top, err)
		}
		m.prefix = filepath.ToSlash(rel) + "/"
	}
	common, err := commonGitDir(dotGit)
	if err != nil {
		return err
	}
	exclude := filepath.Join(common, "info", "exclude")
	l, err := m.readList(exclude, "", layerExclude, true)
	if err != nil {
		return err
	}
	m.exclude = l
	return nil
}

// commonGitDir returns the directory that holds info/exclude: .git itself, or
// for a linked work tree (where .git is a file naming the git directory) the
// common directory that git directory points to.
func commonGitDir(dotGit string) (string, error) {
	fi, err := os.Stat(dotGit)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", dotGit, err)
	}
	if fi.IsDir() {
		return dotGit, nil
	}
	b, err := os.ReadFile(dotGit)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", dotGit, err)
	}
	gitDir, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir:")
	if !ok {
		return "", fmt.Errorf("reading %s: no gitdir line", dotGit)
	}
	gitDir = resolveFrom(filepath.Dir(dotGit), strings.TrimSpace(gitDir))
	if c, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		return resolveFrom(gitDir, strings.TrimSpace(string(c))), nil
	}
	return gitDir, nil
}

func resolveFrom(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// stack returns the lists to ask, in order, for paths directly inside dir
// (relative to the top). The caller holds m.mu.
func (m *Matcher) stack(dir string) []*ruleList {
	if s, ok := m.stacks[dir]; ok {
		return s
	}
	var runctl, git []*ruleList
	for d := dir; ; {
		r, g := m.dirFiles(d)
		if r != nil {
			runctl = append(runctl, r)
		}
		if g != nil {
			git = append(git, g)
		}
		if d == "" {
			break
		}
		d = parentDir(d)
	}
	s := append(runctl, m.defs)
	s = append(s, git...)
	if m.exclude != nil {
		s = append(s, m.exclude)
	}
	m.stacks[dir] = s
	return s
}

func parentDir(d string) string {
	if i := strings.LastIndexByte(d, '/'); i >= 0 {
		return d[:i]
	}
	return ""
}

// dirFiles returns the parsed .runctlignore and .gitignore of dir, relative
// to the top, reading them on first use. Errors are kept for Err; the file
// then counts as empty. The caller holds m.mu.
func (m *Matcher) dirFiles(dir string) (runctl, git *ruleList) {
	if f, ok := m.files[dir]; ok {
		return f[0], f[1]
	}
	runctl, git = m.readDirFiles(dir)
	m.files[dir] = [2]*ruleList{runctl, git}
	return runctl, git
}

func (m *Matcher) readDirFiles(dir string) (runctl, git *ruleList) {
	base := ""
	if dir != "" {
		base = dir + "/"
	}
	abs := filepath.Join(m.top, filepath.FromSlash(dir))
	runctl, err := m.readList(filepath.Join(abs, RunctlIgnoreFile), base, layerRunctl, false)
	if err != nil {
		m.errs = append(m.errs, err)
	}
	git, err = m.readList(filepath.Join(abs, GitIgnoreFile), base, layerGit, false)
	if err != nil {
		m.errs = append(m.errs, err)
	}
	return runctl, git
}

// readList parses one ignore file; a missing or empty file gives nil. Like
// git, an ignore file inside the tree that is a symbolic link is not read;
// follow is set for files git reads wherever they point (info/exclude).
func (m *Matcher) readList(file, base string, l layer, follow bool) (*ruleList, error) {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(file)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.Mode().IsRegular()) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ignore file %s: %w", file, err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading ignore file %s: %w", file, err)
	}
	rules := parseFile(b)
	if len(rules) == 0 {
		return nil, nil
	}
	return &ruleList{source: m.sourceName(file), base: base, rules: rules, layer: l}, nil
}

// parseFile splits an ignore file into rules: a UTF-8 byte order mark is
// skipped and a carriage return before a newline is dropped, as git does.
func parseFile(b []byte) []rule {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var rules []rule
	for n := 1; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if r, ok := parseLine(string(line), n); ok {
			rules = append(rules, r)
		}
	}
	return rules
}

func (m *Matcher) sourceName(file string) string {
	rel, err := filepath.Rel(m.root, file)
	if err != nil {
		return file
	}
	return filepath.ToSlash(rel)
}
