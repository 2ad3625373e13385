package runctl

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	sqtypes "github.com/aws/aws-sdk-go-v2/service/servicequotas/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSTS answers GetCallerIdentity, or fails with err.
type fakeSTS struct {
	STSAPI
	err error
}

func (f fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput,
	...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &sts.GetCallerIdentityOutput{Account: aws.String("123456789012"),
		Arn: aws.String("arn:aws:iam::123456789012:user/test")}, nil
}

// fakeIAM knows one instance profile, runctl-ssm, whose role may lack the
// SSM policy or the EC2 trust.
type fakeIAM struct {
	IAMAPI
	noPolicy bool
	noTrust  bool
}

func (f fakeIAM) GetInstanceProfile(_ context.Context, in *iam.GetInstanceProfileInput,
	_ ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error) {
	if aws.ToString(in.InstanceProfileName) != "runctl-ssm" {
		return nil, apiErr("NoSuchEntity")
	}
	service := "ec2.amazonaws.com"
	if f.noTrust {
		service = "lambda.amazonaws.com"
	}
	doc := url.QueryEscape(`{"Statement":[{"Effect":"Allow","Principal":{"Service":"` + service +
		`"},"Action":"sts:AssumeRole"}]}`)
	return &iam.GetInstanceProfileOutput{InstanceProfile: &iamtypes.InstanceProfile{
		InstanceProfileName: in.InstanceProfileName,
		Roles:               []iamtypes.Role{{RoleName: aws.String("runctl-ssm"), AssumeRolePolicyDocument: aws.String(doc)}},
	}}, nil
}

func (f fakeIAM) ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput,
	...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	if f.noPolicy {
		return &iam.ListAttachedRolePoliciesOutput{}, nil
	}
	return &iam.ListAttachedRolePoliciesOutput{AttachedPolicies: []iamtypes.AttachedPolicy{
		{PolicyName: aws.String(ssmPolicy)}}}, nil
}

// fakeS3 knows a set of buckets; PutObject fails when readOnly.
type fakeS3 struct {
	S3API
	buckets  []string
	readOnly bool
}

func (f fakeS3) HeadBucket(_ context.Context, in *s3.HeadBucketInput,
	_ ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	for _, b := range f.buckets {
		if b == aws.ToString(in.Bucket) {
			return &s3.HeadBucketOutput{}, nil
		}
	}
	return nil, apiErr("NotFound")
}

func (f fakeS3) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if f.readOnly {
		return nil, apiErr("AccessDenied")
	}
	return &s3.PutObjectOutput{}, nil
}

func (f fakeS3) ListBuckets(context.Context, *s3.ListBucketsInput,
	...func(*s3.Options)) (*s3.ListBucketsOutput, error) {
	var out []s3types.Bucket
	for _, b := range f.buckets {
		out = append(out, s3types.Bucket{Name: aws.String(b)})
	}
	return &s3.ListBucketsOutput{Buckets: out}, nil
}

// fakeQuotas reports vCPU quotas by name; err makes them unreadable.
type fakeQuotas struct {
	QuotasAPI
	values map[string]float64
	err    error
}

func (f fakeQuotas) ListServiceQuotas(context.Context, *servicequotas.ListServiceQuotasInput,
	...func(*servicequotas.Options)) (*servicequotas.ListServiceQuotasOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []sqtypes.ServiceQuota
	for name, v := range f.values {
		out = append(out, sqtypes.ServiceQuota{QuotaName: aws.String(name), Value: aws.Float64(v)})
	}
	return &servicequotas.ListServiceQuotasOutput{Quotas: out}, nil
}

func goodQuotas() fakeQuotas {
	return fakeQuotas{values: map[string]float64{
		"Running On-Demand G and VT instances":                             64,
		"All G and VT Spot Instance Requests":                              64,
		"Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances": 64,
		"All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests":  64,
	}}
}

