package runctl_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl"
	"github.com/runctl/runctl/sandbox"
)

// events collects what the library reports, safe for the handler's use.
type events struct {
	mu  sync.Mutex
	all []runctl.Event
	log bytes.Buffer
}

func (e *events) handle(_ context.Context, ev runctl.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
	if out, ok := ev.(runctl.LogOutput); ok {
		e.log.Write(out.Data)
	}
}

func (e *events) output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.String()
}

func collect[T runctl.Event](e *events) []T {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []T
	for _, ev := range e.all {
		if t, ok := ev.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// sandboxEnv is a sandbox with a client wired to it through the real SDK
// clients over HTTP.
type sandboxEnv struct {
	srv *sandbox.Server
	c   *runctl.Client
	ev  *events
}

func startSandbox(t *testing.T, faults string, opts ...runctl.Option) *sandboxEnv {
	t.Helper()
	f, err := sandbox.ParseFaults(faults)
	require.NoError(t, err)
	srv, err := sandbox.Start(context.Background(), sandbox.Options{Dir: t.TempDir(), Fast: true,
		Faults: f, KillOnClose: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })

	env := &sandboxEnv{srv: srv, ev: &events{}}
	base := []runctl.Option{
		runctl.WithAWSConfig(aws.Config{Region: srv.Region(),
			Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}),
		runctl.WithEndpoint(srv.URL()),
		runctl.WithBucket(sandbox.DefaultBucket),
		runctl.WithPollInterval(20*time.Millisecond, 200*time.Millisecond),
		runctl.WithEventHandler(env.ev.handle),
	}
	env.c, err = runctl.New(context.Background(), append(base, opts...)...)
	require.NoError(t, err)
	return env
}

// running lists the sandbox's instances that are not terminated.
func (e *sandboxEnv) running(t *testing.T) []string {
	t.Helper()
	insts, err := e.srv.Live()
	require.NoError(t, err)
	var ids []string
	for _, i := range insts {
		ids = append(ids, i.ID+" "+i.State)
	}
	return ids
}

// codeDir writes files into a new directory and returns it.
func codeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o755))
	}
	return dir
}

func TestSandboxCreateTrainTerminateThroughTheDefaultChain(t *testing.T) {
	srv, err := sandbox.Start(context.Background(), sandbox.Options{Dir: t.TempDir(), Fast: true, KillOnClose: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_PROFILE", "")

	ev := &events{}
	c, err := runctl.New(context.Background(), runctl.WithBucket(sandbox.DefaultBucket),
		runctl.WithPollInterval(20*time.Millisecond, 200*time.Millisecond), runctl.WithEventHandler(ev.handle))
	require.NoError(t, err)
	ctx := context.Background()

	inst, err := c.CreateInstance(ctx, "t3.micro", runctl.Spot())
	require.NoError(t, err)
	assert.Equal(t, runctl.MarketSpot, inst.Market)
	assert.True(t, inst.HourlyPrice.Known)

	res, err := c.Train(ctx, inst.ID, "train.py", runctl.WithCodeDir("examples/training"),
		runctl.WithArgs("--epochs", "2"))
	require.NoError(t, err, ev.output())
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, ev.output(), "epoch 2/2")
	assert.Contains(t, ev.output(), "final test_acc=")
	assert.True(t, res.CostKnown)
	assert.Greater(t, res.Cost, 0.0)
	assert.Greater(t, res.OnDemandCost, res.Cost, "spot is cheaper than on-demand")

	require.NoError(t, c.Terminate(ctx, inst.ID))
	left, err := c.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, left)
}

