package bench

import (
	"context"
	"fmt"

	"github.com/runctl/runctl/internal/pack"
)

// Packaging targets: at least this many times faster than tar czf, with
// output at most this much larger.
const (
	PackSpeedupTarget = 1.5
	PackSizeTarget    = 1.05
)

// PackResult is runctl's archive of one tree against tar czf of the same
// files.
type PackResult struct {
	Tree Tree
	pack.TarComparison
}

// Packaging times runctl's packaging of each tree against `tar czf` of the
// same entries, rounds times each, keeping the best time of each side.
// runctl's time includes its Scan with an empty stat cache, which reads and
// hashes every file before the archive reads them again.
func Packaging(ctx context.Context, trees []Tree, rounds int) ([]PackResult, error) {
	var out []PackResult
	for _, t := range trees {
		c, err := pack.CompareTar(ctx, t.Dir, rounds)
		if err != nil {
			return out, fmt.Errorf("comparing with tar on the %s tree: %w", t.Kind, err)
		}
		out = append(out, PackResult{Tree: t, TarComparison: c})
	}
	return out, nil
}

// Rows turns the results into report rows: one for time, one for size.
func (r PackResult) Rows() []Row {
	speed := r.Speedup()
	size := r.SizeRatio()
	return []Row{
		{
			What: "packaging time", Case: r.Tree.Kind + ": " + r.Tree.Describe(),
			Runctl:  fmt.Sprintf("%s (CPU %s)", secs(r.Pack), secs(r.PackCPU)),
			Instead: fmt.Sprintf("tar czf %s (CPU %s)", secs(r.Tar), secs(r.TarCPU)),
			Target:  fmt.Sprintf("≥ %.1f× faster", PackSpeedupTarget),
			Result:  verdict(speed >= PackSpeedupTarget, fmt.Sprintf("%.2f×", speed)),
		},
		{
			What: "packaging size", Case: r.Tree.Kind,
			Runctl:  mib(r.PackBytes),
			Instead: "tar czf " + mib(r.TarBytes),
			Target:  fmt.Sprintf("≤ +%.0f%%", (PackSizeTarget-1)*100),
			Result:  verdict(size <= PackSizeTarget, fmt.Sprintf("%+.1f%%", (size-1)*100)),
		},
	}
}
