package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExitCodes runs the binary as a script or CI would and checks the exit
// status and what stderr says, for each kind of outcome.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	train := trainingDir(t)
	runArgs := func(extra ...string) []string {
		return append([]string{"--sandbox", "aws", "run", "t3.micro", "train.py", "--code-dir", train}, extra...)
	}
	tests := []struct {
		name   string
		faults string
		args   []string
		code   int
		stderr []string // regular expressions
		within time.Duration
	}{
		{name: "a failed script's status passes through",
			args: runArgs("--", "--epochs", "2", "--fail-at-epoch", "1"), code: 3,
			stderr: []string{`failing on purpose after epoch 1`,
				`(?m)^terminated i-\w+$`, `runctl: the script failed with exit code 3`}},
		{name: "a missing script argument", args: []string{"--sandbox", "aws", "run", "t3.micro"},
			code: exitUsage, stderr: []string{`run takes an instance type and a script`, `runctl --help`}},
		{name: "an unknown flag", args: []string{"--sandbox", "aws", "run", "--nope", "t3.micro", "x.py"},
			code: exitUsage, stderr: []string{`unknown flag: --nope`}},
		{name: "a bad duration", args: []string{"--sandbox", "aws", "create", "t3.micro", "--spot-timeout", "soon"},
			code: exitUsage, stderr: []string{`invalid argument "soon" for "--spot-timeout"`}},
		{name: "a bad output format", args: []string{"--sandbox", "--output", "xml", "aws", "list"},
			code: exitUsage, stderr: []string{`--output "xml"`}},
		{name: "create without a type", args: []string{"--sandbox", "aws", "create"},
			code: exitUsage, stderr: []string{`create takes the instance type`}},
		{name: "an unknown command", args: []string{"--sandbox", "launch"},
			code: exitUsage, stderr: []string{`unknown command "launch"`}},
		{name: "an unknown aws command", args: []string{"--sandbox", "aws", "lst"},
			code: exitUsage, stderr: []string{`unknown command "lst" for "runctl aws"`, `did you mean list\?`}},
		{name: "an unknown fault", faults: "spot-capcity", args: []string{"--sandbox", "aws", "list"},
			code: exitUsage, stderr: []string{`unknown sandbox fault "spot-capcity"`, `spot-capacity`}},
		{name: "a bad fault value", faults: "throttle=lots", args: []string{"--sandbox", "aws", "list"},
			code: exitUsage, stderr: []string{`sandbox fault throttle: want a positive count`}},
		{name: "no on-demand quota", faults: "ondemand-quota", args: []string{"--sandbox", "aws", "create", "t3.micro"},
			code: exitCapacity, stderr: []string{`VcpuLimitExceeded`, `Service Quotas`}, within: 10 * time.Second},
		{name: "no capacity anywhere", faults: "spot-capacity,ondemand-capacity",
			args: []string{"--sandbox", "aws", "create", "t3.micro", "--spot"}, code: exitCapacity,
			stderr: []string{`falling back to on-demand`, `InsufficientInstanceCapacity`}, within: 10 * time.Second},
		{name: "the SSM agent never comes online", faults: "ssm-never",
			args: []string{"--sandbox", "aws", "create", "t3.micro", "--ready-timeout", "1s"}, code: exitTimeout,
			stderr: []string{`still "agent offline" after 1s`, `(?m)^terminated i-\w+`}, within: 10 * time.Second},
		{name: "a misspelt instance type", args: []string{"--sandbox", "aws", "create", "t3.mcro"},
			code: exitConfig, stderr: []string{`did you mean t3\.micro\?`}},
		{name: "a missing bucket, before anything is launched",
			args: []string{"--sandbox", "--bucket", "no-such-bucket", "aws", "run", "t3.micro", "train.py",
				"--code-dir", train},
			code: exitConfig, stderr: []string{`no-such-bucket`, `runctl aws setup --bucket no-such-bucket`}},
		{name: "doctor finds a missing bucket",
			args: []string{"--sandbox", "--bucket", "no-such-bucket", "aws", "doctor", "t3.micro"},
			code: exitConfig, stderr: []string{`1 check\(s\) failed`}},
		{name: "doctor finds a missing bucket, in JSON",
			args: []string{"--sandbox", "--output", "json", "--bucket", "no-such-bucket", "aws", "doctor", "t3.micro"},
			code: exitConfig, stderr: []string{`no-such-bucket`}},
		{name: "status of an instance that does not exist",
			args: []string{"--sandbox", "aws", "status", "i-0123456789abcdef0"},
			code: exitConfig, stderr: []string{`i-0123456789abcdef0`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := sandboxDir(t)
			res := proc(t, t.TempDir(), procEnv(t, dir, "RUNCTL_SANDBOX_FAULTS="+tt.faults), tt.args...)
			assert.Equal(t, tt.code, res.code, "%s", res)
			for _, re := range tt.stderr {
				assert.Regexp(t, re, res.stderr)
			}
			if tt.within > 0 {
				assert.Less(t, res.took, tt.within)
			}
			if tt.code != exitOK && tt.code < exitUsage {
				assert.NotContains(t, res.stdout, "epoch", "the script's output goes to stderr")
			}
			assertNothingRunning(t, dir)
		})
	}
}

