package conformance

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// motoGaps are the ways moto 5 differs from AWS in calls runctl makes, by
// the name DIFFERENCES.md lists them under. A body that meets one skips on
// moto with its reason; the sandbox still runs it.
var motoGaps = map[string]string{
	"ec2-spot-request-id": "RunInstances with spot market options creates no spot request: " +
		"the instance has no SpotInstanceRequestId",
	"ec2-client-token": "RunInstances ignores ClientToken: the same token twice launches " +
		"two instances",
	"ec2-lifecycle-filter": "DescribeInstances with the instance-lifecycle filter fails " +
		"with HTTP 500",
	"ec2-malformed-id": "DescribeInstances answers InvalidInstanceID.NotFound for a " +
		"malformed ID, never InvalidInstanceID.Malformed",
	"ec2-terminate-terminated": "TerminateInstances of a terminated instance reports it " +
		"shutting-down again",
	"ec2-missing-profile": "RunInstances with an instance profile that does not exist " +
		"answers IAM's NoSuchEntity instead of EC2's InvalidParameterValue",
	"ec2-create-tags-missing": "CreateTags on an instance that does not exist succeeds",
	"ec2-spot-product": "DescribeSpotPriceHistory ignores ProductDescriptions and labels " +
		"every price Linux/UNIX (Amazon VPC)",
	"iam-managed-policies": "AWS managed policies exist only when moto_server starts with " +
		"MOTO_IAM_LOAD_MANAGED_POLICIES=true, so AttachRolePolicy of the SSM policy fails",
	"ssm-no-execution": "SendCommand runs nothing: every invocation is Success with " +
		"empty output",
	"ssm-command-status": "SendCommand answers Status Success, every target completed, " +
		"instead of Pending",
	"ssm-command-targets": "SendCommand with InstanceIds and no Targets targets every " +
		"instance in the region as well",
	"ssm-unknown-instance": "SendCommand to an instance that does not exist succeeds",
	"ssm-unknown-command": "GetCommandInvocation of an unknown command ID answers " +
		"InvalidCommandId, not InvocationDoesNotExist",
}

// TestDifferencesListed keeps DIFFERENCES.md and the moto skips in step:
// every gap a body can skip for has its row, and every row a gap.
func TestDifferencesListed(t *testing.T) {
	doc, err := os.ReadFile("DIFFERENCES.md")
	require.NoError(t, err)
	listed := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 2 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			listed[strings.Trim(strings.TrimSpace(cells[1]), "`")] = true
		}
	}
	for gap := range motoGaps {
		if !listed[gap] {
			t.Errorf("moto gap %q has no row in DIFFERENCES.md", gap)
		}
	}
	for gap := range listed {
		if _, ok := motoGaps[gap]; !ok {
			t.Errorf("DIFFERENCES.md lists %q, which no body skips for", gap)
		}
	}
}
