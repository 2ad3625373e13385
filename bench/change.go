package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/runctl/runctl"
	"github.com/runctl/runctl/sandbox"
)

// DecisionTarget bounds the time re-shipping an unchanged tree may take to
// find that nothing needs uploading.
const DecisionTarget = 300 * time.Millisecond

// ShipRun is one Train that shipped a tree.
type ShipRun struct {
	Decision time.Duration // the sync phase, from its start to its end
	PutBytes int64
	PutCalls int
	S3Calls  int
	Skipped  bool // the library found the archive already in the bucket
}

// SyncRun is one `aws s3 sync` of the same tree.
type SyncRun struct {
	Time     time.Duration
	Uploaded int
	Bytes    int64
}

// ChangeResult is shipping a tree twice, and syncing it twice with the AWS
// CLI when that is installed.
type ChangeResult struct {
	Tree                  Tree
	First, Second         ShipRun
	SyncFirst, SyncSecond *SyncRun // nil without the AWS CLI
}

// ChangeDetection ships tree to instanceID twice through Train, the second
// time unchanged, and reports what each run uploaded and how long its sync
// phase took. The tree needs a run.sh; its stat cache lives wherever
// XDG_CACHE_HOME points.
func ChangeDetection(ctx context.Context, w *Wired, instanceID string, tree Tree) (ChangeResult, error) {
	res := ChangeResult{Tree: tree}
	if err := tree.Settle(ctx); err != nil {
		return res, err
	}
	var err error
	if res.First, err = shipOnce(ctx, w, instanceID, tree, "bench-change-1"); err != nil {
		return res, err
	}
	res.Second, err = shipOnce(ctx, w, instanceID, tree, "bench-change-2")
	return res, err
}

// shipOnce runs one detached Train and reads what its sync did.
func shipOnce(ctx context.Context, w *Wired, instanceID string, tree Tree, jobID string) (ShipRun, error) {
	since := time.Now()
	_, err := w.Client.Train(ctx, instanceID, "run.sh", runctl.WithCodeDir(tree.Dir),
		runctl.WithJobID(jobID), runctl.Detach())
	if err != nil {
		return ShipRun{}, fmt.Errorf("shipping the %s tree: %w", tree.Kind, err)
	}
	pf, ok := w.Events.syncFinished()
	if !ok {
		return ShipRun{}, fmt.Errorf("shipping the %s tree: no sync phase was reported", tree.Kind)
	}
	calls := w.Calls.Calls(since)
	run := ShipRun{Decision: pf.Elapsed, PutCalls: Count(calls, "PutObject")}
	for _, c := range calls {
		switch c.Op {
		case "PutObject":
			run.PutBytes += c.Bytes
			run.S3Calls++
		case "HeadBucket", "HeadObject":
			run.S3Calls++
		}
	}
	for _, t := range w.Events.All() {
		if sp, ok := t.Event.(runctl.SyncProgress); ok && !t.At.Before(since) && sp.Skipped {
			run.Skipped = true
		}
	}
	return run, nil
}

// AWSSync runs `aws s3 sync` of tree into the sandbox's bucket twice, when
// the AWS CLI is on the PATH; it returns nil results when it is not.
func AWSSync(ctx context.Context, srv *sandbox.Server, tree Tree, tmp string) (first, second *SyncRun, err error) {
	if _, err := exec.LookPath("aws"); err != nil {
		return nil, nil, nil
	}
	// Path-style addressing: the sandbox serves no virtual-hosted buckets.
	cfg := filepath.Join(tmp, "aws-config")
	conf := "[default]\nregion = " + srv.Region() + "\ns3 =\n    addressing_style = path\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, nil, err
	}
	env := append(HermeticEnv(), "AWS_CONFIG_FILE="+cfg)
	dest := "s3://" + sandbox.DefaultBucket + "/bench-sync/" + tree.Kind + "/"
	run := func() (*SyncRun, error) {
		cmd := exec.CommandContext(ctx, "aws", "--endpoint-url", srv.URL(), "s3", "sync", tree.Dir, dest,
			"--no-progress")
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("aws s3 sync: %w: %s", err, errOut.String())
		}
		r := &SyncRun{Time: time.Since(start)}
		r.Uploaded, r.Bytes = uploadedBy(out.Bytes())
		return r, nil
	}
	if first, err = run(); err != nil {
		return nil, nil, err
	}
	second, err = run()
	return first, second, err
}

// uploadedBy counts the files `aws s3 sync` says it uploaded and their
// sizes on disk.
func uploadedBy(out []byte) (int, int64) {
	n, total := 0, int64(0)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "upload: ")
		if !ok {
			continue
		}
		n++
		local, _, _ := strings.Cut(rest, " to s3://")
		if fi, err := os.Stat(local); err == nil {
			total += fi.Size()
		}
	}
	return n, total
}

// Rows turns the result into report rows.
func (r ChangeResult) Rows() []Row {
	first := fmt.Sprintf("first ship: %s uploaded in %d PUT, sync %s", mib(r.First.PutBytes),
		r.First.PutCalls, secs(r.First.Decision))
	rows := []Row{
		{What: "change detection: bytes uploaded", Case: TreeSmall + " unchanged, shipped again",
			Runctl: fmt.Sprintf("%d bytes, %d PUT (%s)", r.Second.PutBytes, r.Second.PutCalls, first),
			Target: "0 bytes",
			Result: verdict(r.Second.PutBytes == 0 && r.Second.PutCalls == 0, fmt.Sprintf("%d bytes", r.Second.PutBytes))},
		{What: "change detection: decision time", Case: TreeSmall + " unchanged",
			Runctl: fmt.Sprintf("%s (sync phase: HeadBucket, scan with stat cache, HeadObject; %d S3 calls)",
				secs(r.Second.Decision), r.Second.S3Calls),
			Target: "< " + secs(DecisionTarget),
			Result: verdict(r.Second.Decision < DecisionTarget, secs(r.Second.Decision))},
	}
	if r.SyncFirst != nil && r.SyncSecond != nil {
		rows[0].Instead = fmt.Sprintf("aws s3 sync: %d files, %s (first sync: %d files, %s, %s)",
			r.SyncSecond.Uploaded, mib(r.SyncSecond.Bytes), r.SyncFirst.Uploaded, mib(r.SyncFirst.Bytes),
			secs(r.SyncFirst.Time))
		rows[1].Instead = "aws s3 sync " + secs(r.SyncSecond.Time)
	}
	return rows
}