// TestTerminateOfAnUnknownInstance: AWS answers InvalidInstanceID.NotFound
// both for a mistyped ID and for an instance terminated long ago. Either a
// success ("already gone") or a configuration error is fair; an internal
// error is not.
func TestTerminateOfAnUnknownInstance(t *testing.T) {
	t.Parallel()
	res := proc(t, t.TempDir(), procEnv(t, sandboxDir(t)), "--sandbox", "aws", "terminate", "i-0123456789abcdef0")
	assert.Contains(t, []int{exitOK, exitConfig}, res.code, "%s", res)
	assert.Contains(t, res.stderr, "i-0123456789abcdef0")
}

// TestSetupThenRunInSandbox follows the fix that preflight prints for a
// missing bucket: aws setup creates it, and the run then works.
func TestSetupThenRunInSandbox(t *testing.T) {
	t.Parallel()
	dir := sandboxDir(t)
	env := procEnv(t, dir)
	setup := proc(t, t.TempDir(), env, "--sandbox", "--bucket", "my-new-bucket", "aws", "setup")
	require.Equal(t, 0, setup.code, "%s", setup)
	res := proc(t, t.TempDir(), env, "--sandbox", "--bucket", "my-new-bucket", "aws", "run", "t3.micro", "train.py",
		"--code-dir", trainingDir(t), "--", "--epochs", "1")
	assert.Equal(t, 0, res.code, "%s", res)
	assertNothingRunning(t, dir)
}

// TestExitCodeTrainWithMissingBucket: train on an existing instance names a
// bucket that does not exist. That is a configuration problem with a fix,
// not an internal error.
func TestExitCodeTrainWithMissingBucket(t *testing.T) {
	t.Parallel()
	dir := sandboxDir(t)
	env := procEnv(t, dir)
	created := proc(t, t.TempDir(), env, "--sandbox", "--output", "instance-id", "aws", "create", "t3.micro")
	require.Equal(t, 0, created.code, "%s", created)
	id := created.stdout[:len(created.stdout)-1]
	defer proc(t, t.TempDir(), env, "--sandbox", "aws", "terminate", id)

	res := proc(t, t.TempDir(), env, "--sandbox", "--bucket", "no-such-bucket", "aws", "train", id, "train.py",
		"--code-dir", trainingDir(t))
	assert.Equal(t, exitConfig, res.code, "%s", res)
	assert.Contains(t, res.stderr, "runctl aws setup --bucket no-such-bucket")
}

// TestSpotCapacityFallsBackWithCostWarning: with no spot capacity the create
// falls back to on-demand within seconds, and the warning names both prices
// and their ratio.
func TestSpotCapacityFallsBackWithCostWarning(t *testing.T) {
	t.Parallel()
	dir := sandboxDir(t)
	env := procEnv(t, dir, "RUNCTL_SANDBOX_FAULTS=spot-capacity")
	res := proc(t, t.TempDir(), env, "--sandbox", "--output", "instance-id", "aws", "create", "t3.micro", "--spot")
	require.Equal(t, 0, res.code, "%s", res)
	assert.Less(t, res.took, 10*time.Second, "the fallback takes seconds, not the spot timeout")
	assert.Regexp(t, `^i-[0-9a-f]{8,17}\n$`, res.stdout, "stdout stays the ID alone")

	m := regexp.MustCompile(`(?m)^COST WARNING: .*on-demand at \$(\d+\.\d+)/h instead of spot at \$(\d+\.\d+)/h, ` +
		`about (\d+\.\d)x more`).FindStringSubmatch(res.stderr)
	require.NotNil(t, m, "a cost warning with both prices and the ratio:\n%s", res.stderr)
	onDemand, spot, ratio := parseFloat(t, m[1]), parseFloat(t, m[2]), parseFloat(t, m[3])
	assert.Greater(t, onDemand, spot)
	assert.InDelta(t, onDemand/spot, ratio, 0.051, "the ratio is on-demand over spot")
	assert.Regexp(t, `(?m)^launched i-\w+: on-demand t3\.micro`, res.stderr)

	id := res.stdout[:len(res.stdout)-1]
	term := proc(t, t.TempDir(), env, "--sandbox", "aws", "terminate", id)
	assert.Equal(t, 0, term.code, "%s", term)
	assertNothingRunning(t, dir)
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return f
}

