package prices

import "strings"

// Nearest returns the known instance type closest in spelling to itype,
// for "did you mean" hints, or "" when none is close or itype is known.
func Nearest(itype string) string {
	best, bestDist := "", 3
	for _, s := range specs {
		if s.Type == itype {
			return ""
		}
		if d := distance(strings.ToLower(itype), s.Type); d < bestDist {
			best, bestDist = s.Type, d
		}
	}
	return best
}

// distance is the Damerau-Levenshtein distance (optimal string alignment),
// which counts a swap of two neighbours, the commonest typo, as one edit.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
