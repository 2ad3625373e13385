// Command benchship ships one code directory through runctl's Train and
// prints what it took as JSON, so that a parent process can read its peak
// resident set from the kernel when it exits. It imports runctl and the
// SDK and nothing else of the harness, so its memory is runctl's own.
//
//	benchship -endpoint URL -bucket B -instance ID -dir DIR -script S
//
// EC2 and S3 are the sandbox's, reached over HTTP with static fake
// credentials. SSM is answered in process: the instance's download and
// unpacking of the code are the instance's work, not runctl's.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/runctl/runctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Result is what benchship prints.
type Result struct {
	Files        int   `json:"files"`
	Bytes        int64 `json:"bytes"`
	ArchiveBytes int64 `json:"archive_bytes"`
	PutCalls     int64 `json:"put_calls"`
	WallMS       int64 `json:"wall_ms"`
	ScanMS       int64 `json:"scan_ms"`   // sync start to the first packaging progress
	PackMS       int64 `json:"pack_ms"`   // first to last packaging progress
	UploadMS     int64 `json:"upload_ms"` // last packaging progress to uploaded
	VmHWMKiB     int64 `json:"vmhwm_kib"` // from /proc/self/status, where there is one
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchship", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "sandbox URL (loopback)")
	region := fs.String("region", "us-east-1", "region")
	bucket := fs.String("bucket", "runctl-sandbox", "bucket")
	instance := fs.String("instance", "", "instance ID")
	dir := fs.String("dir", "", "code directory")
	script := fs.String("script", "run.sh", "script inside the code directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !loopback(*endpoint) || *instance == "" || *dir == "" {
		fmt.Fprintln(stderr, "benchship: -endpoint (a loopback URL), -instance and -dir are required")
		return 2
	}
	res, err := ship(ctx, *endpoint, *region, *bucket, *instance, *dir, *script)
	if err != nil {
		fmt.Fprintln(stderr, "benchship:", err)
		return 1
	}
	res.VmHWMKiB = vmHWM()
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

// ship runs one Train that ships dir and returns at once.
func ship(ctx context.Context, endpoint, region, bucket, instance, dir, script string) (Result, error) {
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	puts := &countingS3{S3API: s3c}
	var ph phases
	c, err := runctl.New(ctx, runctl.WithAWSConfig(cfg), runctl.WithEndpoint(endpoint),
		runctl.WithBucket(bucket), runctl.WithCacheDir(""),
		runctl.WithS3(puts), runctl.WithS3Presigner(s3.NewPresignClient(s3c)),
		runctl.WithSSM(startedSSM{}), runctl.WithEventHandler(ph.handle))
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	if _, err := c.Train(ctx, instance, script, runctl.WithCodeDir(dir), runctl.Detach()); err != nil {
		return Result{}, err
	}
	res := ph.result(start)
	res.ArchiveBytes, res.PutCalls = puts.bytes.Load(), puts.calls.Load()
	return res, nil
}

// phases times the steps of shipping from the events.
type phases struct {
	mu                               sync.Mutex
	start, firstPack, lastPack, sent time.Time
	files                            int
	bytes                            int64
}

func (p *phases) handle(_ context.Context, e runctl.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	switch e := e.(type) {
	case runctl.PhaseStarted:
		if e.Phase == runctl.PhaseSync {
			p.start = now
		}
	case runctl.SyncProgress:
		p.files, p.bytes = e.Files, e.TotalBytes
		switch {
		case e.Uploaded:
			p.sent = now
		case p.firstPack.IsZero():
			p.firstPack, p.lastPack = now, now
		default:
			p.lastPack = now
		}
	}
}

func (p *phases) result(start time.Time) Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	ms := func(a, b time.Time) int64 { return b.Sub(a).Milliseconds() }
	return Result{Files: p.files, Bytes: p.bytes, WallMS: ms(start, time.Now()),
		ScanMS: ms(p.start, p.firstPack), PackMS: ms(p.firstPack, p.lastPack), UploadMS: ms(p.lastPack, p.sent)}
}

// countingS3 counts the bytes put.
type countingS3 struct {
	runctl.S3API
	bytes, calls atomic.Int64
}

func (c *countingS3) PutObject(ctx context.Context, in *s3.PutObjectInput,
	optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	c.calls.Add(1)
	c.bytes.Add(aws.ToInt64(in.ContentLength))
	return c.S3API.PutObject(ctx, in, optFns...)
}

// startedSSM answers the command that starts the job as the instance would,
// without running it.
type startedSSM struct{ runctl.SSMAPI }

func (startedSSM) SendCommand(context.Context, *ssm.SendCommandInput,
	...func(*ssm.Options)) (*ssm.SendCommandOutput, error) {
	return &ssm.SendCommandOutput{Command: &ssmtypes.Command{CommandId: aws.String("bench-0")}}, nil
}

func (startedSSM) GetCommandInvocation(context.Context, *ssm.GetCommandInvocationInput,
	...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error) {
	return &ssm.GetCommandInvocationOutput{Status: ssmtypes.CommandInvocationStatusSuccess,
		StandardOutputContent: aws.String("started bench\n")}, nil
}

// loopback reports whether url is a plain-HTTP loopback address: nothing
// here may reach AWS or any other host.
func loopback(url string) bool {
	for _, p := range []string{"http://127.", "http://[::1]", "http://localhost:"} {
		if strings.HasPrefix(url, p) {
			return true
		}
	}
	return false
}

// vmHWM reads the peak resident set from /proc/self/status, in KiB, or -1.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib); err == nil {
				return kib
			}
		}
	}
	return -1
}
