package runctl

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memIAM is an IAM that remembers what was created.
type memIAM struct {
	IAMAPI
	mu       sync.Mutex
	roles    map[string][]string // role -> attached policy names
	profiles map[string][]string // profile -> roles
	writes   []string
}

func newMemIAM() *memIAM {
	return &memIAM{roles: map[string][]string{}, profiles: map[string][]string{}}
}

func (m *memIAM) write(call string) {
	m.writes = append(m.writes, call)
}

func (m *memIAM) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.roles[aws.ToString(in.RoleName)]; !ok {
		return nil, apiErr("NoSuchEntity")
	}
	return &iam.GetRoleOutput{Role: &iamtypes.Role{RoleName: in.RoleName}}, nil
}

func (m *memIAM) CreateRole(_ context.Context, in *iam.CreateRoleInput, _ ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.write("CreateRole")
	m.roles[aws.ToString(in.RoleName)] = nil
	return &iam.CreateRoleOutput{}, nil
}

func (m *memIAM) AttachRolePolicy(_ context.Context, in *iam.AttachRolePolicyInput,
	_ ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.write("AttachRolePolicy")
	arn := aws.ToString(in.PolicyArn)
	m.roles[aws.ToString(in.RoleName)] = append(m.roles[aws.ToString(in.RoleName)], arn[len("arn:aws:iam::aws:policy/"):])
	return &iam.AttachRolePolicyOutput{}, nil
}

func (m *memIAM) ListAttachedRolePolicies(_ context.Context, in *iam.ListAttachedRolePoliciesInput,
	_ ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []iamtypes.AttachedPolicy
	for _, p := range m.roles[aws.ToString(in.RoleName)] {
		out = append(out, iamtypes.AttachedPolicy{PolicyName: aws.String(p)})
	}
	return &iam.ListAttachedRolePoliciesOutput{AttachedPolicies: out}, nil
}

func (m *memIAM) GetInstanceProfile(_ context.Context, in *iam.GetInstanceProfileInput,
	_ ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	roles, ok := m.profiles[aws.ToString(in.InstanceProfileName)]
	if !ok {
		return nil, apiErr("NoSuchEntity")
	}
	var out []iamtypes.Role
	for _, r := range roles {
		out = append(out, iamtypes.Role{RoleName: aws.String(r)})
	}
	return &iam.GetInstanceProfileOutput{InstanceProfile: &iamtypes.InstanceProfile{Roles: out}}, nil
}

func (m *memIAM) CreateInstanceProfile(_ context.Context, in *iam.CreateInstanceProfileInput,
	_ ...func(*iam.Options)) (*iam.CreateInstanceProfileOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.write("CreateInstanceProfile")
	m.profiles[aws.ToString(in.InstanceProfileName)] = nil
	return &iam.CreateInstanceProfileOutput{}, nil
}

func (m *memIAM) AddRoleToInstanceProfile(_ context.Context, in *iam.AddRoleToInstanceProfileInput,
	_ ...func(*iam.Options)) (*iam.AddRoleToInstanceProfileOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.write("AddRoleToInstanceProfile")
	name := aws.ToString(in.InstanceProfileName)
	m.profiles[name] = append(m.profiles[name], aws.ToString(in.RoleName))
	return &iam.AddRoleToInstanceProfileOutput{}, nil
}

// slowIAMEC2 rejects the new profile in dry runs a few times, as EC2 does
// while IAM propagates.
type slowIAMEC2 struct {
	*fakeEC2
	notYet int
	dry    int
}

func (f *slowIAMEC2) RunInstances(ctx context.Context, in *ec2.RunInstancesInput,
	opts ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	if !aws.ToBool(in.DryRun) {
		return f.fakeEC2.RunInstances(ctx, in, opts...)
	}
	f.dry++
	if f.dry <= f.notYet {
		return nil, &testAPIError{code: "InvalidParameterValue", msg: "Invalid IAM Instance Profile name"}
	}
	return nil, apiErr("DryRunOperation")
}

