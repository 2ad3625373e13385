package bench

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/runctl/runctl"
)

// Call is one AWS call a client made.
type Call struct {
	Op    string
	At    time.Time // when the call returned
	Bytes int64     // request body bytes, for PutObject
}

// Recorder keeps the calls made through the wrappers that share it. It is
// safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
}

func (r *Recorder) add(op string, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{Op: op, At: time.Now(), Bytes: bytes})
}

// Calls returns the calls that returned at or after since, oldest first.
func (r *Recorder) Calls(since time.Time) []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Call
	for _, c := range r.calls {
		if !c.At.Before(since) {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many of calls are op, or all of them when op is "".
func Count(calls []Call, op string) int {
	n := 0
	for _, c := range calls {
		if op == "" || c.Op == op {
			n++
		}
	}
	return n
}

// SumBytes adds up the request bytes of calls.
func SumBytes(calls []Call) int64 {
	var n int64
	for _, c := range calls {
		n += c.Bytes
	}
	return n
}

// countingSSM records the SSM calls a client makes. With latency set, a
// command reads as InProgress until that long after it was sent, as on AWS,
// where even a trivial command takes half a second to two seconds; the
// sandbox runs it in milliseconds.
type countingSSM struct {
	runctl.SSMAPI
	rec     *Recorder
	latency time.Duration

	mu   sync.Mutex
	sent map[string]time.Time
}

func newCountingSSM(api runctl.SSMAPI, rec *Recorder, latency time.Duration) *countingSSM {
	return &countingSSM{SSMAPI: api, rec: rec, latency: latency, sent: map[string]time.Time{}}
}

func (c *countingSSM) SendCommand(ctx context.Context, in *ssm.SendCommandInput,
	optFns ...func(*ssm.Options)) (*ssm.SendCommandOutput, error) {
	start := time.Now()
	out, err := c.SSMAPI.SendCommand(ctx, in, optFns...)
	c.rec.add("SendCommand", 0)
	if err == nil && out.Command != nil {
		c.mu.Lock()
		c.sent[aws.ToString(out.Command.CommandId)] = start
		c.mu.Unlock()
	}
	return out, err
}

func (c *countingSSM) GetCommandInvocation(ctx context.Context, in *ssm.GetCommandInvocationInput,
	optFns ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error) {
	out, err := c.SSMAPI.GetCommandInvocation(ctx, in, optFns...)
	c.rec.add("GetCommandInvocation", 0)
	if err != nil || c.latency <= 0 {
		return out, err
	}
	c.mu.Lock()
	sent, ok := c.sent[aws.ToString(in.CommandId)]
	c.mu.Unlock()
	if ok && time.Since(sent) < c.latency {
		held := *out
		held.Status = ssmtypes.CommandInvocationStatusInProgress
		held.StandardOutputContent, held.StandardErrorContent = nil, nil
		return &held, nil
	}
	return out, nil
}

func (c *countingSSM) DescribeInstanceInformation(ctx context.Context,
	in *ssm.DescribeInstanceInformationInput,
	optFns ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error) {
	out, err := c.SSMAPI.DescribeInstanceInformation(ctx, in, optFns...)
	c.rec.add("DescribeInstanceInformation", 0)
	return out, err
}

// countingEC2 records DescribeInstances calls, the polls of a launch wait.
type countingEC2 struct {
	runctl.EC2API
	rec *Recorder
}

func (c countingEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput,
	optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	out, err := c.EC2API.DescribeInstances(ctx, in, optFns...)
	c.rec.add("DescribeInstances", 0)
	return out, err
}

// countingS3 records the S3 calls of shipping code and the bytes it puts.
type countingS3 struct {
	runctl.S3API
	rec *Recorder
}

func (c countingS3) HeadBucket(ctx context.Context, in *s3.HeadBucketInput,
	optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	out, err := c.S3API.HeadBucket(ctx, in, optFns...)
	c.rec.add("HeadBucket", 0)
	return out, err
}

func (c countingS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput,
	optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	out, err := c.S3API.HeadObject(ctx, in, optFns...)
	c.rec.add("HeadObject", 0)
	return out, err
}

func (c countingS3) PutObject(ctx context.Context, in *s3.PutObjectInput,
	optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, err := c.S3API.PutObject(ctx, in, optFns...)
	c.rec.add("PutObject", aws.ToInt64(in.ContentLength))
	return out, err
}
