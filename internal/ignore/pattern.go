package ignore

import "strings"

// rule is one parsed line of an ignore file.
type rule struct {
	body      string // the pattern without '!' and without a trailing '/'
	text      string // the line as written, trailing spaces trimmed
	line      int
	negated   bool
	dirOnly   bool // the line ended in '/'
	basename  bool // no '/' in body: match the last path element at any depth
	endsWith  bool // "*literal": a suffix test does the whole job
	literal   int  // length of the leading part of body free of glob bytes
	anchorCut bool // body starts with '/', which anchors but is not matched
}

// parseLine turns one line of an ignore file into a rule. It reports false for
// blank lines and comments, which git skips.
func parseLine(line string, lineNo int) (rule, bool) {
	if i := strings.IndexByte(line, 0); i >= 0 {
		line = line[:i] // git reads patterns as C strings
	}
	if line == "" || line[0] == '#' {
		return rule{}, false
	}
	line = trimTrailingSpaces(line)
	r := rule{text: line, line: lineNo}
	body := line
	if strings.HasPrefix(body, "!") {
		r.negated = true
		body = body[1:]
	}
	r.literal = literalPrefix(body)
	if strings.HasSuffix(body, "/") {
		r.dirOnly = true
		body = body[:len(body)-1]
	}
	r.literal = min(r.literal, len(body))
	r.basename = !strings.Contains(body, "/")
	r.endsWith = strings.HasPrefix(body, "*") && literalPrefix(body[1:]) == len(body)-1
	r.anchorCut = strings.HasPrefix(body, "/")
	r.body = body
	return r, true
}

// trimTrailingSpaces drops unescaped trailing spaces (not tabs); "\ " keeps
// its space and its backslash, which the matcher reads as an escape.
func trimTrailingSpaces(s string) string {
	lastSpace := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			if lastSpace < 0 {
				lastSpace = i
			}
		case '\\':
			i++
			if i == len(s) {
				return s
			}
			lastSpace = -1
		default:
			lastSpace = -1
		}
	}
	if lastSpace >= 0 {
		return s[:lastSpace]
	}
	return s
}

// literalPrefix returns how many leading bytes of s hold no glob byte.
func literalPrefix(s string) int {
	for i := 0; i < len(s); i++ {
		if isGlobSpecial(s[i]) {
			return i
		}
	}
	return len(s)
}

// matches reports whether the rule matches path, a slash-separated path
// relative to the repository top, whose last element is name. base is the
// directory of the rule's file relative to the top, "" or ending in '/'.
func (r *rule) matches(path, name string, isDir bool, base string) bool {
	if r.dirOnly && !isDir {
		return false
	}
	if r.basename {
		return r.matchName(name)
	}
	return r.matchPath(path, base)
}

func (r *rule) matchName(name string) bool {
	switch {
	case r.literal == len(r.body):
		return name == r.body
	case r.endsWith:
		return strings.HasSuffix(name, r.body[1:])
	default:
		return wildmatch(r.body, name, false)
	}
}

// matchPath matches the part of path below base. Like git, it compares the
// literal prefix first and hands only the rest to wildmatch, so a "**" right
// after the prefix (as in "/a**/b") counts as delimited.
func (r *rule) matchPath(path, base string) bool {
	pat, lit := r.body, r.literal
	if r.anchorCut {
		pat, lit = pat[1:], lit-1
	}
	if len(path) <= len(base) || !strings.HasPrefix(path, base) {
		return false
	}
	name := path[len(base):]
	if lit > 0 {
		if lit > len(name) || pat[:lit] != name[:lit] {
			return false
		}
		pat, name = pat[lit:], name[lit:]
		if pat == "" && name == "" {
			return true
		}
	}
	return wildmatch(pat, name, true)
}
