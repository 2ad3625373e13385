//go:build !unix

package pack

import "time"

// cpuTime is not measured here; CompareTar reports zero CPU times.
func cpuTime() time.Duration { return 0 }
