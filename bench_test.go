package runctl_test

// Benchmarks of the work runctl does itself, against the sandbox. They run
// only with -bench, so `go test ./...` stays fast:
//
//	go test -run '^$' -bench . -benchtime 3x .
//
// bench/run.sh makes the full measurements, with the usual tools beside
// them, and prints the table docs/PERFORMANCE.md quotes.

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runctl/runctl"
	"github.com/runctl/runctl/bench"
	"github.com/runctl/runctl/sandbox"
)

// benchSizes keep the 10,000 small files of the targets and shrink the rest.
var benchSizes = bench.Sizes{SmallFiles: 10000, LargeBytes: 64 << 20, MLCodeFiles: 500,
	MLDataBytes: 64 << 20, ShipBytes: 64 << 20}

// benchHermetic isolates a benchmark from the user's AWS settings and gives
// package pack an empty stat cache of its own.
func benchHermetic(b *testing.B) {
	b.Helper()
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_PROFILE": "",
		"AWS_ENDPOINT_URL": "", "XDG_CACHE_HOME": b.TempDir(),
	} {
		b.Setenv(k, v)
	}
}

// benchTree writes a synthetic tree with a trivial run.sh and waits until
// the stat cache will trust it.
func benchTree(b *testing.B, kind string) bench.Tree {
	b.Helper()
	t, err := bench.MakeTree(kind, filepath.Join(b.TempDir(), kind), benchSizes)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.Dir, "run.sh"), []byte("#!/bin/sh\ntrue\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	t.Written = time.Now()
	if err := t.Settle(context.Background()); err != nil {
		b.Fatal(err)
	}
	return t
}

// benchSandbox starts a fast sandbox, a client wired to it with short poll
// intervals, and one running instance.
func benchSandbox(b *testing.B, spec bench.ClientSpec) (*sandbox.Server, *bench.Wired, string) {
	b.Helper()
	ctx := context.Background()
	srv, err := bench.StartSandbox(ctx, b.TempDir(), "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	if spec.PollMin == 0 {
		spec.PollMin, spec.PollMax = 20*time.Millisecond, 200*time.Millisecond
	}
	w, err := bench.NewClient(ctx, srv, spec)
	if err != nil {
		b.Fatal(err)
	}
	inst, err := w.Client.CreateInstance(ctx, "t3.micro")
	if err != nil {
		b.Fatal(err)
	}
	return srv, w, inst.ID
}

// BenchmarkPlanSync measures the scan that decides what to ship, on 10,000
// small files: cold reads and hashes every file, warm trusts the stat cache
// as a second run on an unchanged tree does.
func BenchmarkPlanSync(b *testing.B) {
	benchHermetic(b)
	tree := benchTree(b, bench.TreeSmall)
	c, err := runctl.New(context.Background(), runctl.WithAWSConfig(bench.AWSConfig("us-east-1")),
		runctl.WithCacheDir(""))
	if err != nil {
		b.Fatal(err)
	}
	cache := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "runctl", "pack")
	for _, warm := range []bool{false, true} {
		name := map[bool]string{false: "cold", true: "warm"}[warm]
		b.Run(name, func(b *testing.B) {
			var plan *runctl.SyncPlan
			for b.Loop() {
				if !warm {
					b.StopTimer()
					_ = os.RemoveAll(cache)
					b.StartTimer()
				}
				if plan, err = c.PlanSync(context.Background(), tree.Dir); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(plan.TotalBytes)
			b.ReportMetric(float64(len(plan.Files)), "files")
		})
	}
}

// BenchmarkReshipUnchanged ships the same 10,000 files again and again:
// each Train must decide from the stat cache and a HeadObject that nothing
// needs uploading. sync-ms is the sync phase; put-bytes must stay 0.
func BenchmarkReshipUnchanged(b *testing.B) {
	benchHermetic(b)
	tree := benchTree(b, bench.TreeSmall)
	_, w, id := benchSandbox(b, bench.ClientSpec{})
	ctx := context.Background()
	if _, err := w.Client.Train(ctx, id, "run.sh", runctl.WithCodeDir(tree.Dir), runctl.Detach()); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var syncTime time.Duration
	for b.Loop() {
		if _, err := w.Client.Train(ctx, id, "run.sh", runctl.WithCodeDir(tree.Dir), runctl.Detach()); err != nil {
			b.Fatal(err)
		}
		syncTime += benchLastSync(w)
	}
	b.ReportMetric(float64(syncTime.Milliseconds())/float64(b.N), "sync-ms/op")
	b.ReportMetric(float64(bench.SumBytes(w.Calls.Calls(start)))/float64(b.N), "put-bytes/op")
}

