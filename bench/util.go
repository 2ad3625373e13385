package bench

import (
	"context"
	"math"
	"slices"
	"time"
)

// sleep pauses for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Dist summarises a set of durations.
type Dist struct {
	N                  int
	Min, P50, P95, Max time.Duration
	Mean               time.Duration
}

// Summarize returns the distribution of ds; the zero Dist when ds is empty.
func Summarize(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	at := func(q float64) time.Duration {
		return s[int(math.Ceil(q*float64(len(s))))-1]
	}
	return Dist{N: len(s), Min: s[0], P50: at(0.5), P95: at(0.95), Max: s[len(s)-1],
		Mean: sum / time.Duration(len(s))}
}
