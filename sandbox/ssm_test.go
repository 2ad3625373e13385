package sandbox

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCommandLifecycle uses the default timings so each status is seen:
// InvocationDoesNotExist, Pending, InProgress, Success.
func TestCommandLifecycle(t *testing.T) {
	srv := start(t, Options{})
	c := newClients(srv, 1)
	ctx := context.Background()
	id := launch(t, srv, c, runInput(t, c, "t3.micro", false))

	sent, err := c.ssm.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds: []string{id}, Parameters: shell("sleep 0.5", "echo done")})
	require.NoError(t, err)
	assert.Equal(t, ssmtypes.CommandStatusPending, sent.Command.Status)
	get := &ssm.GetCommandInvocationInput{CommandId: sent.Command.CommandId, InstanceId: aws.String(id)}

	_, err = c.ssm.GetCommandInvocation(ctx, get)
	code, status := apiCode(t, err)
	assert.Equal(t, "InvocationDoesNotExist", code)
	assert.Equal(t, 400, status)

	seen := map[ssmtypes.CommandInvocationStatus]bool{}
	var out *ssm.GetCommandInvocationOutput
	waitFor(t, 5*time.Second, "success", func() bool {
		out, err = c.ssm.GetCommandInvocation(ctx, get)
		if err != nil {
			return false
		}
		seen[out.Status] = true
		if out.Status != ssmtypes.CommandInvocationStatusSuccess {
			assert.Empty(t, aws.ToString(out.StandardOutputContent), "output only at the end")
			assert.Equal(t, int32(-1), out.ResponseCode)
		}
		return out.Status == ssmtypes.CommandInvocationStatusSuccess
	})
	assert.True(t, seen[ssmtypes.CommandInvocationStatusPending], "saw Pending")
	assert.True(t, seen[ssmtypes.CommandInvocationStatusInProgress], "saw InProgress")
	assert.Equal(t, "done\n", aws.ToString(out.StandardOutputContent))
	assert.Equal(t, int32(0), out.ResponseCode)
	assert.NotEmpty(t, aws.ToString(out.ExecutionEndDateTime))

	// The SDK's own waiter works against it.
	w := ssm.NewCommandExecutedWaiter(c.ssm, func(o *ssm.CommandExecutedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 100*time.Millisecond
	})
	require.NoError(t, w.Wait(ctx, get, 2*time.Second))
}

func TestCommandResults(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	id := launch(t, srv, c, runInput(t, c, "t3.micro", false))
	inst, err := srv.Instance(id)
	require.NoError(t, err)

	tests := []struct {
		name       string
		params     map[string][]string
		wantStatus string
		wantCode   int32
		stdout     func(t *testing.T, s string)
		stderr     func(t *testing.T, s string)
	}{
		{name: "stdout truncated at 24000", params: shell("head -c 30000 /dev/zero | tr '\\0' x"),
			wantStatus: "Success", stdout: func(t *testing.T, s string) {
				assert.Len(t, s, 24000)
				assert.True(t, strings.HasSuffix(s, "x--output truncated--"))
			}},
		{name: "stdout just under the limit", params: shell("head -c 23999 /dev/zero | tr '\\0' x"),
			wantStatus: "Success", stdout: func(t *testing.T, s string) {
				assert.Equal(t, strings.Repeat("x", 23999), s)
			}},
		{name: "stdout at the limit counts as truncated", params: shell("head -c 24000 /dev/zero | tr '\\0' x"),
			wantStatus: "Success", stdout: func(t *testing.T, s string) {
				assert.Len(t, s, 24000)
				assert.True(t, strings.HasSuffix(s, "--output truncated--"))
			}},
		{name: "stderr truncated at 8000", params: shell("head -c 9000 /dev/zero | tr '\\0' y >&2; exit 3"),
			wantStatus: "Failed", wantCode: 3, stderr: func(t *testing.T, s string) {
				assert.Len(t, s, 8000)
				assert.True(t, strings.HasSuffix(s, "y--output truncated--"))
			}},
		{name: "commands joined by newlines", params: shell("A=1", "echo $A"),
			wantStatus: "Success", stdout: func(t *testing.T, s string) { assert.Equal(t, "1\n", s) }},
		{name: "execution timeout", params: map[string][]string{"commands": {"sleep 5"}, "executionTimeout": {"1"}},
			wantStatus: "TimedOut", wantCode: 137},
		{name: "environment", params: shell(`echo "$PWD|$HOME|$RUNCTL_HOME|$RUNCTL_DETACH|$PATH|$LANG|$AWS_EC2_METADATA_DISABLED"`),
			wantStatus: "Success", stdout: func(t *testing.T, s string) {
				want := strings.Join([]string{inst.Dir, inst.Dir + "/home", inst.Dir + "/runctl", "setsid",
					inst.Dir + "/.sandbox/bin:/usr/local/bin:/usr/bin:/bin", "C.UTF-8", "true"}, "|")
				assert.Equal(t, want+"\n", s)
			}},
		{name: "working directory", params: map[string][]string{"commands": {"pwd"}, "workingDirectory": {"/runctl"}},
			wantStatus: "Success", stdout: func(t *testing.T, s string) { assert.Equal(t, inst.Dir+"/runctl\n", s) }},
		{name: "missing working directory", params: map[string][]string{"commands": {"pwd"}, "workingDirectory": {"/nope"}},
			wantStatus: "Failed", wantCode: 1},
		{name: "systemd-run is refused", params: shell("systemd-run --unit x true"),
			wantStatus: "Failed", wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := run(t, c, id, tt.params)
			assert.Equal(t, tt.wantStatus, string(out.Status), "stderr: %s", aws.ToString(out.StandardErrorContent))
			assert.Equal(t, tt.wantCode, out.ResponseCode)
			if tt.stdout != nil {
				tt.stdout(t, aws.ToString(out.StandardOutputContent))
			}
			if tt.stderr != nil {
				tt.stderr(t, aws.ToString(out.StandardErrorContent))
			}
		})
	}
}

