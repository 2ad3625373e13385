package runctl

import (
	"context"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// EC2API is the part of the EC2 API that runctl calls. *ec2.Client
// satisfies it; tests may pass their own implementation with [WithEC2].
type EC2API interface {
	RunInstances(ctx context.Context, in *ec2.RunInstancesInput,
		optFns ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput,
		optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput,
		optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput,
		optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeInstanceTypes(ctx context.Context, in *ec2.DescribeInstanceTypesInput,
		optFns ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error)
	DescribeSpotPriceHistory(ctx context.Context, in *ec2.DescribeSpotPriceHistoryInput,
		optFns ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error)
	DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput,
		optFns ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
}

// SSMAPI is the part of the Systems Manager API that runctl calls.
// *ssm.Client satisfies it.
type SSMAPI interface {
	SendCommand(ctx context.Context, in *ssm.SendCommandInput,
		optFns ...func(*ssm.Options)) (*ssm.SendCommandOutput, error)
	GetCommandInvocation(ctx context.Context, in *ssm.GetCommandInvocationInput,
		optFns ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error)
	DescribeInstanceInformation(ctx context.Context, in *ssm.DescribeInstanceInformationInput,
		optFns ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error)
	GetParameter(ctx context.Context, in *ssm.GetParameterInput,
		optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// S3API is the part of the S3 API that runctl calls. *s3.Client satisfies it.
type S3API interface {
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput,
		optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput,
		optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput,
		optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	ListBuckets(ctx context.Context, in *s3.ListBucketsInput,
		optFns ...func(*s3.Options)) (*s3.ListBucketsOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input,
		optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	CreateBucket(ctx context.Context, in *s3.CreateBucketInput,
		optFns ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
	PutPublicAccessBlock(ctx context.Context, in *s3.PutPublicAccessBlockInput,
		optFns ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error)
	PutBucketEncryption(ctx context.Context, in *s3.PutBucketEncryptionInput,
		optFns ...func(*s3.Options)) (*s3.PutBucketEncryptionOutput, error)
	PutBucketLifecycleConfiguration(ctx context.Context, in *s3.PutBucketLifecycleConfigurationInput,
		optFns ...func(*s3.Options)) (*s3.PutBucketLifecycleConfigurationOutput, error)
}

// S3PresignAPI presigns the GET through which an instance fetches its code,
// so the instance role needs no S3 permission. *s3.PresignClient satisfies
// it. When the S3 client given to [WithS3] is an *s3.Client, runctl builds
// the presigner from it.
type S3PresignAPI interface {
	PresignGetObject(ctx context.Context, in *s3.GetObjectInput,
		optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
	PresignPutObject(ctx context.Context, in *s3.PutObjectInput,
		optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// IAMAPI is the part of the IAM API that runctl calls. *iam.Client
// satisfies it.
type IAMAPI interface {
	GetInstanceProfile(ctx context.Context, in *iam.GetInstanceProfileInput,
		optFns ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput,
		optFns ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	GetRole(ctx context.Context, in *iam.GetRoleInput,
		optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateRole(ctx context.Context, in *iam.CreateRoleInput,
		optFns ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	AttachRolePolicy(ctx context.Context, in *iam.AttachRolePolicyInput,
		optFns ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
	CreateInstanceProfile(ctx context.Context, in *iam.CreateInstanceProfileInput,
		optFns ...func(*iam.Options)) (*iam.CreateInstanceProfileOutput, error)
	AddRoleToInstanceProfile(ctx context.Context, in *iam.AddRoleToInstanceProfileInput,
		optFns ...func(*iam.Options)) (*iam.AddRoleToInstanceProfileOutput, error)
}

// STSAPI is the part of the STS API that runctl calls. *sts.Client
// satisfies it.
type STSAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput,
		optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// QuotasAPI is the part of the Service Quotas API that runctl calls to
// read the account's vCPU quotas. *servicequotas.Client satisfies it.
type QuotasAPI interface {
	ListServiceQuotas(ctx context.Context, in *servicequotas.ListServiceQuotasInput,
		optFns ...func(*servicequotas.Options)) (*servicequotas.ListServiceQuotasOutput, error)
}

// PricingAPI is the part of the Price List API that runctl calls.
// *pricing.Client satisfies it.
type PricingAPI interface {
	GetProducts(ctx context.Context, in *pricing.GetProductsInput,
		optFns ...func(*pricing.Options)) (*pricing.GetProductsOutput, error)
}

// The real clients must keep fitting the interfaces unchanged.
var (
	_ EC2API       = (*ec2.Client)(nil)
	_ SSMAPI       = (*ssm.Client)(nil)
	_ S3API        = (*s3.Client)(nil)
	_ S3PresignAPI = (*s3.PresignClient)(nil)
	_ IAMAPI       = (*iam.Client)(nil)
	_ STSAPI       = (*sts.Client)(nil)
	_ PricingAPI   = (*pricing.Client)(nil)
	_ QuotasAPI    = (*servicequotas.Client)(nil)
)
