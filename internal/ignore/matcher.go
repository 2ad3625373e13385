// Package ignore decides which paths of a code directory are left out when it
// is packaged, reading .gitignore files exactly as git does and .runctlignore
// files the same way on top of them.
//
// For a path, the layers are asked in this order and the first layer with a
// matching pattern decides (within one file the last matching line wins, as in
// git):
//
//  1. .runctlignore files, the deepest directory first;
//  2. the default patterns given to [New] with [WithDefaults];
//  3. .gitignore files, the deepest directory first;
//  4. $GIT_DIR/info/exclude of the enclosing repository.
//
// So .runctlignore can both add exclusions and re-include anything, defaults
// included, while a .gitignore cannot re-include what a default leaves out.
// As in git, nothing below an excluded directory can be re-included, and an
// ignore file that is a symbolic link is not read.
//
// The user's global excludes file (core.excludesFile) is not read, so a
// package does not depend on the machine that built it. The Matcher does
// not leave out .git directories by itself; git never looks inside them, and
// callers walking a tree should skip them.
package ignore

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// Names of the per-directory ignore files a Matcher reads.
const (
	GitIgnoreFile    = ".gitignore"
	RunctlIgnoreFile = ".runctlignore"
)

// DefaultsSource is the Rule.Source of patterns given with WithDefaults.
const DefaultsSource = "(defaults)"

// Option configures New.
type Option func(*options)

type options struct {
	defaults   []string
	repoSearch bool
}

// WithDefaults adds patterns, in .gitignore syntax and relative to the root,
// that rank below every .runctlignore and above every .gitignore.
func WithDefaults(patterns ...string) Option {
	return func(o *options) { o.defaults = append(o.defaults, patterns...) }
}

// WithoutRepository stops New from looking above the root for an enclosing
// git repository, so only ignore files inside the root are read.
func WithoutRepository() Option {
	return func(o *options) { o.repoSearch = false }
}

// Matcher answers whether paths below a root are ignored. It reads ignore
// files lazily and caches them and the verdicts for directories, so it
// describes the tree as it was when first asked. It is safe for concurrent use.
type Matcher struct {
	root    string // absolute root, as given to New after cleaning
	top     string // absolute top of the enclosing work tree, or root
	prefix  string // root relative to top: "" or "a/b/"
	defs    *ruleList
	exclude *ruleList

	mu     sync.Mutex
	files  map[string][2]*ruleList // directory relative to top -> its files
	stacks map[string][]*ruleList  // directory relative to top -> lists to ask
	dirs   map[string]Result       // directory relative to root -> verdict
	errs   []error
}

// Result is the verdict for one path.
type Result struct {
	// Ignored reports that the path is left out.
	Ignored bool
	// Rule is the pattern that decided, nil when none matched. For a path
	// under an excluded directory it is the directory's rule.
	Rule *Rule
	// ByDefault reports that the path is left out only because of a default
	// pattern: no .gitignore or info/exclude would have left it out.
	ByDefault bool
}

// Rule describes the pattern behind a Result.
type Rule struct {
	// Source is the ignore file's path relative to the root (it may start
	// with "../" for files above the root), or DefaultsSource.
	Source  string
	Line    int
	Pattern string // as written, with '!' and trailing '/' if any
	Negated bool
}

// ruleList is the parsed content of one ignore file.
type ruleList struct {
	source string // as in Rule.Source
	base   string // directory relative to top: "" or ending in '/'
	rules  []rule
	layer  layer
}

type layer int

const (
	layerRunctl layer = iota
	layerDefaults
	layerGit
	layerExclude
)

