package conformance

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	runShellScript = "AWS-RunShellScript"
	// agentLimit bounds the wait for a new instance's SSM agent to accept
	// commands; commandLimit the wait for a command to end.
	agentLimit   = 5 * time.Second
	commandLimit = 10 * time.Second
)

// commandID is the shape of an SSM command ID: a lower-case UUID.
var commandID = regexp.MustCompile(`^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$`)

func TestSSM(t *testing.T) {
	conform(t, []conformCase{
		{"GetParameterPublicAMI", testPublicAMIParameter},
		{"GetParameterNotFound", testParameterNotFound},
		{"SendCommandInvocation", testSendCommand},
		{"SendCommandOutput", testCommandOutput},
		{"SendCommandStartsPending", testCommandPending},
		{"SendCommandNamedInstancesOnly", testCommandTargets},
		{"SendCommandUnknownInstance", testCommandUnknownInstance},
		{"GetCommandInvocationUnknown", testInvocationUnknown},
	})
}

// testPublicAMIParameter resolves the parameter runctl resolves, and checks
// that the AMI it names is one the same backend can describe.
func testPublicAMIParameter(t *testing.T, b *backend) {
	out, err := b.ssm.GetParameter(t.Context(),
		&ssm.GetParameterInput{Name: aws.String(al2023Param)})
	require.NoError(t, err)
	p := out.Parameter
	assert.Equal(t, al2023Param, aws.ToString(p.Name))
	assert.Equal(t, ssmtypes.ParameterTypeString, p.Type)
	assert.Equal(t, "text", aws.ToString(p.DataType))
	assert.Regexp(t, `^ami-[0-9a-f]{8,17}$`, aws.ToString(p.Value))
	assert.Positive(t, p.Version)

	images, err := b.ec2.DescribeImages(t.Context(), &ec2.DescribeImagesInput{
		ImageIds: []string{aws.ToString(p.Value)}})
	require.NoError(t, err)
	require.Len(t, images.Images, 1)
	assert.Equal(t, ec2types.ArchitectureValuesX8664, images.Images[0].Architecture)
}

func testParameterNotFound(t *testing.T, b *backend) {
	_, err := b.ssm.GetParameter(t.Context(), &ssm.GetParameterInput{
		Name: aws.String("/runctl/conformance/" + unique("missing"))})
	code, status := apiError(t, err)
	assert.Equal(t, "ParameterNotFound", code)
	assert.Equal(t, 400, status)
	var pnf *ssmtypes.ParameterNotFound
	assert.ErrorAs(t, err, &pnf)
}

// testSendCommand checks the fields both backends fill: the command as
// SendCommand echoes it, and the invocation once it has ended.
func testSendCommand(t *testing.T, b *backend) {
	id := launchForCommands(t, b)
	cmd := sendCommand(t, b, id, "echo conformance")

	assert.Regexp(t, commandID, aws.ToString(cmd.CommandId))
	assert.Equal(t, runShellScript, aws.ToString(cmd.DocumentName))
	assert.Equal(t, []string{"echo conformance"}, cmd.Parameters["commands"])
	assert.Contains(t, cmd.InstanceIds, id)
	assert.NotNil(t, cmd.RequestedDateTime)

	inv := waitInvocation(t, b, aws.ToString(cmd.CommandId), id)
	assert.Equal(t, aws.ToString(cmd.CommandId), aws.ToString(inv.CommandId))
	assert.Equal(t, id, aws.ToString(inv.InstanceId))
	assert.Equal(t, runShellScript, aws.ToString(inv.DocumentName))
	assert.Equal(t, "aws:runShellScript", aws.ToString(inv.PluginName))
	assert.Equal(t, ssmtypes.CommandInvocationStatusSuccess, inv.Status)
	assert.Equal(t, "Success", aws.ToString(inv.StatusDetails))
	assert.Equal(t, int32(0), inv.ResponseCode)
}

// testCommandOutput checks what only an executing backend can give: the
// script's output and its exit code.
func testCommandOutput(t *testing.T, b *backend) {
	id := launchForCommands(t, b)
	cases := []struct {
		name, script, stdout, stderr string
		status                       ssmtypes.CommandInvocationStatus
		code                         int32
	}{
		{"success", "echo conformance", "conformance\n", "",
			ssmtypes.CommandInvocationStatusSuccess, 0},
		{"failure", "echo oops >&2; exit 3", "", "oops\n",
			ssmtypes.CommandInvocationStatusFailed, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := sendCommand(t, b, id, c.script)
			inv := waitInvocation(t, b, aws.ToString(cmd.CommandId), id)
			b.motoGap(t, "ssm-no-execution", aws.ToString(inv.StandardOutputContent) == "" &&
				aws.ToString(inv.StandardErrorContent) == "" &&
				inv.Status == ssmtypes.CommandInvocationStatusSuccess)
			assert.Equal(t, c.status, inv.Status)
			assert.Equal(t, c.code, inv.ResponseCode)
			assert.Equal(t, c.stdout, aws.ToString(inv.StandardOutputContent))
			assert.Equal(t, c.stderr, aws.ToString(inv.StandardErrorContent))
		})
	}
}

