package runctl

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ec2TrustPolicy lets EC2 instances assume the role.
const ec2TrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
	`"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// SetupInput says what [Client.Setup] should make sure exists.
type SetupInput struct {
	// InstanceProfile is the instance profile and role to create; empty
	// means "runctl-ssm".
	InstanceProfile string
	// Bucket, when set, is created if missing: private, encrypted, with
	// runctl's objects expiring after ExpireDays (default 30).
	Bucket     string
	ExpireDays int32
	// PropagationTimeout bounds the wait until EC2 accepts a newly created
	// instance profile; the default is three minutes.
	PropagationTimeout time.Duration
}

// SetupStep is one thing Setup found or did.
type SetupStep struct {
	Resource string `json:"resource"`
	Action   string `json:"action"` // "exists", "created", "attached", "configured", "ready"
	Detail   string `json:"detail,omitempty"`
}

// Setup creates what runctl needs in the account and is safe to run again:
// a second run finds everything in place and changes nothing. When it
// creates an instance profile it waits until EC2 accepts it, because a
// profile used the moment it is created can leave an instance's SSM agent
// offline for a long time.
func (c *Client) Setup(ctx context.Context, in SetupInput) ([]SetupStep, error) {
	if in.InstanceProfile == "" {
		in.InstanceProfile = "runctl-ssm"
	}
	var steps []SetupStep
	add := func(resource, action, detail string) {
		steps = append(steps, SetupStep{Resource: resource, Action: action, Detail: detail})
	}
	created, err := c.setupProfile(ctx, in.InstanceProfile, add)
	if err != nil {
		return steps, err
	}
	if created {
		if err := c.waitProfileUsable(ctx, in); err != nil {
			return steps, err
		}
		add("instance profile "+in.InstanceProfile, "ready", "EC2 accepts it")
	}
	if in.Bucket != "" {
		if err := c.setupBucket(ctx, in, add); err != nil {
			return steps, err
		}
	}
	return steps, nil
}

// setupProfile makes sure the role exists with the SSM policy and sits in
// an instance profile of the same name. It reports whether it created or
// changed anything.
func (c *Client) setupProfile(ctx context.Context, name string, add func(string, string, string)) (bool, error) {
	changed := false
	role := "role " + name
	if _, err := c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)}); err == nil {
		add(role, "exists", "")
	} else if !isNoSuchEntity(err) {
		return false, fmt.Errorf("reading role %s: %w", name, err)
	} else {
		_, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name),
			AssumeRolePolicyDocument: aws.String(ec2TrustPolicy),
			Description:              aws.String("runctl: lets SSM reach training instances")})
		if err != nil {
			return false, fmt.Errorf("creating role %s: %w", name, err)
		}
		add(role, "created", "trusted by ec2.amazonaws.com")
		changed = true
	}

	pols, err := c.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	if err != nil {
		return false, fmt.Errorf("listing policies of role %s: %w", name, err)
	}
	if hasPolicy(pols, ssmPolicy) {
		add(role, "exists", "has "+ssmPolicy)
	} else {
		_, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name),
			PolicyArn: aws.String("arn:aws:iam::aws:policy/" + ssmPolicy)})
		if err != nil {
			return false, fmt.Errorf("attaching %s to role %s: %w", ssmPolicy, name, err)
		}
		add(role, "attached", ssmPolicy)
		changed = true
	}

	profileChanged, err := c.setupInstanceProfile(ctx, name, add)
	return changed || profileChanged, err
}

func (c *Client) setupInstanceProfile(ctx context.Context, name string, add func(string, string, string)) (bool, error) {
	what := "instance profile " + name
	out, err := c.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	changed := false
	switch {
	case err == nil:
		add(what, "exists", "")
	case !isNoSuchEntity(err):
		return false, fmt.Errorf("reading instance profile %s: %w", name, err)
	default:
		if _, err := c.iam.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{
			InstanceProfileName: aws.String(name)}); err != nil {
			return false, fmt.Errorf("creating instance profile %s: %w", name, err)
		}
		add(what, "created", "")
		changed = true
	}
	if out != nil && out.InstanceProfile != nil {
		for _, r := range out.InstanceProfile.Roles {
			if aws.ToString(r.RoleName) == name {
				return changed, nil
			}
		}
	}
	if _, err := c.iam.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{
		InstanceProfileName: aws.String(name), RoleName: aws.String(name)}); err != nil {
		return false, fmt.Errorf("adding role %s to instance profile %s: %w", name, name, err)
	}
	add(what, "configured", "holds role "+name)
	return true, nil
}

// waitProfileUsable waits until EC2 accepts the profile in a dry-run launch.
// IAM changes take a while to reach EC2.
func (c *Client) waitProfileUsable(ctx context.Context, in SetupInput) error {
	limit := in.PropagationTimeout
	if limit <= 0 {
		limit = 3 * time.Minute
	}
	p := &launchPlan{itype: "t3.micro"}
	if err := c.resolveImage(ctx, p); err != nil {
		return fmt.Errorf("finding an image for the dry run: %w", err)
	}
	w := waitSpec{phase: PhaseSetup, id: in.InstanceProfile, deadline: c.opts.clock.Now().Add(limit), limit: limit,
		hint: "IAM has not reached EC2 yet; run 'runctl aws setup' again in a minute"}
	return c.wait(ctx, w, func(ctx context.Context) (string, bool, error) {
		_, err := c.ec2.RunInstances(ctx, &ec2.RunInstancesInput{
			DryRun: aws.Bool(true), ImageId: aws.String(p.ami), InstanceType: ec2types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String(in.InstanceProfile)},
		})
		ae := classify("RunInstances", err)
		switch {
		case ae != nil && ae.Code == "DryRunOperation":
			return "accepted", true, nil
		case ae != nil && ae.Code == "InvalidParameterValue":
			return "not yet visible to EC2", false, nil
		case err == nil:
			return "accepted", true, nil
		}
		return "", false, fmt.Errorf("dry-run launch with %s: %w", in.InstanceProfile, err)
	})
}

// setupBucket creates the bucket if needed and makes it private, encrypted
// and self-cleaning for runctl's objects.
func (c *Client) setupBucket(ctx context.Context, in SetupInput, add func(string, string, string)) error {
	name := aws.String(in.Bucket)
	what := "bucket " + in.Bucket
	if _, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: name}); err == nil {
		add(what, "exists", "left as it is")
		return nil
	}
	cb := &s3.CreateBucketInput{Bucket: name}
	if c.cfg.Region != "us-east-1" {
		cb.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{
			LocationConstraint: s3types.BucketLocationConstraint(c.cfg.Region)}
	}
	if _, err := c.s3.CreateBucket(ctx, cb); err != nil {
		return fmt.Errorf("creating bucket %s: %w", in.Bucket, err)
	}
	add(what, "created", c.cfg.Region)

	if _, err := c.s3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: name,
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true),
			BlockPublicPolicy: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)},
	}); err != nil {
		return fmt.Errorf("blocking public access to %s: %w", in.Bucket, err)
	}
	if _, err := c.s3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: name,
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
			Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{
				SSEAlgorithm: s3types.ServerSideEncryptionAes256}}}},
	}); err != nil {
		return fmt.Errorf("encrypting %s: %w", in.Bucket, err)
	}
	days := in.ExpireDays
	if days <= 0 {
		days = 30
	}
	if _, err := c.s3.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: name,
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{{
			ID: aws.String("runctl-expire"), Status: s3types.ExpirationStatusEnabled,
			Filter:     &s3types.LifecycleRuleFilter{Prefix: aws.String("runctl/")},
			Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(days)},
		}}},
	}); err != nil {
		return fmt.Errorf("setting the expiry rule on %s: %w", in.Bucket, err)
	}
	add(what, "configured", fmt.Sprintf("private, encrypted, runctl/ objects expire after %d days", days))
	return nil
}

func hasPolicy(out *iam.ListAttachedRolePoliciesOutput, name string) bool {
	for _, p := range out.AttachedPolicies {
		if aws.ToString(p.PolicyName) == name {
			return true
		}
	}
	return false
}

func isNoSuchEntity(err error) bool {
	ae := classify("", err)
	return ae != nil && ae.Code == "NoSuchEntity"
}
