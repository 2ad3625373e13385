package pack

import "fmt"

// SkipReason says why a path was left out.
type SkipReason uint8

// Reasons for leaving a path out that a person should hear about. Paths
// excluded by ignore files are not reported.
const (
	// SkipSecret: the path matches a default secret pattern and no ignore
	// file would have left it out anyway.
	SkipSecret SkipReason = iota + 1
	// SkipLinkAbsolute: a symbolic link with an absolute target.
	SkipLinkAbsolute
	// SkipLinkOutside: a symbolic link that resolves outside the root.
	SkipLinkOutside
	// SkipLinkDangling: a symbolic link to nothing, or a loop.
	SkipLinkDangling
	// SkipLinkToLeftOut: a symbolic link to a path that is not shipped.
	SkipLinkToLeftOut
	// SkipSpecial: a socket, pipe or device.
	SkipSpecial
)

// Skip is one path left out, with the reason.
type Skip struct {
	Path   string // slash-separated, relative to the root
	Dir    bool
	Reason SkipReason
}

// String returns a one-line note for a person, naming the path but nothing
// of its contents or, for links, of their targets.
func (s Skip) String() string {
	p := s.Path
	if s.Dir {
		p += "/"
	}
	switch s.Reason {
	case SkipSecret:
		// The leading slash anchors the negation to this one path.
		return fmt.Sprintf("left out %s (looks like a secret; add !/%s to .runctlignore to ship it)", p, p)
	case SkipLinkAbsolute:
		return fmt.Sprintf("left out %s (symbolic link with an absolute target; only links within the code directory are shipped)", p)
	case SkipLinkOutside:
		return fmt.Sprintf("left out %s (symbolic link pointing outside the code directory)", p)
	case SkipLinkDangling:
		return fmt.Sprintf("left out %s (symbolic link to nothing)", p)
	case SkipLinkToLeftOut:
		return fmt.Sprintf("left out %s (symbolic link to a path that is not shipped)", p)
	case SkipSpecial:
		return fmt.Sprintf("left out %s (not a regular file, directory or symbolic link)", p)
	}
	return fmt.Sprintf("left out %s", p)
}