// bucketS3 records bucket creation and configuration.
type bucketS3 struct {
	fakeS3
	calls []string
}

func (b *bucketS3) HeadBucket(ctx context.Context, in *s3.HeadBucketInput,
	o ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return b.fakeS3.HeadBucket(ctx, in, o...)
}

func (b *bucketS3) CreateBucket(_ context.Context, in *s3.CreateBucketInput,
	_ ...func(*s3.Options)) (*s3.CreateBucketOutput, error) {
	b.calls = append(b.calls, "CreateBucket")
	b.buckets = append(b.buckets, aws.ToString(in.Bucket))
	return &s3.CreateBucketOutput{}, nil
}

func (b *bucketS3) PutPublicAccessBlock(context.Context, *s3.PutPublicAccessBlockInput,
	...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error) {
	b.calls = append(b.calls, "PutPublicAccessBlock")
	return &s3.PutPublicAccessBlockOutput{}, nil
}

func (b *bucketS3) PutBucketEncryption(context.Context, *s3.PutBucketEncryptionInput,
	...func(*s3.Options)) (*s3.PutBucketEncryptionOutput, error) {
	b.calls = append(b.calls, "PutBucketEncryption")
	return &s3.PutBucketEncryptionOutput{}, nil
}

func (b *bucketS3) PutBucketLifecycleConfiguration(_ context.Context, in *s3.PutBucketLifecycleConfigurationInput,
	_ ...func(*s3.Options)) (*s3.PutBucketLifecycleConfigurationOutput, error) {
	b.calls = append(b.calls, "PutBucketLifecycleConfiguration "+aws.ToString(in.LifecycleConfiguration.Rules[0].Filter.Prefix))
	return &s3.PutBucketLifecycleConfigurationOutput{}, nil
}

func TestSetupIsIdempotentAndWaitsForPropagation(t *testing.T) {
	mem := newMemIAM()
	ec := &slowIAMEC2{fakeEC2: newFakeEC2(), notYet: 3}
	s3f := &bucketS3{}
	env := newTestEnv(t, WithIAM(mem), WithEC2(ec), WithS3(s3f))
	ctx := context.Background()

	steps, err := env.c.Setup(ctx, SetupInput{Bucket: "my-runctl-bucket"})
	require.NoError(t, err)
	assert.Equal(t, []string{"CreateRole", "AttachRolePolicy", "CreateInstanceProfile", "AddRoleToInstanceProfile"}, mem.writes)
	assert.Equal(t, 4, ec.dry, "setup waits until EC2 accepts the new profile")
	actions := map[string]bool{}
	for _, s := range steps {
		actions[s.Resource+" "+s.Action] = true
	}
	assert.True(t, actions["instance profile runctl-ssm ready"], "%+v", steps)
	assert.Equal(t, []string{"CreateBucket", "PutPublicAccessBlock", "PutBucketEncryption",
		"PutBucketLifecycleConfiguration runctl/"}, s3f.calls)
	assert.NotEmpty(t, eventsOf[WaitProgress](env.rec), "the wait reports progress")

	writes, dry, bucketCalls := len(mem.writes), ec.dry, len(s3f.calls)
	steps, err = env.c.Setup(ctx, SetupInput{Bucket: "my-runctl-bucket"})
	require.NoError(t, err)
	assert.Len(t, mem.writes, writes, "a second run changes nothing")
	assert.Equal(t, dry, ec.dry)
	assert.Len(t, s3f.calls, bucketCalls)
	for _, s := range steps {
		assert.Equal(t, "exists", s.Action, s.Resource)
	}
}

func TestSetupGivesUpWhenPropagationNeverEnds(t *testing.T) {
	ec := &slowIAMEC2{fakeEC2: newFakeEC2(), notYet: 1 << 30}
	env := newTestEnv(t, WithIAM(newMemIAM()), WithEC2(ec))
	_, err := env.c.Setup(context.Background(), SetupInput{PropagationTimeout: time.Minute})
	require.ErrorIs(t, err, ErrTimeout)
	assert.Contains(t, err.Error(), "run 'runctl aws setup' again")
}
