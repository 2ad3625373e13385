package sandbox

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bucketConfigs are the three configurations runctl's setup writes.
var (
	blockAll = &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true),
		IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true),
		RestrictPublicBuckets: aws.Bool(true)}
	kmsDefault = &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
		ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{
			SSEAlgorithm: s3types.ServerSideEncryptionAwsKms}}}}
	expireRunctl = &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{{
		ID: aws.String("runctl-expire"), Status: s3types.ExpirationStatusEnabled,
		Filter:     &s3types.LifecycleRuleFilter{Prefix: aws.String("runctl/")},
		Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(30)}}}}
)

func TestBucketConfiguration(t *testing.T) {
	dir := t.TempDir()
	c := newClients(start(t, Options{Dir: dir, Fast: true}), 1)
	ctx := context.Background()
	bucket := aws.String("configured")
	_, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket})
	require.NoError(t, err)

	// Before: no block, no lifecycle, and S3's default encryption.
	_, err = c.s3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: bucket})
	code, status := apiCode(t, err)
	assert.Equal(t, "NoSuchPublicAccessBlockConfiguration", code)
	assert.Equal(t, 404, status)
	_, err = c.s3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: bucket})
	code, _ = apiCode(t, err)
	assert.Equal(t, "NoSuchLifecycleConfiguration", code)
	enc, err := c.s3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: bucket})
	require.NoError(t, err)
	assert.Equal(t, s3types.ServerSideEncryptionAes256,
		enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm)

	_, err = c.s3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: bucket,
		PublicAccessBlockConfiguration: blockAll})
	require.NoError(t, err)
	_, err = c.s3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: bucket,
		ServerSideEncryptionConfiguration: kmsDefault})
	require.NoError(t, err)
	_, err = c.s3.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket: bucket, LifecycleConfiguration: expireRunctl})
	require.NoError(t, err)

	// After: every process on the directory reads them back.
	other := newClients(start(t, Options{Dir: dir, Fast: true}), 1)
	pab, err := other.s3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: bucket})
	require.NoError(t, err)
	assert.True(t, aws.ToBool(pab.PublicAccessBlockConfiguration.RestrictPublicBuckets))
	assert.True(t, aws.ToBool(pab.PublicAccessBlockConfiguration.BlockPublicAcls))
	enc, err = other.s3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: bucket})
	require.NoError(t, err)
	assert.Equal(t, s3types.ServerSideEncryptionAwsKms,
		enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm)
	lc, err := other.s3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: bucket})
	require.NoError(t, err)
	require.Len(t, lc.Rules, 1)
	assert.Equal(t, "runctl-expire", aws.ToString(lc.Rules[0].ID))
	assert.Equal(t, int32(30), aws.ToInt32(lc.Rules[0].Expiration.Days))
	assert.Equal(t, "runctl/", aws.ToString(lc.Rules[0].Filter.Prefix))

	list, err := other.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket})
	require.NoError(t, err)
	assert.Empty(t, list.Contents, "configuration is not an object")

	_, err = other.s3.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: bucket})
	require.NoError(t, err)
	_, err = c.s3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: bucket})
	code, _ = apiCode(t, err)
	assert.Equal(t, "NoSuchPublicAccessBlockConfiguration", code)
}

func TestBucketConfigurationErrors(t *testing.T) {
	c := newClients(start(t, Options{Fast: true}), 1)
	ctx := context.Background()
	bucket := aws.String(DefaultBucket)
	tests := []struct {
		name     string
		call     func() error
		wantCode string
	}{
		{"missing bucket", func() error {
			_, err := c.s3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
				Bucket: aws.String("nope"), PublicAccessBlockConfiguration: blockAll})
			return err
		}, "NoSuchBucket"},
		{"lifecycle rule without action", func() error {
			_, err := c.s3.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
				Bucket: bucket, LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{
					Rules: []s3types.LifecycleRule{{Status: s3types.ExpirationStatusEnabled,
						Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("x/")}}}}})
			return err
		}, "InvalidRequest"},
		{"lifecycle expiring after zero days", func() error {
			_, err := c.s3.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
				Bucket: bucket, LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{
					Rules: []s3types.LifecycleRule{{Status: s3types.ExpirationStatusEnabled,
						Filter:     &s3types.LifecycleRuleFilter{Prefix: aws.String("x/")},
						Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(0)}}}}})
			return err
		}, "InvalidArgument"},
		{"unknown encryption", func() error {
			_, err := c.s3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: bucket,
				ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
					Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{
						SSEAlgorithm: "ROT13"}}}}})
			return err
		}, "MalformedXML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _ := apiCode(t, tt.call())
			assert.Equal(t, tt.wantCode, code)
		})
	}
}

// TestCreateBucketAgain creates a bucket twice: us-east-1 answers 200 for
// legacy reasons, other regions BucketAlreadyOwnedByYou. The location
// constraint must name the region, except in us-east-1, which takes none.
func TestCreateBucketAgain(t *testing.T) {
	tests := []struct {
		name       string
		region     string
		constraint string
		wantCode   string // of the second create; empty for success
		firstCode  string
	}{
		{name: "us-east-1 answers 200", region: "us-east-1"},
		{name: "other regions refuse", region: "eu-west-1", constraint: "eu-west-1",
			wantCode: "BucketAlreadyOwnedByYou"},
		{name: "constraint missing outside us-east-1", region: "eu-west-1",
			firstCode: "IllegalLocationConstraintException"},
		{name: "constraint of another region", region: "eu-west-1", constraint: "eu-central-1",
			firstCode: "IllegalLocationConstraintException"},
		{name: "us-east-1 named as constraint", region: "us-east-1", constraint: "us-east-1",
			firstCode: "InvalidLocationConstraint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClients(start(t, Options{Fast: true, Region: tt.region}), 1)
			in := &s3.CreateBucketInput{Bucket: aws.String("twice")}
			if tt.constraint != "" {
				in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{
					LocationConstraint: s3types.BucketLocationConstraint(tt.constraint)}
			}
			_, err := c.s3.CreateBucket(context.Background(), in)
			if tt.firstCode != "" {
				code, status := apiCode(t, err)
				assert.Equal(t, tt.firstCode, code)
				assert.Equal(t, 400, status)
				return
			}
			require.NoError(t, err)
			_, err = c.s3.CreateBucket(context.Background(), in)
			if tt.wantCode == "" {
				assert.NoError(t, err)
				return
			}
			code, status := apiCode(t, err)
			assert.Equal(t, tt.wantCode, code)
			assert.Equal(t, 409, status)
		})
	}
}
