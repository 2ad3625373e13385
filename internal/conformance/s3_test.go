package conformance

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// objectBody is what the S3 bodies store; its bytes include a newline and
// a non-ASCII character so nothing is lost in transit.
const objectBody = "runctl conformance: code.tar.gz stand-in ✓\n"

func TestS3(t *testing.T) {
	conform(t, []conformCase{
		{"PutHeadGetObject", testObjectRoundTrip},
		{"PresignedGet", testPresignedGet},
		{"ObjectNotFound", testObjectNotFound},
		{"BucketNotFound", testBucketNotFound},
		{"CreateBucketAgain", testCreateBucketAgain},
		{"ListBuckets", testListBuckets},
	})
}

func testObjectRoundTrip(t *testing.T, b *backend) {
	bucket := newBucket(t, b)
	_, err := b.s3.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	require.NoError(t, err)
	key := putObject(t, b, bucket)

	head, err := b.s3.HeadObject(t.Context(),
		&s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	require.NoError(t, err)
	assert.Equal(t, int64(len(objectBody)), aws.ToInt64(head.ContentLength))
	assert.NotEmpty(t, aws.ToString(head.ETag))

	got, err := b.s3.GetObject(t.Context(),
		&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	require.NoError(t, err)
	defer got.Body.Close()
	data, err := io.ReadAll(got.Body)
	require.NoError(t, err)
	assert.Equal(t, objectBody, string(data))
	assert.Equal(t, aws.ToString(head.ETag), aws.ToString(got.ETag))
}

// testPresignedGet fetches an object the way an instance fetches its code:
// a presigned URL and a plain HTTP GET with no credentials.
func testPresignedGet(t *testing.T, b *backend) {
	bucket := newBucket(t, b)
	key := putObject(t, b, bucket)
	req, err := s3.NewPresignClient(b.s3).PresignGetObject(t.Context(),
		&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
		s3.WithPresignExpires(time.Minute))
	require.NoError(t, err)
	require.Equal(t, http.MethodGet, req.Method)
	require.True(t, strings.HasPrefix(req.URL, b.url+"/"),
		"presigned URL %s is not on the backend", req.URL)

	resp, err := http.Get(req.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", data)
	assert.Equal(t, objectBody, string(data))
}

// testObjectNotFound checks the codes runctl tells apart: HEAD has no body,
// so its code is the bare NotFound; GET says NoSuchKey.
func testObjectNotFound(t *testing.T, b *backend) {
	bucket := newBucket(t, b)
	_, err := b.s3.HeadObject(t.Context(),
		&s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing")})
	code, status := apiError(t, err)
	assert.Equal(t, "NotFound", code)
	assert.Equal(t, 404, status)

	_, err = b.s3.GetObject(t.Context(),
		&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing")})
	code, status = apiError(t, err)
	assert.Equal(t, "NoSuchKey", code)
	assert.Equal(t, 404, status)
	var nsk *s3types.NoSuchKey
	assert.ErrorAs(t, err, &nsk)
}

func testBucketNotFound(t *testing.T, b *backend) {
	_, err := b.s3.HeadBucket(t.Context(),
		&s3.HeadBucketInput{Bucket: aws.String(unique("runctl-conf-missing"))})
	code, status := apiError(t, err)
	assert.Equal(t, "NotFound", code)
	assert.Equal(t, 404, status)
}

// testCreateBucketAgain creates a bucket the caller already owns, as
// runctl's preflight may: in us-east-1 S3 answers 200 for legacy reasons
// (other regions answer BucketAlreadyOwnedByYou).
func testCreateBucketAgain(t *testing.T, b *backend) {
	bucket := newBucket(t, b)
	_, err := b.s3.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	assert.NoError(t, err)
}

func testListBuckets(t *testing.T, b *backend) {
	bucket := newBucket(t, b)
	out, err := b.s3.ListBuckets(t.Context(), &s3.ListBucketsInput{})
	require.NoError(t, err)
	names := make([]string, 0, len(out.Buckets))
	for _, bk := range out.Buckets {
		names = append(names, aws.ToString(bk.Name))
		assert.NotNil(t, bk.CreationDate, "bucket %s", aws.ToString(bk.Name))
	}
	assert.True(t, slices.Contains(names, bucket), "%s not in %v", bucket, names)
}

// newBucket creates a uniquely named bucket in us-east-1, which takes no
// location constraint.
func newBucket(t *testing.T, b *backend) string {
	t.Helper()
	bucket := unique("runctl-conf")
	_, err := b.s3.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	require.NoError(t, err)
	return bucket
}

func putObject(t *testing.T, b *backend, bucket string) string {
	t.Helper()
	key := "code/" + unique("obj") + ".tar.gz"
	_, err := b.s3.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(objectBody),
	})
	require.NoError(t, err)
	return key
}