func TestPreflightEachCheckFailingAlone(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "train.py"), []byte("print(1)\n"), 0o644))
	base := PreflightInput{InstanceType: "g4dn.xlarge", Spot: true, Fallback: true,
		InstanceProfile: "runctl-ssm", CodeDir: dir, Script: "train.py", NeedBucket: true}

	for _, tc := range []struct {
		name    string
		opts    []Option
		in      func(*PreflightInput)
		failed  string
		wantFix string
	}{
		{name: "credentials", opts: []Option{WithSTS(fakeSTS{err: apiErr("ExpiredToken")})},
			failed: "credentials", wantFix: "aws sso login"},
		{name: "type typo", in: func(in *PreflightInput) { in.InstanceType = "t3.mirco" },
			failed: "instance type", wantFix: "did you mean t3.micro?"},
		{name: "profile missing", in: func(in *PreflightInput) { in.InstanceProfile = "nope" },
			failed: "instance profile", wantFix: "runctl aws setup"},
		{name: "policy missing", opts: []Option{WithIAM(fakeIAM{noPolicy: true})},
			failed: "instance profile", wantFix: "attach-role-policy"},
		{name: "role does not trust EC2", opts: []Option{WithIAM(fakeIAM{noTrust: true})},
			failed: "instance profile", wantFix: "runctl aws setup"},
		{name: "no bucket", opts: []Option{WithBucket("")},
			failed: "bucket", wantFix: "--bucket my-runctl-artifacts"},
		{name: "bucket missing", opts: []Option{WithBucket("gone")},
			failed: "bucket", wantFix: "runctl aws setup --bucket gone"},
		{name: "bucket read-only", opts: []Option{WithS3(fakeS3{buckets: []string{"b"}, readOnly: true})},
			failed: "bucket", wantFix: "s3:PutObject"},
		{name: "script missing", in: func(in *PreflightInput) { in.Script = "nope.py" },
			failed: "script", wantFix: "--code-dir"},
		{name: "spot quota zero", opts: []Option{WithServiceQuotas(fakeQuotas{values: map[string]float64{
			"All G and VT Spot Instance Requests": 0, "Running On-Demand G and VT instances": 64}})},
			in: func(in *PreflightInput) { in.Fallback = false }, failed: "spot quota", wantFix: "Service Quotas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]Option{WithBucket("b")}, tc.opts...)
			env := newTestEnv(t, opts...)
			in := base
			if tc.in != nil {
				tc.in(&in)
			}
			err := env.c.Preflight(context.Background(), in).Err()
			var pe *PreflightError
			require.ErrorAs(t, err, &pe)
			require.Len(t, pe.Problems, 1, err.Error())
			assert.Equal(t, tc.failed, pe.Problems[0].Name)
			assert.Contains(t, pe.Problems[0].Fix, tc.wantFix)
		})
	}
}

func TestPreflightReportsEveryProblemTogether(t *testing.T) {
	env := newTestEnv(t, WithSTS(fakeSTS{err: apiErr("InvalidClientTokenId")}), WithBucket(""),
		WithIAM(fakeIAM{noPolicy: true}))
	err := env.c.Preflight(context.Background(), PreflightInput{InstanceType: "t3.mirco",
		InstanceProfile: "runctl-ssm", CodeDir: t.TempDir(), Script: "train.py", NeedBucket: true}).Err()
	var pe *PreflightError
	require.ErrorAs(t, err, &pe)
	var names []string
	for _, p := range pe.Problems {
		names = append(names, p.Name)
	}
	assert.ElementsMatch(t, []string{"credentials", "instance type", "instance profile", "bucket", "script"}, names)
	assert.True(t, strings.HasPrefix(err.Error(), "5 problem(s)"))
}

func TestCreateInstanceLaunchesNothingWhilePreflightFails(t *testing.T) {
	env := newTestEnv(t, WithIAM(fakeIAM{noPolicy: true}))
	_, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge", Spot(), WithInstanceProfile("runctl-ssm"))
	var pe *PreflightError
	require.ErrorAs(t, err, &pe)
	assert.Empty(t, env.ec2.Calls("RunInstances"))
}

func TestOnDemandQuotaBlockingTheFallbackIsNamed(t *testing.T) {
	env := newTestEnv(t, WithServiceQuotas(fakeQuotas{values: map[string]float64{
		"All G and VT Spot Instance Requests": 64, "Running On-Demand G and VT instances": 0}}))
	rep := env.c.Preflight(context.Background(), PreflightInput{InstanceType: "g4dn.xlarge", Spot: true, Fallback: true})
	require.NoError(t, rep.Err(), "spot may still work, so this is a warning")
	var warned bool
	for _, c := range rep.Checks {
		if c.Name == "on-demand quota" {
			warned = c.Status == CheckWarning && strings.Contains(c.Detail, "Running On-Demand G and VT instances")
		}
	}
	assert.True(t, warned, "%+v", rep.Checks)
}