// New returns a Matcher for the directory root. Unless WithoutRepository is
// given, it finds the enclosing git work tree, so that .gitignore files
// between its top and root and its info/exclude file apply too; root itself is
// never treated as ignored, even if a pattern above it matches it.
func New(root string, opts ...Option) (*Matcher, error) {
	o := options{repoSearch: true}
	for _, opt := range opts {
		opt(&o)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving ignore root %s: %w", root, err)
	}
	m := &Matcher{
		root: abs, top: abs, files: map[string][2]*ruleList{},
		stacks: map[string][]*ruleList{}, dirs: map[string]Result{},
	}
	if o.repoSearch {
		if err := m.findRepository(); err != nil {
			return nil, err
		}
	}
	m.defs = &ruleList{source: DefaultsSource, base: m.prefix, layer: layerDefaults}
	for i, p := range o.defaults {
		if r, ok := parseLine(p, i+1); ok {
			m.defs.rules = append(m.defs.rules, r)
		}
	}
	return m, nil
}

// Root returns the absolute directory that paths given to Match are
// relative to.
func (m *Matcher) Root() string { return m.root }

// Err returns the errors met reading ignore files so far, joined, or nil.
// A file that could not be read is treated as empty, which may let through
// paths it meant to leave out, so callers should check Err after matching.
func (m *Matcher) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.errs...)
}

// Ignored reports whether the slash-separated path rel, relative to the
// root, is left out. isDir tells whether it is a directory; a symbolic link
// is not one, even if it points at a directory.
func (m *Matcher) Ignored(rel string, isDir bool) bool {
	return m.Match(rel, isDir).Ignored
}

// Match returns the verdict for rel, as Ignored does, with its reason. A path
// inside an ignored directory is ignored whatever its own patterns say.
func (m *Matcher) Match(rel string, isDir bool) Result {
	rel = path.Clean(rel)
	if rel == "." || rel == "" || rel == ".." || strings.HasPrefix(rel, "../") {
		return Result{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' {
			if r := m.dirVerdict(rel[:i]); r.Ignored {
				return r
			}
		}
	}
	if isDir {
		return m.dirVerdict(rel)
	}
	return m.verdict(rel, false)
}

// dirVerdict returns the cached verdict for a directory whose parents are
// known not to be ignored. The caller holds m.mu.
func (m *Matcher) dirVerdict(rel string) Result {
	if r, ok := m.dirs[rel]; ok {
		return r
	}
	r := m.verdict(rel, true)
	m.dirs[rel] = r
	return r
}

// verdict asks the layers about rel itself. The caller holds m.mu.
func (m *Matcher) verdict(rel string, isDir bool) Result {
	full := m.prefix + rel
	name := full[strings.LastIndexByte(full, '/')+1:]
	parent := ""
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		parent = full[:i]
	}
	stack := m.stack(parent)
	for i, l := range stack {
		r := l.lastMatch(full, name, isDir)
		if r == nil {
			continue
		}
		res := Result{Ignored: !r.negated, Rule: l.describe(r)}
		if l.layer == layerDefaults && res.Ignored {
			return m.belowDefaults(stack[i+1:], full, name, isDir, res)
		}
		return res
	}
	return Result{}
}

// belowDefaults finishes a verdict reached by a default pattern: if a git
// layer would ignore the path anyway, that is the more useful reason.
func (m *Matcher) belowDefaults(rest []*ruleList, full, name string, isDir bool, res Result) Result {
	for _, l := range rest {
		if r := l.lastMatch(full, name, isDir); r != nil {
			if r.negated {
				break
			}
			return Result{Ignored: true, Rule: l.describe(r)}
		}
	}
	res.ByDefault = true
	return res
}

// lastMatch returns the last rule of the list matching the path, or nil.
func (l *ruleList) lastMatch(full, name string, isDir bool) *rule {
	for i := len(l.rules) - 1; i >= 0; i-- {
		if l.rules[i].matches(full, name, isDir, l.base) {
			return &l.rules[i]
		}
	}
	return nil
}

func (l *ruleList) describe(r *rule) *Rule {
	return &Rule{Source: l.source, Line: r.line, Pattern: r.text, Negated: r.negated}
}