func TestSandboxDeliversEveryLineInOrder(t *testing.T) {
	env := startSandbox(t, "")
	ctx := context.Background()
	inst, err := env.c.CreateInstance(ctx, "t3.micro")
	require.NoError(t, err)
	dir := codeDir(t, map[string]string{"lines.py": "for i in range(100000):\n    print('line', i)\n"})

	res, err := env.c.Train(ctx, inst.ID, "lines.py", runctl.WithCodeDir(dir))
	require.NoError(t, err)

	lines := strings.Split(strings.TrimSuffix(env.ev.output(), "\n"), "\n")
	require.Len(t, lines, 100000)
	for i, l := range lines {
		if l != fmt.Sprintf("line %d", i) {
			t.Fatalf("line %d is %q", i, l)
		}
	}
	assert.Equal(t, int64(len(env.ev.output())), res.LogBytes)
	var offset int64
	for _, out := range collect[runctl.LogOutput](env.ev) {
		assert.Equal(t, offset, out.Offset, "no gap and no repeat")
		offset += int64(len(out.Data))
	}
}

func TestSandboxFailedScriptReturnsItsExitCode(t *testing.T) {
	env := startSandbox(t, "")
	ctx := context.Background()
	inst, err := env.c.CreateInstance(ctx, "t3.micro")
	require.NoError(t, err)
	dir := codeDir(t, map[string]string{"fail.sh": "echo working\necho 'fatal: out of memory' >&2\nexit 3\n"})

	res, err := env.c.Train(ctx, inst.ID, "fail.sh", runctl.WithCodeDir(dir))
	var je *runctl.JobError
	require.ErrorAs(t, err, &je)
	assert.Equal(t, 3, je.ExitCode)
	assert.Contains(t, je.Tail, "fatal: out of memory", "the last lines arrive")
	require.NotNil(t, res)
	assert.Equal(t, 3, res.ExitCode)
}

func TestSandboxFallbackOnSpotFaults(t *testing.T) {
	for _, tc := range []struct{ fault, code string }{
		{"spot-capacity", "InsufficientInstanceCapacity"},
		{"spot-quota", "MaxSpotInstanceCountExceeded"},
		{"spot-price", "SpotMaxPriceTooLow"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			env := startSandbox(t, tc.fault)
			start := time.Now()
			inst, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge", runctl.Spot())
			require.NoError(t, err)
			assert.Less(t, time.Since(start), 10*time.Second, "a capacity error is not retried for minutes")
			assert.Equal(t, runctl.MarketOnDemand, inst.Market)
			warnings := collect[runctl.CostWarning](env.ev)
			require.Len(t, warnings, 1)
			assert.Equal(t, tc.code, warnings[0].Code)
			assert.Greater(t, warnings[0].Ratio, 1.0)
			assert.Greater(t, warnings[0].SpotPrice, 0.0)
			assert.Greater(t, warnings[0].OnDemandPrice, warnings[0].SpotPrice)
		})
	}
}

func TestSandboxSpotCapacityInOneZoneMovesToAnother(t *testing.T) {
	env := startSandbox(t, "spot-capacity-zone=us-east-1a,spot-capacity-zone=us-east-1b")
	inst, err := env.c.CreateInstance(context.Background(), "t3.micro", runctl.Spot())
	require.NoError(t, err)
	assert.Equal(t, runctl.MarketSpot, inst.Market)
	assert.NotContains(t, []string{"us-east-1a", "us-east-1b"}, inst.Zone)
	assert.Empty(t, collect[runctl.CostWarning](env.ev))
}

func TestSandboxQuotaErrors(t *testing.T) {
	env := startSandbox(t, "ondemand-quota")
	_, err := env.c.CreateInstance(context.Background(), "t3.micro")
	require.ErrorIs(t, err, runctl.ErrQuota)
	assert.Contains(t, err.Error(), "VcpuLimitExceeded")
	assert.Empty(t, env.running(t))
	assert.Len(t, collect[runctl.LaunchAttempt](env.ev), 1, "quotas are regional: no other zone is tried")
}

func TestSandboxProgressDuringSlowBoot(t *testing.T) {
	env := startSandbox(t, "boot-delay=400ms,ssm-delay=400ms")
	_, err := env.c.CreateInstance(context.Background(), "t3.micro")
	require.NoError(t, err)
	phases := map[runctl.Phase]int{}
	for _, p := range collect[runctl.WaitProgress](env.ev) {
		phases[p.Phase]++
	}
	assert.GreaterOrEqual(t, phases[runctl.PhaseWaitRunning], 2)
	assert.GreaterOrEqual(t, phases[runctl.PhaseWaitSSM], 2)
}

