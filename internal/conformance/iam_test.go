package conformance

import (
	"regexp"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl/sandbox"
)

const (
	// profileName exists in every sandbox; the body creates it in moto.
	profileName  = sandbox.DefaultInstanceProfile
	ssmPolicyArn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
	ec2TrustDoc  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
)

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

func TestIAM(t *testing.T) {
	conform(t, []conformCase{
		{"InstanceProfileWithSSMPolicy", testInstanceProfile},
		{"NoSuchEntity", testNoSuchEntity},
	})
}

func TestSTS(t *testing.T) {
	conform(t, []conformCase{
		{"GetCallerIdentity", testCallerIdentity},
	})
}

// testInstanceProfile reads what runctl's preflight reads: the profile, its
// role, and the SSM managed policy on that role.
func testInstanceProfile(t *testing.T, b *backend) {
	if ensureProfile(t, b) {
		attachSSMPolicy(t, b)
	}

	out, err := b.iam.GetInstanceProfile(t.Context(), &iam.GetInstanceProfileInput{
		InstanceProfileName: aws.String(profileName)})
	require.NoError(t, err)
	p := out.InstanceProfile
	assert.Equal(t, profileName, aws.ToString(p.InstanceProfileName))
	assert.Regexp(t, `^arn:aws:iam::[0-9]{12}:instance-profile/`+profileName+`$`,
		aws.ToString(p.Arn))
	require.Len(t, p.Roles, 1, "an instance profile holds one role")
	role := aws.ToString(p.Roles[0].RoleName)
	assert.Regexp(t, `^arn:aws:iam::[0-9]{12}:role/`+role+`$`, aws.ToString(p.Roles[0].Arn))

	pol, err := b.iam.ListAttachedRolePolicies(t.Context(), &iam.ListAttachedRolePoliciesInput{
		RoleName: aws.String(role)})
	require.NoError(t, err)
	var arns []string
	for _, ap := range pol.AttachedPolicies {
		arns = append(arns, aws.ToString(ap.PolicyArn))
	}
	assert.True(t, slices.Contains(arns, ssmPolicyArn), "%s not in %v", ssmPolicyArn, arns)
}

func testNoSuchEntity(t *testing.T, b *backend) {
	missing := unique("runctl-conf-missing")
	_, err := b.iam.GetInstanceProfile(t.Context(), &iam.GetInstanceProfileInput{
		InstanceProfileName: aws.String(missing)})
	code, status := apiError(t, err)
	assert.Equal(t, "NoSuchEntity", code)
	assert.Equal(t, 404, status)

	_, err = b.iam.ListAttachedRolePolicies(t.Context(), &iam.ListAttachedRolePoliciesInput{
		RoleName: aws.String(missing)})
	code, status = apiError(t, err)
	assert.Equal(t, "NoSuchEntity", code)
	assert.Equal(t, 404, status)
}

func testCallerIdentity(t *testing.T, b *backend) {
	out, err := b.sts.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	account := aws.ToString(out.Account)
	assert.Regexp(t, accountID, account)
	assertPrefix(t, aws.ToString(out.Arn), "arn:aws:")
	assert.Contains(t, aws.ToString(out.Arn), ":"+account+":")
	assert.NotEmpty(t, aws.ToString(out.UserId))
}

// ensureProfile creates profileName and its role where they are missing, and
// reports whether it could. The sandbox has runctl-ssm from the start. Every
// step tolerates a previous run having done it, since moto outlives a run.
func ensureProfile(t *testing.T, b *backend) bool {
	t.Helper()
	ctx := t.Context()
	_, err := b.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(profileName),
		AssumeRolePolicyDocument: aws.String(ec2TrustDoc)})
	if codeOf(err) == "InvalidAction" && b.name == sandboxName {
		return false
	}
	requireDoneBefore(t, err, "EntityAlreadyExists")

	_, err = b.iam.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{
		InstanceProfileName: aws.String(profileName)})
	requireDoneBefore(t, err, "EntityAlreadyExists")
	_, err = b.iam.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{
		InstanceProfileName: aws.String(profileName), RoleName: aws.String(profileName)})
	// A profile holds one role; adding it again exceeds that quota.
	requireDoneBefore(t, err, "LimitExceeded")
	return true
}

// attachSSMPolicy attaches the SSM managed policy to the profile's role;
// attaching it again changes nothing.
func attachSSMPolicy(t *testing.T, b *backend) {
	t.Helper()
	_, err := b.iam.AttachRolePolicy(t.Context(), &iam.AttachRolePolicyInput{
		RoleName: aws.String(profileName), PolicyArn: aws.String(ssmPolicyArn)})
	// Only a moto started without the managed policies shows this gap, so
	// it is reported only when seen.
	if codeOf(err) == "NoSuchEntity" {
		b.motoGap(t, "iam-managed-policies", true)
	}
	require.NoError(t, err)
}

// requireDoneBefore accepts success or the code that says an earlier run
// already made the change.
func requireDoneBefore(t *testing.T, err error, code string) {
	t.Helper()
	if err != nil && codeOf(err) != code {
		require.NoError(t, err)
	}
}