func testCommandPending(t *testing.T, b *backend) {
	id := launchForCommands(t, b)
	cmd := sendCommand(t, b, id, "echo conformance")
	b.motoGap(t, "ssm-command-status", cmd.Status == ssmtypes.CommandStatusSuccess)
	assert.Equal(t, ssmtypes.CommandStatusPending, cmd.Status)
	assert.Equal(t, int32(1), cmd.TargetCount)
	assert.Equal(t, int32(0), cmd.CompletedCount)
}

func testCommandTargets(t *testing.T, b *backend) {
	first := launchForCommands(t, b)
	launchForCommands(t, b)
	cmd := sendCommand(t, b, first, "true")
	b.motoGap(t, "ssm-command-targets", len(cmd.InstanceIds) > 1)
	assert.Equal(t, []string{first}, cmd.InstanceIds)
}

func testCommandUnknownInstance(t *testing.T, b *backend) {
	_, err := b.ssm.SendCommand(t.Context(), commandInput(missingInstance, "true"))
	b.motoGap(t, "ssm-unknown-instance", err == nil)
	code, status := apiError(t, err)
	assert.Equal(t, "InvalidInstanceId", code)
	assert.Equal(t, 400, status)
}

// testInvocationUnknown asks for a command no one sent. SSM cannot tell it
// from one sent a moment ago that it does not show yet, and answers alike.
func testInvocationUnknown(t *testing.T, b *backend) {
	id := launchForCommands(t, b)
	_, err := b.ssm.GetCommandInvocation(t.Context(), &ssm.GetCommandInvocationInput{
		CommandId: aws.String("0f2c2b8e-5b1d-4c1a-9a53-6c8c3e0e9d41"), InstanceId: aws.String(id)})
	code, status := apiError(t, err)
	b.motoGap(t, "ssm-unknown-command", code == "InvalidCommandId")
	assert.Equal(t, "InvocationDoesNotExist", code)
	assert.Equal(t, 400, status)
}

// launchForCommands launches an instance for SSM commands.
func launchForCommands(t *testing.T, b *backend) string {
	t.Helper()
	out := launch(t, b, runInput(t, b, unique("run")))
	return aws.ToString(out.Instances[0].InstanceId)
}

// sendCommand sends script to the instance. A new instance's agent takes a
// moment to register, and until it does SSM answers InvalidInstanceId; that
// is retried, as runctl does, for at most agentLimit.
func sendCommand(t *testing.T, b *backend, id, script string) *ssmtypes.Command {
	t.Helper()
	var out *ssm.SendCommandOutput
	eventually(t, agentLimit, "the SSM agent of "+id, func() (bool, string) {
		var err error
		out, err = b.ssm.SendCommand(t.Context(), commandInput(id, script))
		if codeOf(err) == "InvalidInstanceId" {
			return false, err.Error()
		}
		require.NoError(t, err)
		return true, ""
	})
	require.NotNil(t, out.Command)
	return out.Command
}

func commandInput(id, script string) *ssm.SendCommandInput {
	return &ssm.SendCommandInput{
		DocumentName: aws.String(runShellScript),
		InstanceIds:  []string{id},
		Parameters:   map[string][]string{"commands": {script}},
	}
}

// waitInvocation polls GetCommandInvocation until the command has ended.
// Right after SendCommand SSM may answer InvocationDoesNotExist; that is
// waited out too.
func waitInvocation(
	t *testing.T,
	b *backend,
	cmdID, id string,
) *ssm.GetCommandInvocationOutput {
	t.Helper()
	ended := []ssmtypes.CommandInvocationStatus{ssmtypes.CommandInvocationStatusSuccess,
		ssmtypes.CommandInvocationStatusFailed, ssmtypes.CommandInvocationStatusCancelled,
		ssmtypes.CommandInvocationStatusTimedOut}
	var out *ssm.GetCommandInvocationOutput
	eventually(t, commandLimit, "command "+cmdID, func() (bool, string) {
		var err error
		out, err = b.ssm.GetCommandInvocation(t.Context(), &ssm.GetCommandInvocationInput{
			CommandId: aws.String(cmdID), InstanceId: aws.String(id)})
		if codeOf(err) == "InvocationDoesNotExist" {
			return false, err.Error()
		}
		require.NoError(t, err)
		return slices.Contains(ended, out.Status), string(out.Status)
	})
	return out
}