func TestSandboxAgentNeverOnlineTerminates(t *testing.T) {
	env := startSandbox(t, "ssm-never")
	_, err := env.c.CreateInstance(context.Background(), "t3.micro", runctl.WithReadyTimeout(time.Second))
	require.ErrorIs(t, err, runctl.ErrTimeout)
	assert.Contains(t, err.Error(), "instance profile")
	assert.Empty(t, env.running(t), "the instance that never became ready is terminated")
}

func TestSandboxCancelDuringWaitTerminates(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := startSandbox(t, "boot-delay=5s", runctl.WithEventHandler(func(_ context.Context, e runctl.Event) {
		if _, ok := e.(runctl.WaitProgress); ok {
			cancel()
		}
	}))
	_, err := env.c.CreateInstance(ctx, "t3.micro")
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, env.running(t), "Ctrl-C during provisioning leaves nothing running")
}

func TestSandboxThrottlingIsRetried(t *testing.T) {
	env := startSandbox(t, "throttle=2")
	inst, err := env.c.CreateInstance(context.Background(), "t3.micro")
	require.NoError(t, err)
	require.NoError(t, env.c.Terminate(context.Background(), inst.ID))
}

func TestSandboxSpotInterruption(t *testing.T) {
	env := startSandbox(t, "interrupt-after=1500ms,interrupt-window=2s")
	ctx := context.Background()
	inst, err := env.c.CreateInstance(ctx, "t3.micro", runctl.Spot())
	require.NoError(t, err)

	res, err := env.c.Train(ctx, inst.ID, "train.py", runctl.WithCodeDir("examples/training"),
		runctl.WithArgs("--epochs", "50", "--sleep-per-epoch", "0.5"))
	require.ErrorIs(t, err, runctl.ErrInterrupted, env.ev.output())
	var ie *runctl.InterruptedError
	require.ErrorAs(t, err, &ie)
	assert.True(t, res.Interrupted)
	assert.Contains(t, env.ev.output(), "received SIGTERM: checkpoint saved")

	require.Eventually(t, func() bool { return len(env.running(t)) == 0 }, 10*time.Second, 50*time.Millisecond,
		"the reclaimed instance ends")
}

func TestSandboxDetachedJobCanBeFollowedLater(t *testing.T) {
	env := startSandbox(t, "")
	ctx := context.Background()
	inst, err := env.c.CreateInstance(ctx, "t3.micro")
	require.NoError(t, err)
	dir := codeDir(t, map[string]string{"slow.sh": "for i in 1 2 3; do echo tick $i; sleep 0.3; done\n"})

	res, err := env.c.Train(ctx, inst.ID, "slow.sh", runctl.WithCodeDir(dir), runctl.Detach())
	require.NoError(t, err)
	assert.Equal(t, -1, res.ExitCode)

	res, err = env.c.Follow(ctx, inst.ID, "")
	require.NoError(t, err)
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, "tick 1\ntick 2\ntick 3\n", env.ev.output())
}

