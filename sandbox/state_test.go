package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// helperEnv selects a helper mode of the test binary: one step of the
// create → train → terminate journey, each in its own process with its own
// embedded server over a shared state directory.
const helperEnv = "SANDBOX_TEST_HELPER"

func runHelper(mode string) int {
	srv, err := Start(context.Background(), Options{Dir: os.Getenv("SANDBOX_TEST_DIR"), Fast: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer srv.Close()
	out, err := helperStep(srv, mode, os.Getenv("SANDBOX_TEST_ID"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(out)
	return 0
}

func helperStep(srv *Server, mode, id string) (string, error) {
	c := newClients(srv, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch mode {
	case "create":
		p, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(al2023x86)})
		if err != nil {
			return "", err
		}
		out, err := c.ec2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: p.Parameter.Value,
			InstanceType: "t3.micro", MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Instances[0].InstanceId), nil
	case "train":
		return helperTrain(ctx, c, id)
	case "terminate":
		_, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		return "terminated", err
	}
	return "", fmt.Errorf("unknown helper mode %q", mode)
}

// helperTrain waits for the agent, starts a detached job and returns its pid.
func helperTrain(ctx context.Context, c clients, id string) (string, error) {
	for {
		info, err := c.ssm.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
		if err != nil {
			return "", err
		}
		if len(info.InstanceInformationList) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sent, err := c.ssm.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds: []string{id}, Parameters: shell("setsid nohup sleep 300 >/dev/null 2>&1 & echo $!")})
	if err != nil {
		return "", err
	}
	for {
		out, err := c.ssm.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
			CommandId: sent.Command.CommandId, InstanceId: aws.String(id)})
		if err == nil && out.Status == "Success" {
			return strings.TrimSpace(aws.ToString(out.StandardOutputContent)), nil
		}
		if err == nil && out.Status != "Pending" && out.Status != "InProgress" {
			return "", fmt.Errorf("command %s: %s", out.Status, aws.ToString(out.StandardErrorContent))
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func helperRun(t *testing.T, dir, mode, id string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "SANDBOX_TEST_DIR="+dir, "SANDBOX_TEST_ID="+id)
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "helper %s: %s", mode, stderr)
	return strings.TrimSpace(string(out))
}

// TestSeparateProcesses runs create, train and terminate each in its own
// process over one state directory: the detached job outlives the process
// that started it and dies with the terminate.
func TestSeparateProcesses(t *testing.T) {
	dir := t.TempDir()
	id := helperRun(t, dir, "create", "")
	require.Regexp(t, `^i-[0-9a-f]{17}$`, id)

	pid, err := strconv.Atoi(helperRun(t, dir, "train", id))
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	assert.True(t, processAlive(pid), "the detached job must outlive the train process")

	helperRun(t, dir, "terminate", id)
	assert.False(t, processAlive(pid), "terminate must kill the job")

	srv := start(t, Options{Dir: dir, Fast: true})
	inst, err := srv.Instance(id)
	require.NoError(t, err)
	assert.Equal(t, "terminated", inst.State)
}

// TestTwoServersShareState drives one instance through two servers on the
// same directory, as two processes would.
func TestTwoServersShareState(t *testing.T) {
	dir := t.TempDir()
	a := start(t, Options{Dir: dir, Fast: true})
	b := start(t, Options{Dir: dir, Fast: true})
	ca, cb := newClients(a, 1), newClients(b, 1)

	id := launch(t, a, ca, runInput(t, ca, "t3.micro", false))
	out := run(t, cb, id, shell("echo hello from $RUNCTL_SANDBOX_INSTANCE"))
	assert.Equal(t, "Success", string(out.Status))
	assert.Equal(t, "hello from "+id+"\n", aws.ToString(out.StandardOutputContent))

	// A finished result is read back by the other server from disk.
	got, err := ca.ssm.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{
		CommandId: out.CommandId, InstanceId: aws.String(id)})
	require.NoError(t, err)
	assert.Equal(t, out.StandardOutputContent, got.StandardOutputContent)

	_, err = cb.ec2.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	d, err := ca.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	assert.Contains(t, []ec2types.InstanceStateName{"shutting-down", "terminated"},
		d.Reservations[0].Instances[0].State.Name)
}

