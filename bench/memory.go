package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/runctl/runctl/sandbox"
)

// MemoryTarget is the most a process shipping a large tree may hold
// resident.
const MemoryTarget = 64 << 20

// ShipResult is one run of the benchship program.
type ShipResult struct {
	Tree         Tree
	PeakRSS      int64 // bytes: VmHWM where there is one, else getrusage's maxrss
	VmHWM        int64 // bytes, as the child read it from /proc/self/status at its end
	ArchiveBytes int64
	PutCalls     int64
	Wall         time.Duration
	Scan         time.Duration // to the first packaging progress: walk, hash, HeadBucket, HeadObject
	Pack         time.Duration // first to last packaging progress
	Upload       time.Duration // the rest of the archive and the PutObject
}

// shipOutput is what benchship prints.
type shipOutput struct {
	ArchiveBytes int64 `json:"archive_bytes"`
	PutCalls     int64 `json:"put_calls"`
	WallMS       int64 `json:"wall_ms"`
	ScanMS       int64 `json:"scan_ms"`
	PackMS       int64 `json:"pack_ms"`
	UploadMS     int64 `json:"upload_ms"`
	VmHWMKiB     int64 `json:"vmhwm_kib"`
}

// Memory ships tree to instanceID on srv from a child process running bin
// (bench/cmd/benchship) and returns its peak resident set. cacheDir becomes
// the child's XDG_CACHE_HOME, where package pack keeps its stat cache.
func Memory(ctx context.Context, bin string, srv *sandbox.Server, instanceID string, tree Tree,
	cacheDir string) (ShipResult, error) {
	cmd := exec.CommandContext(ctx, bin, "-endpoint", srv.URL(), "-region", srv.Region(),
		"-bucket", sandbox.DefaultBucket, "-instance", instanceID, "-dir", tree.Dir, "-script", "run.sh")
	cmd.Env = append(HermeticEnv(), "XDG_CACHE_HOME="+cacheDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return ShipResult{}, fmt.Errorf("running %s: %w: %s", bin, err, stderr.String())
	}
	var out shipOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return ShipResult{}, fmt.Errorf("reading benchship output %q: %w", stdout.String(), err)
	}
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	// The child's own high-water mark is the number. The kernel's maxrss
	// for the child is no good on Linux: exec folds in the high-water mark
	// of the memory it replaced, which with vfork is this process's.
	peak := out.VmHWMKiB << 10
	if out.VmHWMKiB <= 0 {
		peak = maxRSS(cmd.ProcessState)
	}
	return ShipResult{Tree: tree, PeakRSS: peak, VmHWM: out.VmHWMKiB << 10,
		ArchiveBytes: out.ArchiveBytes, PutCalls: out.PutCalls, Wall: ms(out.WallMS),
		Scan: ms(out.ScanMS), Pack: ms(out.PackMS), Upload: ms(out.UploadMS)}, nil
}

// HermeticEnv is the environment of every child the harness starts: static
// fake credentials, no shared AWS files, no metadata service, and the PATH
// and HOME it needs to run at all.
func HermeticEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}

// Rows turns the result into report rows.
func (r ShipResult) Rows() []Row {
	mbps := float64(r.Tree.Shipped.Bytes) / (1 << 20) / r.Wall.Seconds()
	return []Row{
		{
			What: "memory: peak RSS shipping", Case: TreeShip + ": " + r.Tree.Describe(),
			Runctl: fmt.Sprintf("%.1f MiB", float64(r.PeakRSS)/(1<<20)),
			Target: fmt.Sprintf("< %d MiB", MemoryTarget>>20),
			Result: verdict(r.PeakRSS > 0 && r.PeakRSS < MemoryTarget, fmt.Sprintf("%.1f MiB", float64(r.PeakRSS)/(1<<20))),
		},
		{
			What: "shipping time", Case: TreeShip,
			Runctl: fmt.Sprintf("%s, %.0f MiB/s: scan+hash %s, pack %s, upload %s; %s in %d PUT",
				secs(r.Wall), mbps, secs(r.Scan), secs(r.Pack), secs(r.Upload), mib(r.ArchiveBytes), r.PutCalls),
			Result: "for context",
		},
	}
}