func TestSandboxFindOrphansSparesBusyAndUntagged(t *testing.T) {
	env := startSandbox(t, "")
	ctx := context.Background()
	idle, err := env.c.CreateInstance(ctx, "t3.micro")
	require.NoError(t, err)
	busy, err := env.c.CreateInstance(ctx, "t3.micro")
	require.NoError(t, err)
	dir := codeDir(t, map[string]string{"long.sh": "sleep 30\n"})
	_, err = env.c.Train(ctx, busy.ID, "long.sh", runctl.WithCodeDir(dir), runctl.Detach())
	require.NoError(t, err)

	raw := ec2.NewFromConfig(aws.Config{Region: env.srv.Region(),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		func(o *ec2.Options) { o.BaseEndpoint = aws.String(env.srv.URL()) })
	out, err := raw.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(idle.AMI),
		InstanceType: "t3.micro", MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	require.NoError(t, err)
	untagged := aws.ToString(out.Instances[0].InstanceId)

	orphans, err := env.c.FindOrphans(ctx, 0)
	require.NoError(t, err)
	require.Len(t, orphans, 1)
	assert.Equal(t, idle.ID, orphans[0].Instance.ID)
	assert.Equal(t, "no job is running on it", orphans[0].Reason)

	err = env.c.Terminate(ctx, untagged)
	assert.ErrorIs(t, err, runctl.ErrNotManaged, "a cleanup never touches other people's instances")
}

func TestSandboxWatchdogEndsTheInstance(t *testing.T) {
	for _, tc := range []struct {
		name   string
		create []runctl.CreateOption
		train  []runctl.TrainOption
	}{
		{name: "maximum lifetime", create: []runctl.CreateOption{runctl.WithMaxLifetime(2 * time.Second)}},
		{name: "silent client", train: []runctl.TrainOption{runctl.WithClientTimeout(time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := startSandbox(t, "")
			ctx := context.Background()
			inst, err := env.c.CreateInstance(ctx, "t3.micro", tc.create...)
			require.NoError(t, err)
			if tc.train != nil {
				dir := codeDir(t, map[string]string{"long.sh": "sleep 60\n"})
				_, err = env.c.Train(ctx, inst.ID, "long.sh",
					append(tc.train, runctl.WithCodeDir(dir), runctl.Detach())...)
				require.NoError(t, err)
			}
			require.Eventually(t, func() bool {
				got, err := env.srv.Instance(inst.ID)
				return err == nil && got.State == "terminated"
			}, 15*time.Second, 100*time.Millisecond, "the instance ends itself")
			got, err := env.srv.Instance(inst.ID)
			require.NoError(t, err)
			assert.Contains(t, got.StateReason, "InstanceInitiatedShutdown")
		})
	}
}

func TestSandboxDataInAndOutputsOutThroughPresignedURLs(t *testing.T) {
	env := startSandbox(t, "")
	ctx := context.Background()
	cfg := aws.Config{Region: env.srv.Region(), Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	raw := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint, o.UsePathStyle = aws.String(env.srv.URL()), true
	})
	_, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(sandbox.DefaultBucket),
		Key: aws.String("datasets/tiny/rows.csv"), Body: strings.NewReader("a,b\n1,2\n")})
	require.NoError(t, err)

	inst, err := env.c.CreateInstance(ctx, "t3.micro")
	require.NoError(t, err)
	dir := codeDir(t, map[string]string{"train.sh": "wc -l < \"$RUNCTL_DATA_DIR/rows.csv\"\n" +
		"echo weights > \"$RUNCTL_OUTPUT_DIR/checkpoint.txt\"\n"})
	res, err := env.c.Train(ctx, inst.ID, "train.sh", runctl.WithCodeDir(dir),
		runctl.WithDataS3("s3://"+sandbox.DefaultBucket+"/datasets/tiny"),
		runctl.WithOutputS3("s3://"+sandbox.DefaultBucket+"/results"))
	require.NoError(t, err, env.ev.output())
	assert.Contains(t, env.ev.output(), "2\n")

	key := "results/" + res.Job.ID + "/outputs.tar.gz"
	assert.Equal(t, "s3://"+sandbox.DefaultBucket+"/"+key, res.OutputURI)
	obj, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(sandbox.DefaultBucket), Key: aws.String(key)})
	require.NoError(t, err)
	defer obj.Body.Close()
	zr, err := gzip.NewReader(obj.Body)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	found := false
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		found = found || strings.HasSuffix(h.Name, "checkpoint.txt")
	}
	assert.True(t, found, "the checkpoint is in the uploaded outputs")
}

func TestREADMEListsEveryFault(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, name := range sandbox.FaultNames() {
		assert.Contains(t, string(readme), "`"+name, "README's development section lacks fault %s", name)
	}
}