func TestKillOnClose(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(context.Background(), Options{Dir: dir, Fast: true, KillOnClose: true})
	require.NoError(t, err)
	c := newClients(srv, 1)
	id := launch(t, srv, c, runInput(t, c, "t3.micro", false))
	out := run(t, c, id, shell("setsid nohup sleep 300 >/dev/null 2>&1 & echo $!"))
	pid, err := strconv.Atoi(strings.TrimSpace(aws.ToString(out.StandardOutputContent)))
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	require.True(t, processAlive(pid))

	require.NoError(t, srv.Close())
	assert.False(t, processAlive(pid), "KillOnClose must kill detached jobs")
	after := start(t, Options{Dir: dir, Fast: true})
	inst, err := after.Instance(id)
	require.NoError(t, err)
	assert.Equal(t, "terminated", inst.State)
}

// TestLiveCommandSeenByOtherServer reads a running command through a server
// that did not start it.
func TestLiveCommandSeenByOtherServer(t *testing.T) {
	dir := t.TempDir()
	a := start(t, Options{Dir: dir, Fast: true})
	b := start(t, Options{Dir: dir, Fast: true})
	ca, cb := newClients(a, 1), newClients(b, 1)
	ctx := context.Background()
	id := launch(t, a, ca, runInput(t, ca, "t3.micro", false))

	sent, err := cb.ssm.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds: []string{id}, Parameters: shell("sleep 1")})
	require.NoError(t, err)
	get := &ssm.GetCommandInvocationInput{CommandId: sent.Command.CommandId, InstanceId: aws.String(id)}
	waitFor(t, 2*time.Second, "in progress on the other server", func() bool {
		out, err := ca.ssm.GetCommandInvocation(ctx, get)
		return err == nil && out.Status == "InProgress"
	})
	waitFor(t, 3*time.Second, "success on the other server", func() bool {
		out, err := ca.ssm.GetCommandInvocation(ctx, get)
		return err == nil && out.Status == "Success"
	})
}

// TestEndpointFileFollowsLiveServer checks that the IMDS endpoint file is
// claimed by a starting server and taken back when that server goes.
func TestEndpointFileFollowsLiveServer(t *testing.T) {
	dir := t.TempDir()
	a := start(t, Options{Dir: dir, Fast: true})
	ca := newClients(a, 1)
	id := launch(t, a, ca, runInput(t, ca, "t3.micro", false))
	inst, err := a.Instance(id)
	require.NoError(t, err)
	endpoint := func() string {
		b, _ := os.ReadFile(inst.Dir + "/.sandbox/imds-endpoint")
		return strings.TrimSpace(string(b))
	}
	require.Equal(t, a.URL()+"/_imds/"+id, endpoint())

	b, err := Start(context.Background(), Options{Dir: dir, Fast: true})
	require.NoError(t, err)
	assert.Equal(t, b.URL()+"/_imds/"+id, endpoint(), "a starting server claims the file")
	require.NoError(t, b.Close())
	waitFor(t, 2*time.Second, "file back on the live server", func() bool {
		return endpoint() == a.URL()+"/_imds/"+id
	})
}

func TestLiveLeavesOutTerminatedInstances(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	ctx := context.Background()
	keep := launch(t, srv, c, runInput(t, c, "t3.micro", false))
	gone := launch(t, srv, c, runInput(t, c, "t3.micro", false))
	_, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{gone}})
	require.NoError(t, err)
	waitFor(t, 5*time.Second, "only the kept instance live", func() bool {
		live, err := srv.Live()
		return err == nil && len(live) == 1 && live[0].ID == keep
	})
	all, err := srv.Instances()
	require.NoError(t, err)
	assert.Len(t, all, 2, "Instances still lists the terminated one")
}