func TestSendCommandErrors(t *testing.T) {
	srv := start(t, Options{Fast: true, Faults: Faults{SSMNever: true}})
	c := newClients(srv, 1)
	ctx := context.Background()
	out, err := c.ec2.RunInstances(ctx, runInput(t, c, "t3.micro", false))
	require.NoError(t, err)
	id := aws.ToString(out.Instances[0].InstanceId)
	waitFor(t, time.Second, "running", func() bool {
		inst, err := srv.Instance(id)
		return err == nil && inst.State == "running"
	})

	info, err := c.ssm.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	require.NoError(t, err)
	assert.Empty(t, info.InstanceInformationList, "ssm-never: the agent never registers")

	tests := []struct {
		name string
		in   *ssm.SendCommandInput
		want string
	}{
		{"agent not online", &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
			InstanceIds: []string{id}, Parameters: shell("true")}, "InvalidInstanceId"},
		{"unknown instance", &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
			InstanceIds: []string{"i-0123456789abcdef0"}, Parameters: shell("true")}, "InvalidInstanceId"},
		{"unknown document", &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPowerShellScript"),
			InstanceIds: []string{id}, Parameters: shell("true")}, "InvalidDocument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ssm.SendCommand(ctx, tt.in)
			code, _ := apiCode(t, err)
			assert.Equal(t, tt.want, code)
		})
	}
	_, err = c.ssm.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
		CommandId: aws.String("00000000-0000-4000-8000-000000000000"), InstanceId: aws.String(id)})
	code, _ := apiCode(t, err)
	assert.Equal(t, "InvocationDoesNotExist", code)
}

func TestAgentOnlineAfterDelay(t *testing.T) {
	srv := start(t, Options{Fast: true, Faults: Faults{SSMDelay: 400 * time.Millisecond}})
	c := newClients(srv, 1)
	ctx := context.Background()
	out, err := c.ec2.RunInstances(ctx, runInput(t, c, "t3.micro", false))
	require.NoError(t, err)
	id := aws.ToString(out.Instances[0].InstanceId)
	filter := &ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
		{Key: aws.String("InstanceIds"), Values: []string{id}}}}

	info, err := c.ssm.DescribeInstanceInformation(ctx, filter)
	require.NoError(t, err)
	assert.Empty(t, info.InstanceInformationList)
	waitFor(t, 2*time.Second, "online", func() bool {
		info, err = c.ssm.DescribeInstanceInformation(ctx, filter)
		return err == nil && len(info.InstanceInformationList) == 1
	})
	assert.Equal(t, ssmtypes.PingStatusOnline, info.InstanceInformationList[0].PingStatus)
	assert.Equal(t, id, aws.ToString(info.InstanceInformationList[0].InstanceId))
}

func TestDetachedJobSurvivesCommandAndDiesWithTerminate(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	id := launch(t, srv, c, runInput(t, c, "t3.micro", false))

	out := run(t, c, id, shell("setsid nohup sleep 300 >/dev/null 2>&1 & echo $!"))
	require.Equal(t, "Success", string(out.Status))
	pid, err := strconv.Atoi(strings.TrimSpace(aws.ToString(out.StandardOutputContent)))
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	assert.True(t, processAlive(pid), "the job outlives its command")
	assert.Contains(t, srv.Processes(id), pid)

	_, err = c.ec2.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	assert.False(t, processAlive(pid), "terminate kills the job before it answers")
	assert.Empty(t, srv.Processes(id))
}

func TestPoweroffShimTerminatesInstance(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	id := launch(t, srv, c, runInput(t, c, "t3.micro", false))

	// Refuse to go on unless both names resolve to the shims, so a broken
	// PATH can never reach this machine's real shutdown.
	out := run(t, c, id, shell(
		`[ "$(command -v shutdown)" = "$PWD/.sandbox/bin/shutdown" ] || exit 99`,
		`[ "$(command -v sudo)" = "$PWD/.sandbox/bin/sudo" ] || exit 99`,
		"sudo -n shutdown -h now", "sleep 5"))
	// The shutdown may kill the command itself, as it would on EC2.
	require.NotEqual(t, int32(99), out.ResponseCode, "shims not first on PATH")
	waitFor(t, 2*time.Second, "terminated", func() bool {
		inst, err := srv.Instance(id)
		return err == nil && inst.State == "terminated"
	})
	inst, err := srv.Instance(id)
	require.NoError(t, err)
	assert.Equal(t, "Client.InstanceInitiatedShutdown", inst.StateReason)
}

func TestPublicParameters(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	ctx := context.Background()
	names := []string{
		"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
		"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
		"/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id",
	}
	out, err := c.ssm.GetParameters(ctx, &ssm.GetParametersInput{Names: append(names, "/nope")})
	require.NoError(t, err)
	require.Len(t, out.Parameters, 3)
	assert.Equal(t, []string{"/nope"}, out.InvalidParameters)
	for _, p := range out.Parameters {
		assert.Regexp(t, `^ami-[0-9a-f]{17}$`, aws.ToString(p.Value))
	}

	_, err = c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/aws/service/nope")})
	code, _ := apiCode(t, err)
	assert.Equal(t, "ParameterNotFound", code)
}
