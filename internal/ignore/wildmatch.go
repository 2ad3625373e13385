package ignore

import "strings"

// Outcomes of wildmatch. Besides a plain mismatch, two abort results let a
// caller that is trying successive split points for a star stop early: once
// the text is used up nothing further can match (wmAbortAll), and once a
// single star would have to cross a slash only an enclosing double star can
// help (wmAbortToDoubleStar).
const (
	wmMatch = iota
	wmNoMatch
	wmAbortAll
	wmAbortToDoubleStar
)

// wildmatch reports whether text matches the glob pattern the way git's
// wildmatch does. With pathname set, '*', '?' and bracket expressions never
// match '/', and "**" between slashes matches any number of directories.
func wildmatch(pattern, text string, pathname bool) bool {
	return dowild(pattern, text, pathname) == wmMatch
}

// at returns s[i], or 0 past the end; paths and patterns never hold NUL, so
// 0 stands for the end of the string as it does in C.
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// isGlobSpecial reports the bytes that end the literal prefix of a pattern.
func isGlobSpecial(c byte) bool {
	return c == '*' || c == '?' || c == '[' || c == '\\'
}

// dowild matches p against text. A sub-pattern handed to a recursive call is
// its own start for the purpose of deciding whether "**" is delimited, which
// matters for patterns like "a**/b" and is what git does.
func dowild(p, text string, pathname bool) int {
	pi, ti := 0, 0
	for ; pi < len(p); pi, ti = pi+1, ti+1 {
		pc, tc := p[pi], at(text, ti)
		if tc == 0 && pc != '*' {
			return wmAbortAll
		}
		switch pc {
		case '\\':
			pi++
			if at(p, pi) != tc {
				return wmNoMatch
			}
		case '?':
			if pathname && tc == '/' {
				return wmNoMatch
			}
		case '*':
			r, next, done := star(p, pi, text, ti, pathname)
			if done {
				return r
			}
			// A single star before a slash skipped to the next slash in the
			// text; both slashes are consumed by the loop step.
			pi, ti = next, r
		case '[':
			r, next := bracket(p, pi, tc, pathname)
			if r != wmMatch {
				return r
			}
			pi = next
		default:
			if tc != pc {
				return wmNoMatch
			}
		}
	}
	if ti < len(text) {
		return wmNoMatch
	}
	return wmMatch
}

// star handles a run of stars starting at p[pi]. It either finishes the match
// (done is true and r is the outcome) or, for a single star followed by '/',
// returns the text index of the next slash in r and the pattern index of the
// slash in next so the caller can go on.
func star(p string, pi int, text string, ti int, pathname bool) (r, next int, done bool) {
	matchSlash := !pathname
	pi++
	if at(p, pi) == '*' {
		prev := pi - 2
		for at(p, pi) == '*' {
			pi++
		}
		switch {
		case !pathname:
			matchSlash = true
		case (prev < 0 || p[prev] == '/') &&
			(pi == len(p) || p[pi] == '/' || (p[pi] == '\\' && at(p, pi+1) == '/')):
			// "**/" may match no directory at all.
			if at(p, pi) == '/' && dowild(p[pi+1:], text[ti:], pathname) == wmMatch {
				return wmMatch, 0, true
			}
			matchSlash = true
		default:
			matchSlash = false
		}
	}
	rest := text[ti:]
	if pi == len(p) {
		if !matchSlash && strings.IndexByte(rest, '/') >= 0 {
			return wmNoMatch, 0, true
		}
		return wmMatch, 0, true
	}
	if !matchSlash && p[pi] == '/' {
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			return wmNoMatch, 0, true
		}
		return ti + slash, pi, false
	}
	return starScan(p[pi:], text, ti, matchSlash, pathname), 0, true
}

