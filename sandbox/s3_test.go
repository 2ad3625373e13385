package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestS3PresignedGetWithCurl(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, Options{Dir: dir, Fast: true})
	c := newClients(srv, 1)
	ctx := context.Background()
	body := bytes.Repeat([]byte("runctl code tarball\n"), 5000)

	_, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(DefaultBucket)})
	require.NoError(t, err, "the default bucket exists")
	_, err = c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(DefaultBucket),
		Key: aws.String("code/abc.tar.gz"), Body: bytes.NewReader(body)})
	require.NoError(t, err)

	presigned, err := s3.NewPresignClient(c.s3).PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(DefaultBucket), Key: aws.String("code/abc.tar.gz")},
		s3.WithPresignExpires(5*time.Minute))
	require.NoError(t, err)
	got, err := exec.Command("curl", "-sSf", presigned.URL).Output()
	require.NoError(t, err)
	assert.Equal(t, body, got)

	// Objects are files: another server on the same directory serves them.
	other := newClients(start(t, Options{Dir: dir, Fast: true}), 1)
	obj, err := other.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(DefaultBucket),
		Key: aws.String("code/abc.tar.gz")})
	require.NoError(t, err)
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	assert.Equal(t, body, b)

	list, err := other.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(DefaultBucket),
		Prefix: aws.String("code/")})
	require.NoError(t, err)
	require.Len(t, list.Contents, 1)
	assert.Equal(t, int64(len(body)), aws.ToInt64(list.Contents[0].Size))
}

func TestS3ExpiredPresignedURL(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	ctx := context.Background()
	_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(DefaultBucket),
		Key: aws.String("k"), Body: strings.NewReader("v")})
	require.NoError(t, err)
	presigned, err := s3.NewPresignClient(c.s3).PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(DefaultBucket), Key: aws.String("k")}, s3.WithPresignExpires(time.Second))
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond)
	out, err := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", presigned.URL).Output()
	require.NoError(t, err)
	assert.Equal(t, "403", string(out))
}

// TestS3ChunkedUpload sends the aws-chunked framing the SDK uses for
// streamed bodies over TLS; it must be stored as the decoded content.
func TestS3ChunkedUpload(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	body := strings.Repeat("chunk", 2000)
	framed := fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
		6000, body[:6000], len(body)-6000, body[6000:])
	req, err := http.NewRequest(http.MethodPut, srv.URL()+"/"+DefaultBucket+"/streamed", strings.NewReader(framed))
	require.NoError(t, err)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "+
		"SignedHeaders=host, Signature=00")
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(body)))
	req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	obj, err := c.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(DefaultBucket),
		Key: aws.String("streamed")})
	require.NoError(t, err)
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	assert.Equal(t, body, string(b))
}

func TestChunkedReader(t *testing.T) {
	raw := "5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n"
	b, err := io.ReadAll(&chunkedReader{r: bufioReader(raw)})
	require.NoError(t, err)
	assert.Equal(t, "hello world", string(b))
}
