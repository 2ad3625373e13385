package sandbox

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setupProfile does what `runctl aws setup` does for a new profile.
func setupProfile(t *testing.T, c clients, name string) {
	t.Helper()
	ctx := context.Background()
	_, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name),
		AssumeRolePolicyDocument: aws.String(ec2TrustDoc), Description: aws.String("test role")})
	require.NoError(t, err)
	_, err = c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name),
		PolicyArn: aws.String(ssmPolicyArn)})
	require.NoError(t, err)
	_, err = c.iam.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{
		InstanceProfileName: aws.String(name)})
	require.NoError(t, err)
	_, err = c.iam.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{
		InstanceProfileName: aws.String(name), RoleName: aws.String(name)})
	require.NoError(t, err)
}

func TestIAMWrites(t *testing.T) {
	dir := t.TempDir()
	c := newClients(start(t, Options{Dir: dir, Fast: true}), 1)
	ctx := context.Background()
	setupProfile(t, c, "trainer")

	// Another server on the directory sees what this one created.
	other := newClients(start(t, Options{Dir: dir, Fast: true}), 1)
	role, err := other.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("trainer")})
	require.NoError(t, err)
	raw := aws.ToString(role.Role.AssumeRolePolicyDocument)
	assert.NotEqual(t, ec2TrustDoc, raw, "IAM returns policy documents URL-encoded")
	doc, err := url.QueryUnescape(raw)
	require.NoError(t, err)
	assert.Equal(t, ec2TrustDoc, doc)
	assert.Regexp(t, `^AROA[A-Z0-9]{17}$`, aws.ToString(role.Role.RoleId))
	assert.Equal(t, "arn:aws:iam::123456789012:role/trainer", aws.ToString(role.Role.Arn))
	assert.Equal(t, "test role", aws.ToString(role.Role.Description))

	prof, err := other.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{
		InstanceProfileName: aws.String("trainer")})
	require.NoError(t, err)
	assert.Regexp(t, `^AIPA[A-Z0-9]{17}$`, aws.ToString(prof.InstanceProfile.InstanceProfileId))
	require.Len(t, prof.InstanceProfile.Roles, 1)
	assert.Equal(t, raw, aws.ToString(prof.InstanceProfile.Roles[0].AssumeRolePolicyDocument))

	pol, err := other.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{
		RoleName: aws.String("trainer")})
	require.NoError(t, err)
	require.Len(t, pol.AttachedPolicies, 1)
	assert.Equal(t, "AmazonSSMManagedInstanceCore", aws.ToString(pol.AttachedPolicies[0].PolicyName))
}

func TestIAMWriteErrors(t *testing.T) {
	c := newClients(start(t, Options{Fast: true}), 1)
	ctx := context.Background()
	setupProfile(t, c, "trainer")
	tests := []struct {
		name       string
		call       func() error
		wantCode   string
		wantStatus int
	}{
		{"role exists", func() error {
			_, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(DefaultInstanceProfile),
				AssumeRolePolicyDocument: aws.String(ec2TrustDoc)})
			return err
		}, "EntityAlreadyExists", 409},
		{"trust policy not JSON", func() error {
			_, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("bad"),
				AssumeRolePolicyDocument: aws.String("{nope")})
			return err
		}, "MalformedPolicyDocument", 400},
		{"profile exists", func() error {
			_, err := c.iam.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{
				InstanceProfileName: aws.String("trainer")})
			return err
		}, "EntityAlreadyExists", 409},
		{"profile holds one role", func() error {
			_, err := c.iam.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{
				InstanceProfileName: aws.String("trainer"), RoleName: aws.String(DefaultInstanceProfile)})
			return err
		}, "LimitExceeded", 409},
		{"role to missing profile", func() error {
			_, err := c.iam.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{
				InstanceProfileName: aws.String("nope"), RoleName: aws.String("trainer")})
			return err
		}, "NoSuchEntity", 404},
		{"attach to missing role", func() error {
			_, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("nope"),
				PolicyArn: aws.String(ssmPolicyArn)})
			return err
		}, "NoSuchEntity", 404},
		{"unknown managed policy", func() error {
			_, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("trainer"),
				PolicyArn: aws.String("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCor")})
			return err
		}, "NoSuchEntity", 404},
		{"malformed policy ARN", func() error {
			_, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("trainer"),
				PolicyArn: aws.String("AmazonSSMManagedInstanceCore")})
			return err
		}, "InvalidInput", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, status := apiCode(t, tt.call())
			assert.Equal(t, tt.wantCode, code)
			assert.Equal(t, tt.wantStatus, status)
		})
	}

	// Attaching a policy the role has changes nothing.
	_, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("trainer"),
		PolicyArn: aws.String(ssmPolicyArn)})
	require.NoError(t, err)
	pol, err := c.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{
		RoleName: aws.String("trainer")})
	require.NoError(t, err)
	assert.Len(t, pol.AttachedPolicies, 1)
}