// starScan tries every split point for a star whose remaining pattern is p.
func starScan(p, text string, ti int, matchSlash, pathname bool) int {
	tc := at(text, ti)
	for tc != 0 {
		// A literal after the star must appear in the text; skip to it.
		if !isGlobSpecial(p[0]) {
			for {
				tc = at(text, ti)
				if tc == 0 || (!matchSlash && tc == '/') || tc == p[0] {
					break
				}
				ti++
			}
			if tc != p[0] {
				return wmNoMatch
			}
		}
		r := dowild(p, text[ti:], pathname)
		if r != wmNoMatch {
			if !matchSlash || r != wmAbortToDoubleStar {
				return r
			}
		} else if !matchSlash && tc == '/' {
			return wmAbortToDoubleStar
		}
		ti++
		tc = at(text, ti)
	}
	return wmAbortAll
}

// bracket matches the text byte tc against the bracket expression that
// starts at p[pi]. It returns wmMatch and the index of the closing ']', or a
// failure outcome. As in git, the first member may be ']' and an unclosed
// expression makes the whole pattern fail.
func bracket(p string, pi int, tc byte, pathname bool) (int, int) {
	pi++
	negated := false
	if c := at(p, pi); c == '!' || c == '^' {
		negated = true
		pi++
	}
	var prev byte
	matched := false
	for pc := at(p, pi); ; {
		if pc == 0 {
			return wmAbortAll, 0
		}
		end, last, hit, ok := member(p, pi, prev, tc)
		if !ok {
			return wmAbortAll, 0
		}
		matched = matched || hit
		prev, pi = last, end+1
		if pc = at(p, pi); pc == ']' {
			break
		}
	}
	if matched == negated || (pathname && tc == '/') {
		return wmNoMatch, 0
	}
	return wmMatch, pi
}

// member matches tc against the bracket member starting at p[pi]; prev is
// the byte that may start a range there (0 if none). It returns the index of
// the member's last byte, the byte that may start a range after it, whether
// tc is in it, and false for a malformed member.
func member(p string, pi int, prev, tc byte) (end int, last byte, hit, ok bool) {
	pc := p[pi]
	switch {
	case pc == '\\':
		pi++
		if pc = at(p, pi); pc == 0 {
			return 0, 0, false, false
		}
	case pc == '-' && prev != 0 && at(p, pi+1) != 0 && p[pi+1] != ']':
		return rangeMember(p, pi, prev, tc)
	case pc == '[' && at(p, pi+1) == ':':
		return classMember(p, pi, tc)
	}
	return pi, pc, tc == pc, true
}

// rangeMember matches "prev-hi" where p[pi] is the '-'. A range cannot
// start another range, so it reports 0 as the next range start.
func rangeMember(p string, pi int, lo, tc byte) (int, byte, bool, bool) {
	pi++
	hi := p[pi]
	if hi == '\\' {
		pi++
		if hi = at(p, pi); hi == 0 {
			return 0, 0, false, false
		}
	}
	return pi, 0, tc >= lo && tc <= hi, true
}

// classMember matches "[:name:]" at p[pi]. Without the closing ":]" the '['
// is an ordinary member.
func classMember(p string, pi int, tc byte) (int, byte, bool, bool) {
	end := strings.IndexByte(p[pi+2:], ']')
	if end < 0 {
		return 0, 0, false, false
	}
	name, isClass := strings.CutSuffix(p[pi+2:pi+2+end], ":")
	if !isClass {
		return pi, '[', tc == '[', true
	}
	in, ok := inClass(name, tc)
	return pi + 2 + end, 0, in, ok
}

// inClass reports whether c belongs to the POSIX class name in the C locale;
// ok is false for an unknown name, which makes the whole pattern fail.
func inClass(name string, c byte) (in, ok bool) {
	lower := c >= 'a' && c <= 'z'
	upper := c >= 'A' && c <= 'Z'
	digit := c >= '0' && c <= '9'
	graph := c > ' ' && c < 0x7f
	switch name {
	case "alnum":
		return lower || upper || digit, true
	case "alpha":
		return lower || upper, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < ' ' || c == 0x7f, true
	case "digit":
		return digit, true
	case "graph":
		return graph, true
	case "lower":
		return lower, true
	case "print":
		return graph || c == ' ', true
	case "punct":
		return graph && !lower && !upper && !digit, true
	case "space":
		return c == ' ' || (c >= '\t' && c <= '\r'), true
	case "upper":
		return upper, true
	case "xdigit":
		return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'), true
	}
	return false, false
}