// BenchmarkReshipOneFileChanged changes one of 10,000 files before each
// Train: the scan rereads one file, and the whole archive is packed and
// uploaded again under its new name.
func BenchmarkReshipOneFileChanged(b *testing.B) {
	benchHermetic(b)
	tree := benchTree(b, bench.TreeSmall)
	_, w, id := benchSandbox(b, bench.ClientSpec{})
	ctx := context.Background()
	changed := filepath.Join(tree.Dir, "changed.txt")
	start := time.Now()
	var syncTime time.Duration
	for b.Loop() {
		if err := os.WriteFile(changed, []byte(time.Now().String()), 0o644); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Client.Train(ctx, id, "run.sh", runctl.WithCodeDir(tree.Dir), runctl.Detach()); err != nil {
			b.Fatal(err)
		}
		syncTime += benchLastSync(w)
	}
	b.ReportMetric(float64(syncTime.Milliseconds())/float64(b.N), "sync-ms/op")
	b.ReportMetric(float64(bench.SumBytes(w.Calls.Calls(start)))/float64(b.N), "put-bytes/op")
}

// benchLastSync returns the duration of the last sync phase the client
// reported.
func benchLastSync(w *bench.Wired) time.Duration {
	all := w.Events.All()
	for i := len(all) - 1; i >= 0; i-- {
		if pf, ok := all[i].Event.(runctl.PhaseFinished); ok && pf.Phase == runctl.PhaseSync {
			return pf.Elapsed
		}
	}
	return 0
}

// BenchmarkPoll measures one poll of a finished job through SSM: the round
// trip the follow loop repeats. ssm-calls is SendCommand plus the
// GetCommandInvocation calls it took.
func BenchmarkPoll(b *testing.B) {
	benchHermetic(b)
	code := b.TempDir()
	if err := bench.WriteFollowScripts(code); err != nil {
		b.Fatal(err)
	}
	_, w, id := benchSandbox(b, bench.ClientSpec{})
	ctx := context.Background()
	if _, err := w.Client.Train(ctx, id, "flow.sh", runctl.WithCodeDir(code), runctl.WithArgs("3"),
		runctl.WithJobID("bench-poll")); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for b.Loop() {
		if _, err := w.Client.Logs(ctx, id, "bench-poll"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(w.Calls.Calls(start)))/float64(b.N), "ssm-calls/op")
}

// BenchmarkFollowFlowing follows a job that prints a timestamped line every
// 100 ms for three seconds, on the default intervals, and reports the delay
// from each line being written to its event.
func BenchmarkFollowFlowing(b *testing.B) {
	benchHermetic(b)
	code := b.TempDir()
	if err := bench.WriteFollowScripts(code); err != nil {
		b.Fatal(err)
	}
	srv, _, id := benchSandbox(b, bench.ClientSpec{})
	var delays []time.Duration
	for b.Loop() {
		run, err := bench.Follow(context.Background(), srv, id, code,
			bench.FollowSpec{Name: "flowing", Flow: 3 * time.Second}, "bench-flow-"+time.Now().Format("150405.000"))
		if err != nil {
			b.Fatal(err)
		}
		delays = append(delays, run.Delays()...)
	}
	d := bench.Summarize(delays)
	b.ReportMetric(float64(d.P50.Milliseconds()), "p50-delay-ms")
	b.ReportMetric(float64(d.Max.Milliseconds()), "max-delay-ms")
}

// BenchmarkCreateInstance launches in the sandbox's fast mode, where an
// instance is ready as it launches, and reports the time from the sandbox
// reporting it running and online to CreateInstance returning.
func BenchmarkCreateInstance(b *testing.B) {
	benchHermetic(b)
	for _, spec := range []bench.LaunchSpec{
		{Name: "default-intervals", PollMin: bench.DefaultPollMin, PollMax: bench.DefaultPollMax},
		{Name: "short-intervals", PollMin: 20 * time.Millisecond, PollMax: 200 * time.Millisecond},
	} {
		b.Run(spec.Name, func(b *testing.B) {
			var over time.Duration
			for b.Loop() {
				ls, err := bench.LaunchOverhead(context.Background(), b.TempDir(), spec)
				if err != nil {
					b.Fatal(err)
				}
				over += ls[0].Overhead()
			}
			b.ReportMetric(float64(over.Microseconds())/1000/float64(b.N), "overhead-ms/op")
		})
	}
}
