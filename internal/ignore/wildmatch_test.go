package ignore

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWildmatch(t *testing.T) {
	tests := []struct {
		pattern, text string
		pathname      bool
		want          bool
	}{
		{"abc", "abc", true, true},
		{"abc", "abd", true, false},
		{"a?c", "abc", true, true},
		{"a?c", "a/c", true, false},
		{"a?c", "a/c", false, true},
		{"*.go", "main.go", true, true},
		{"*.go", "cmd/main.go", true, false},
		{"*.go", "cmd/main.go", false, true},
		{"a/*", "a/b", true, true},
		{"a/*", "a/b/c", true, false},
		{"a/*/c", "a/b/c", true, true},
		{"a/*/c", "a/c", true, false},
		{"**/c", "c", true, true},
		{"**/c", "a/b/c", true, true},
		{"a/**/c", "a/c", true, true},
		{"a/**/c", "a/x/y/c", true, true},
		{"a/**", "a/x/y", true, true},
		{"a/**", "a", true, false},
		{"a**c", "a/b/c", true, false},
		{"a**c", "abbc", true, true},
		{"**c", "a/b/c", true, false},
		{"**c", "abc", true, true},
		{"[abc]x", "bx", true, true},
		{"[abc]x", "dx", true, false},
		{"[!abc]x", "dx", true, true},
		{"[^abc]x", "ax", true, false},
		{"[a-c]x", "bx", true, true},
		{"[a-c]x", "-x", true, false},
		{"[a-]x", "-x", true, true},
		{"[]]x", "]x", true, true},
		{"[!]]x", "ax", true, true},
		{"[[:digit:]]x", "7x", true, true},
		{"[[:digit:]]x", "ax", true, false},
		{"[[:upper:][:digit:]]", "Q", true, true},
		{"[[:bogus:]]", "a", true, false},
		{"[[:]x", ":x", true, true},
		{"[a/]x", "/x", true, false},
		{"[abc", "a", true, false},
		{"\\*", "*", true, true},
		{"\\*", "a", true, false},
		{"\\!x", "!x", true, true},
		{"foo\\", "foo", true, false},
		{"foo\\", "foo\\", true, false},
		{"a\\ ", "a ", true, true},
		{"*", "", true, true},
		{"?", "", true, false},
		{"a*b*c", "aXbYc", true, true},
		{"a*b*c", "aXbY", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.text, func(t *testing.T) {
			assert.Equal(t, tt.want, wildmatch(tt.pattern, tt.text, tt.pathname))
		})
	}
}

func TestTrimTrailingSpaces(t *testing.T) {
	tests := []struct{ in, want string }{
		{"foo", "foo"},
		{"foo   ", "foo"},
		{"foo\\ ", "foo\\ "},
		{"foo\\  ", "foo\\ "},
		{"foo\t", "foo\t"},
		{"a b ", "a b"},
		{"foo\\", "foo\\"},
		{"   ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, trimTrailingSpaces(tt.in))
		})
	}
}