// TestSpotInterruptionExitCode: AWS reclaims the spot instance during the
// job; the script checkpoints on SIGTERM and runctl exits 243.
func TestSpotInterruptionExitCode(t *testing.T) {
	t.Parallel()
	dir := sandboxDir(t)
	env := procEnv(t, dir, "RUNCTL_SANDBOX_FAULTS=interrupt-after=1500ms,interrupt-window=2s")
	res := proc(t, t.TempDir(), env, "--sandbox", "aws", "run", "t3.micro", "train.py", "--code-dir",
		trainingDir(t), "--spot", "--", "--epochs", "50", "--sleep-per-epoch", "0.5")
	assert.Equal(t, exitInterrupted, res.code, "%s", res)
	assert.Regexp(t, `(?m)^received SIGTERM: checkpoint saved at epoch \d+$`, res.stderr)
	assert.Regexp(t, `(?m)^result: job \S+ interrupted by a spot reclaim`, res.stdout)
	assert.NotRegexp(t, `epoch 50/50`, res.stderr, "the job did not run to its end")
	assertNothingRunning(t, dir)
}

// TestCtrlCTerminatesTheRun sends SIGINT to aws run once the job started:
// runctl exits 130 and leaves nothing running.
func TestCtrlCTerminatesTheRun(t *testing.T) {
	t.Parallel()
	dir := sandboxDir(t)
	env := procEnv(t, dir)
	res := interrupt(t, env, "epoch 1/100", "--sandbox", "aws", "run", "t3.micro", "train.py", "--code-dir",
		trainingDir(t), "--", "--epochs", "100", "--sleep-per-epoch", "0.5")

	assert.Equal(t, exitCancelled, res.code, "%s", res)
	assert.Less(t, res.took, 10*time.Second, "Ctrl-C ends the run promptly")
	assert.Regexp(t, `(?m)^terminated i-\w+$`, res.stderr)
	assert.Contains(t, res.stderr, "runctl: interrupted; terminating what this command launched",
		"the first Ctrl-C says what happens next")
	assert.NotContains(t, res.stdout, "follow it with", "a cancelled job is not reported as running")

	list := proc(t, t.TempDir(), env, "--sandbox", "aws", "list")
	assert.Equal(t, 0, list.code, "%s", list)
	assert.Equal(t, "no runctl instances are running\n", list.stdout)
	assertNothingRunning(t, dir)
}

// TestCtrlCDuringCreate: Ctrl-C while create waits for the instance ends
// the instance it launched.
func TestCtrlCDuringCreate(t *testing.T) {
	t.Parallel()
	dir := sandboxDir(t)
	env := procEnv(t, dir, "RUNCTL_SANDBOX_FAULTS=boot-delay=20s")
	res := interrupt(t, env, "launched i-", "--sandbox", "--output", "instance-id", "aws", "create", "t3.micro")

	assert.Equal(t, exitCancelled, res.code, "%s", res)
	assert.Empty(t, res.stdout, "no ID for an instance that is gone")
	assert.Regexp(t, `(?m)^terminated i-\w+`, res.stderr)
	assertNothingRunning(t, dir)
}