// dryRun sends a dry-run launch of t3.micro with the named profile.
func dryRun(c clients, ami, profile string) error {
	in := runInputAMI(ami, "t3.micro", false)
	in.DryRun = aws.Bool(true)
	in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Name: aws.String(profile)}
	_, err := c.ec2.RunInstances(context.Background(), in)
	return err
}

func TestNewProfileReachesEC2AfterPropagation(t *testing.T) {
	srv := start(t, Options{Fast: true, Faults: Faults{IAMPropagation: 300 * time.Millisecond}})
	c := newClients(srv, 1)
	ami := imageFor(t, al2023x86)
	setupProfile(t, c, "trainer")

	err := dryRun(c, ami, "trainer")
	code, status := apiCode(t, err)
	assert.Equal(t, "InvalidParameterValue", code)
	assert.Equal(t, 400, status)
	assert.Contains(t, err.Error(), "Value (trainer) for parameter iamInstanceProfile.name is invalid. "+
		"Invalid IAM Instance Profile name")
	in := runInputAMI(ami, "t3.micro", false)
	in.IamInstanceProfile.Name = aws.String("trainer")
	_, err = c.ec2.RunInstances(context.Background(), in)
	code, _ = apiCode(t, err)
	assert.Equal(t, "InvalidParameterValue", code, "a real launch is refused too")

	waitFor(t, 2*time.Second, "profile visible to EC2", func() bool {
		code, _ := apiCode(t, dryRun(c, ami, "trainer"))
		return code == "DryRunOperation"
	})
	out, err := c.ec2.RunInstances(context.Background(), in)
	require.NoError(t, err)
	assert.Contains(t, aws.ToString(out.Instances[0].IamInstanceProfile.Arn), ":instance-profile/trainer")
}

func TestIAMPropagationDefaults(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"Fast has none", Options{Fast: true}, "DryRunOperation"},
		{"a second otherwise", Options{}, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClients(start(t, tt.o), 1)
			setupProfile(t, c, "trainer")
			code, _ := apiCode(t, dryRun(c, imageFor(t, al2023x86), "trainer"))
			assert.Equal(t, tt.want, code)
		})
	}
}

// TestDryRun checks that a dry run answers as the launch would, launching
// nothing: DryRunOperation (412) when valid, the launch's own error when
// not. Like EC2 it does not check capacity, price or quota.
func TestDryRun(t *testing.T) {
	srv := start(t, Options{Fast: true, Faults: Faults{SpotCapacity: true, OnDemandVCPUQuota: aws.Int(0)}})
	c := newClients(srv, 1)
	ami := imageFor(t, al2023x86)
	tests := []struct {
		name       string
		modify     func(*ec2.RunInstancesInput)
		wantCode   string
		wantStatus int
	}{
		{"valid", func(*ec2.RunInstancesInput) {}, "DryRunOperation", 412},
		{"capacity is not checked", func(in *ec2.RunInstancesInput) {
			in.InstanceMarketOptions = runInputAMI(ami, "t3.micro", true).InstanceMarketOptions
		}, "DryRunOperation", 412},
		{"unknown image", func(in *ec2.RunInstancesInput) { in.ImageId = aws.String("ami-0123456789abcdef0") },
			"InvalidAMIID.NotFound", 400},
		{"missing profile", func(in *ec2.RunInstancesInput) { in.IamInstanceProfile.Name = aws.String("nope") },
			"InvalidParameterValue", 400},
		{"bad type", func(in *ec2.RunInstancesInput) { in.InstanceType = "t3.microo" },
			"InvalidParameterValue", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := runInputAMI(ami, "t3.micro", false)
			in.DryRun = aws.Bool(true)
			tt.modify(in)
			_, err := c.ec2.RunInstances(context.Background(), in)
			code, status := apiCode(t, err)
			assert.Equal(t, tt.wantCode, code)
			assert.Equal(t, tt.wantStatus, status)
		})
	}
	all, err := srv.Instances()
	require.NoError(t, err)
	assert.Empty(t, all, "a dry run launches nothing")
}