// interrupt starts runctl, sends it SIGINT once stderr shows a line holding
// when, and waits for it to end. took is measured from the signal.
func interrupt(t *testing.T, env []string, when string, args ...string) result {
	t.Helper()
	errs, outs := watch(when), watch("")
	cmd := exec.Command(runctlBin(t), args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = t.TempDir(), env, outs, errs
	require.NoError(t, cmd.Start())

	select {
	case <-errs.found:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("no line with %q on stderr:\n%s", when, errs)
	}
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	start := time.Now()
	_ = cmd.Wait()
	return result{cmd.ProcessState.ExitCode(), outs.String(), errs.String(), time.Since(start)}
}

// TestTerminateRefusesUnmanagedInstance: an instance runctl did not launch
// is left alone unless --force.
func TestTerminateRefusesUnmanagedInstance(t *testing.T) {
	t.Parallel()
	dir := sandboxDir(t)
	id := launchUntagged(t, dir)
	env := procEnv(t, dir)

	res := proc(t, t.TempDir(), env, "--sandbox", "aws", "terminate", id)
	assert.Equal(t, exitConfig, res.code, "%s", res)
	assert.Contains(t, res.stderr, "--force")
	assert.Contains(t, inspect(t, dir).live(t), id+" running", "the instance is untouched")

	res = proc(t, t.TempDir(), env, "--sandbox", "aws", "terminate", id, "--force")
	assert.Equal(t, exitOK, res.code, "%s", res)
	assert.Regexp(t, `(?m)^terminated `+id+`$`, res.stderr)
	assertNothingRunning(t, dir)
}

// launchUntagged starts an instance with the raw SDK, as another tool
// would: no runctl tags.
func launchUntagged(t *testing.T, dir string) string {
	t.Helper()
	in := inspect(t, dir)
	ctx := context.Background()
	param, err := in.ssm().GetParameter(ctx, &ssm.GetParameterInput{
		Name: aws.String("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")})
	require.NoError(t, err)
	out, err := in.ec2().RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: param.Parameter.Value, InstanceType: ec2types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	require.NoError(t, err)
	id := aws.ToString(out.Instances[0].InstanceId)
	require.Eventually(t, func() bool {
		i, err := in.srv.Instance(id)
		return err == nil && i.State == "running"
	}, 5*time.Second, 50*time.Millisecond)
	return id
}

// TestSandboxRunHasNoPreflightWarnings: the newcomer's first run in the
// sandbox should not warn about a check the sandbox cannot answer.
func TestSandboxRunHasNoPreflightWarnings(t *testing.T) {
	t.Parallel()
	dir := sandboxDir(t)
	res := proc(t, t.TempDir(), procEnv(t, dir), "--sandbox", "aws", "run", "t3.micro", "train.py",
		"--code-dir", trainingDir(t), "--", "--epochs", "1")
	require.Equal(t, 0, res.code, "%s", res)
	assert.NotContains(t, res.stderr, "warning")
}

// TestSandboxServe runs `runctl sandbox serve` and a second runctl that
// reaches it through the printed AWS_ENDPOINT_URL, without --sandbox.
func TestSandboxServe(t *testing.T) {
	t.Parallel()
	dir := sandboxDir(t)
	env := procEnv(t, dir)
	out := watch("AWS_EC2_METADATA_DISABLED=true\n")
	serve := exec.Command(runctlBin(t), "sandbox", "serve")
	serve.Dir, serve.Env, serve.Stdout, serve.Stderr = t.TempDir(), env, out, io.Discard
	require.NoError(t, serve.Start())
	t.Cleanup(func() { _ = serve.Process.Kill() })
	select {
	case <-out.found:
	case <-time.After(10 * time.Second):
		t.Fatalf("sandbox serve printed no environment:\n%s", out)
	}

	exports := regexp.MustCompile(`(?m)^  export (\w+=\S+)$`).FindAllStringSubmatch(out.String(), -1)
	require.NotEmpty(t, exports, "%s", out)
	for _, e := range exports {
		env = append(env, e[1])
	}
	res := proc(t, t.TempDir(), env, "--bucket", "runctl-sandbox", "aws", "run", "t3.micro", "train.py",
		"--code-dir", trainingDir(t), "--", "--epochs", "1")
	assert.Equal(t, 0, res.code, "%s", res)
	assert.Contains(t, res.stderr, "epoch 1/1 ")

	require.NoError(t, serve.Process.Signal(syscall.SIGINT))
	assert.NoError(t, serve.Wait(), "serve ends cleanly on Ctrl-C")
	assertNothingRunning(t, dir)
}

// TestStatusJSONNamesTheJobsScript: status --output json, from a process
// other than the one that started the job, says which script ran with
// which arguments.
func TestStatusJSONNamesTheJobsScript(t *testing.T) {
	t.Parallel()
	dir := sandboxDir(t)
	env := procEnv(t, dir)
	created := proc(t, t.TempDir(), env, "--sandbox", "--output", "instance-id", "aws", "create", "t3.micro")
	require.Equal(t, 0, created.code, "%s", created)
	id := created.stdout[:len(created.stdout)-1]
	defer proc(t, t.TempDir(), env, "--sandbox", "aws", "terminate", id)
	trained := proc(t, t.TempDir(), env, "--sandbox", "aws", "train", id, "train.py", "--code-dir", trainingDir(t),
		"--", "--epochs", "1")
	require.Equal(t, 0, trained.code, "%s", trained)

	st := proc(t, t.TempDir(), env, "--sandbox", "--output", "json", "aws", "status", id)
	require.Equal(t, 0, st.code, "%s", st)
	var status struct {
		Job resultView `json:"job"`
	}
	oneJSON(t, st.stdout, &status)
	assert.Equal(t, "train.py", status.Job.Script)
	assert.Equal(t, []string{"--epochs", "1"}, status.Job.Args)
}
