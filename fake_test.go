package runctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// fakeClock advances only when someone waits on it, so waits end at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

// apiErr builds the error the SDK returns for an AWS error code.
func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "fake " + code}
}

// fakeEC2 is a scripted EC2: RunInstances answers from runErrs (keyed by
// market and zone) and instances move through states as they are described.
type fakeEC2 struct {
	EC2API

	mu        sync.Mutex
	calls     []string
	runs      []*ec2.RunInstancesInput
	runErrs   map[string]error // "spot/us-east-1a", "spot/*", "on-demand/*"
	runHook   func(ctx context.Context)
	instances map[string]*ec2types.Instance
	states    map[string][]string // states each describe of an instance walks through
	terminate []string
	spot      map[string]string // zone -> price
	untagged  bool
	// lostReply launches the instance but fails the call as if the reply
	// never arrived because ctx ended.
	lostReply bool
}

func newFakeEC2() *fakeEC2 {
	return &fakeEC2{
		runErrs:   map[string]error{},
		instances: map[string]*ec2types.Instance{},
		states:    map[string][]string{},
		spot:      map[string]string{"us-east-1a": "0.1600", "us-east-1b": "0.1700", "us-east-1c": "0.2000"},
	}
}

func (f *fakeEC2) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeEC2) Calls(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeEC2) RunInstances(ctx context.Context, in *ec2.RunInstancesInput,
	_ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	market := "on-demand"
	if in.InstanceMarketOptions != nil {
		market = "spot"
	}
	zone := zoneOfSubnet(aws.ToString(in.SubnetId))
	f.record("RunInstances " + market + " " + zone)
	if f.runHook != nil {
		f.runHook(ctx)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, in)
	for _, key := range []string{market + "/" + zone, market + "/*"} {
		if err, ok := f.runErrs[key]; ok {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil && !f.lostReply {
		return nil, err
	}
	id := fmt.Sprintf("i-%017x", len(f.instances)+1)
	it := &ec2types.Instance{
		InstanceId: aws.String(id), InstanceType: in.InstanceType, SubnetId: in.SubnetId,
		Placement:  &ec2types.Placement{AvailabilityZone: aws.String(zone)},
		State:      &ec2types.InstanceState{Name: ec2types.InstanceStateNamePending},
		LaunchTime: aws.Time(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)),
	}
	if market == "spot" {
		it.InstanceLifecycle = ec2types.InstanceLifecycleTypeSpot
	}
	if !f.untagged {
		for _, ts := range in.TagSpecifications {
			if ts.ResourceType == ec2types.ResourceTypeInstance {
				it.Tags = ts.Tags
			}
		}
	}
	f.instances[id] = it
	if f.lostReply {
		return nil, context.Canceled
	}
	return &ec2.RunInstancesOutput{Instances: []ec2types.Instance{*it}}, nil
}

func zoneOfSubnet(subnet string) string {
	if z, ok := strings.CutPrefix(subnet, "subnet-"); ok {
		return "us-east-1" + z
	}
	return "us-east-1a"
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput,
	_ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.record("DescribeInstances")
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ec2types.Instance
	for id, it := range f.instances {
		if len(in.InstanceIds) > 0 && in.InstanceIds[0] != id {
			continue
		}
		if !matchesFilters(it, in.Filters) {
			continue
		}
		if seq := f.states[id]; len(seq) > 0 {
			it.State.Name = ec2types.InstanceStateName(seq[0])
			f.states[id] = seq[1:]
		} else if it.State.Name == ec2types.InstanceStateNamePending {
			it.State.Name = ec2types.InstanceStateNameRunning
		}
		out = append(out, *it)
	}
	if len(in.InstanceIds) > 0 && len(out) == 0 {
		return nil, apiErr("InvalidInstanceID.NotFound")
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: out}}}, nil
}

func (f *fakeEC2) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput,
	_ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	f.record("TerminateInstances " + in.InstanceIds[0])
	f.mu.Lock()
	defer f.mu.Unlock()
	f.terminate = append(f.terminate, in.InstanceIds...)
	for _, id := range in.InstanceIds {
		if it, ok := f.instances[id]; ok {
			f.states[id] = []string{"shutting-down", "terminated"}
			it.State.Name = ec2types.InstanceStateNameShuttingDown
		}
	}
	return &ec2.TerminateInstancesOutput{}, nil
}

func (f *fakeEC2) DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput,
	...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	var subnets []ec2types.Subnet
	for _, z := range []string{"a", "b", "c"} {
		subnets = append(subnets, ec2types.Subnet{SubnetId: aws.String("subnet-" + z),
			AvailabilityZone: aws.String("us-east-1" + z)})
	}
	return &ec2.DescribeSubnetsOutput{Subnets: subnets}, nil
}

func (f *fakeEC2) DescribeInstanceTypes(_ context.Context, in *ec2.DescribeInstanceTypesInput,
	_ ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	if in.InstanceTypes[0] == "t3.mirco" {
		return nil, apiErr("InvalidInstanceType")
	}
	return &ec2.DescribeInstanceTypesOutput{InstanceTypes: []ec2types.InstanceTypeInfo{{
		InstanceType:  in.InstanceTypes[0],
		ProcessorInfo: &ec2types.ProcessorInfo{SupportedArchitectures: []ec2types.ArchitectureType{"x86_64"}},
	}}}, nil
}

func (f *fakeEC2) DescribeImages(context.Context, *ec2.DescribeImagesInput,
	...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	return &ec2.DescribeImagesOutput{Images: []ec2types.Image{{ImageId: aws.String("ami-12345678"),
		RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: []ec2types.BlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(8)}}}}}}, nil
}

func (f *fakeEC2) DescribeSpotPriceHistory(context.Context, *ec2.DescribeSpotPriceHistoryInput,
	...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error) {
	var out []ec2types.SpotPrice
	for zone, price := range f.spot {
		out = append(out, ec2types.SpotPrice{AvailabilityZone: aws.String(zone), SpotPrice: aws.String(price),
			Timestamp: aws.Time(time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC))})
	}
	return &ec2.DescribeSpotPriceHistoryOutput{SpotPriceHistory: out}, nil
}

// fakeSSM brings instances online after a number of polls.
type fakeSSM struct {
	SSMAPI

	mu            sync.Mutex
	onlineAfter   int
	never         bool
	polls         int
	sent          []string
	commandOutput func(script string) (string, error)
}

func (f *fakeSSM) GetParameter(context.Context, *ssm.GetParameterInput,
	...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String("ami-12345678")}}, nil
}

func (f *fakeSSM) DescribeInstanceInformation(_ context.Context, in *ssm.DescribeInstanceInformationInput,
	_ ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	if f.never || f.polls <= f.onlineAfter {
		return &ssm.DescribeInstanceInformationOutput{}, nil
	}
	return &ssm.DescribeInstanceInformationOutput{InstanceInformationList: []ssmtypes.InstanceInformation{{
		InstanceId: aws.String(in.Filters[0].Values[0]), PingStatus: ssmtypes.PingStatusOnline}}}, nil
}

func (f *fakeSSM) SendCommand(_ context.Context, in *ssm.SendCommandInput,
	_ ...func(*ssm.Options)) (*ssm.SendCommandOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, in.Parameters["commands"][0])
	return &ssm.SendCommandOutput{Command: &ssmtypes.Command{CommandId: aws.String(fmt.Sprint(len(f.sent)))}}, nil
}

func (f *fakeSSM) GetCommandInvocation(_ context.Context, in *ssm.GetCommandInvocationInput,
	_ ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error) {
	f.mu.Lock()
	var n int
	fmt.Sscan(aws.ToString(in.CommandId), &n)
	script := f.sent[n-1]
	f.mu.Unlock()
	out, err := f.commandOutput(script)
	if err != nil {
		return &ssm.GetCommandInvocationOutput{Status: ssmtypes.CommandInvocationStatusFailed,
			StandardErrorContent: aws.String(err.Error()), ResponseCode: 1}, nil
	}
	return &ssm.GetCommandInvocationOutput{Status: ssmtypes.CommandInvocationStatusSuccess,
		StandardOutputContent: aws.String(out)}, nil
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) handle(_ context.Context, e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func eventsOf[T Event](r *recorder) []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []T
	for _, e := range r.events {
		if t, ok := e.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func matchesFilters(it *ec2types.Instance, filters []ec2types.Filter) bool {
	for _, f := range filters {
		name := aws.ToString(f.Name)
		var got string
		switch {
		case name == "instance-state-name":
			got = string(it.State.Name)
		case strings.HasPrefix(name, "tag:"):
			for _, t := range it.Tags {
				if aws.ToString(t.Key) == name[4:] {
					got = aws.ToString(t.Value)
				}
			}
		}
		ok := false
		for _, v := range f.Values {
			ok = ok || v == got
		}
		if !ok {
			return false
		}
	}
	return true
}

// fakePricing has no Price List API, so prices come from the embedded table.
type fakePricing struct{ PricingAPI }

func (fakePricing) GetProducts(context.Context, *pricing.GetProductsInput,
	...func(*pricing.Options)) (*pricing.GetProductsOutput, error) {
	return nil, apiErr("AccessDeniedException")
}

type testAPIError struct{ code, msg string }

func (e *testAPIError) Error() string                 { return e.code + ": " + e.msg }
func (e *testAPIError) ErrorCode() string             { return e.code }
func (e *testAPIError) ErrorMessage() string          { return e.msg }
func (e *testAPIError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

// SSM keeps at most this many characters of a command's output.
const (
	ssmStdoutLimit = 24000
	ssmStderrLimit = 8000
)

// shellSSM plays the SSM agent of one instance: SendCommand runs the script
// with local bash in a temporary RUNCTL_HOME, detaching jobs with setsid, and
// GetCommandInvocation answers InvocationDoesNotExist notYet times for each
// command before returning its output cut the way SSM cuts it.
type shellSSM struct {
	SSMAPI

	home   string
	notYet int

	// onSend, when set, runs before the n-th SendCommand (1-based, failed
	// calls included); an error fails that call as AWS would.
	onSend func(n int, script string) error
	// mangle, when set, rewrites the standard output of the n-th command.
	mangle func(n int, stdout string) string

	mu        sync.Mutex
	sends     int
	cmds      map[string]*shellCommand
	scripts   []string
	maxStdout int // the longest standard output before cutting
	truncated int // answers cut at SSM's limit
}

type shellCommand struct {
	stdout, stderr string
	code           int32
	asked          int
}

func newShellSSM(t *testing.T) *shellSSM {
	t.Helper()
	f := &shellSSM{home: t.TempDir(), notYet: 1, cmds: map[string]*shellCommand{}}
	t.Cleanup(func() { waitJobsGone(t, f.home) })
	return f
}

func (f *shellSSM) SendCommand(_ context.Context, in *ssm.SendCommandInput,
	_ ...func(*ssm.Options)) (*ssm.SendCommandOutput, error) {
	script := in.Parameters["commands"][0]
	f.mu.Lock()
	f.sends++
	n := f.sends
	f.mu.Unlock()
	if f.onSend != nil {
		if err := f.onSend(n, script); err != nil {
			return nil, err
		}
	}

	cmd := &shellCommand{}
	cmd.stdout, cmd.stderr, cmd.code = runBash(f.home, script)
	if f.mangle != nil {
		cmd.stdout = f.mangle(n, cmd.stdout)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := strconv.Itoa(n)
	f.cmds[id] = cmd
	f.scripts = append(f.scripts, script)
	return &ssm.SendCommandOutput{Command: &ssmtypes.Command{CommandId: aws.String(id)}}, nil
}

func (f *shellSSM) GetCommandInvocation(_ context.Context, in *ssm.GetCommandInvocationInput,
	_ ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cmd := f.cmds[aws.ToString(in.CommandId)]
	if cmd == nil || cmd.asked < f.notYet {
		if cmd != nil {
			cmd.asked++
		}
		return nil, apiErr("InvocationDoesNotExist")
	}
	f.maxStdout = max(f.maxStdout, len(cmd.stdout))
	stdout, cut := cutChars(cmd.stdout, ssmStdoutLimit)
	if cut {
		f.truncated++
	}
	stderr, _ := cutChars(cmd.stderr, ssmStderrLimit)
	out := &ssm.GetCommandInvocationOutput{Status: ssmtypes.CommandInvocationStatusSuccess,
		ResponseCode: cmd.code, StandardOutputContent: aws.String(stdout),
		StandardErrorContent: aws.String(stderr)}
	if cmd.code != 0 {
		out.Status = ssmtypes.CommandInvocationStatusFailed
	}
	return out, nil
}

// Scripts returns the scripts sent so far whose text contains substr.
func (f *shellSSM) Scripts(substr string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.scripts {
		if strings.Contains(s, substr) {
			out = append(out, s)
		}
	}
	return out
}

// JobDir is where the job with the given ID lives on the fake instance.
func (f *shellSSM) JobDir(id string) string { return filepath.Join(f.home, "jobs", id) }

// cutChars keeps the first n characters of s, as SSM does with output.
func cutChars(s string, n int) (string, bool) {
	r := []rune(s)
	if len(r) <= n {
		return s, false
	}
	return string(r[:n]), true
}

// runBash runs script as the SSM agent would, with a clean environment that
// points runctl's on-instance scripts at home.
func runBash(home, script string) (stdout, stderr string, code int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = home
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LC_ALL=C",
		"RUNCTL_HOME=" + home, "RUNCTL_DETACH=setsid"}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var xe *exec.ExitError
	switch {
	case errors.As(err, &xe):
		code = int32(xe.ExitCode())
	case err != nil:
		e.WriteString(err.Error())
		code = 255
	}
	return o.String(), e.String(), code
}

// waitJobsGone waits for every job runner started under home to exit, so
// the temporary directory is not removed under it. A runner still alive
// after ten seconds is a test failure, and is killed by its PID.
func waitJobsGone(t *testing.T, home string) {
	pids, _ := filepath.Glob(filepath.Join(home, "jobs", "*", "pid"))
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		deadline := time.Now().Add(10 * time.Second)
		for !processGone(pid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if !processGone(pid) {
			t.Errorf("job runner %d under %s still running; killing it", pid, p)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// processGone reports whether pid has exited. A zombie counts as gone: the
// process reaping orphans here may never wait for it.
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

// sleepClock is a fakeClock that tells onAfter about every pause asked of
// it before granting it.
type sleepClock struct {
	*fakeClock
	onAfter func(d time.Duration)
}

func (c *sleepClock) After(d time.Duration) <-chan time.Time {
	if c.onAfter != nil {
		c.onAfter(d)
	}
	return c.fakeClock.After(d)
}

// addRunning puts a running instance into f, launched at launch and tagged
// with tags.
func (f *fakeEC2) addRunning(id, itype string, market Market, launch time.Time, tags map[string]string) {
	it := &ec2types.Instance{
		InstanceId: aws.String(id), InstanceType: ec2types.InstanceType(itype),
		Placement:  &ec2types.Placement{AvailabilityZone: aws.String("us-east-1a")},
		State:      &ec2types.InstanceState{Name: ec2types.InstanceStateNameRunning},
		LaunchTime: aws.Time(launch), Tags: ec2Tags(tags),
	}
	if market == MarketSpot {
		it.InstanceLifecycle = ec2types.InstanceLifecycleTypeSpot
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instances[id] = it
}

// setState moves an instance to state for reason, as AWS does when it
// reclaims a spot instance.
func (f *fakeEC2) setState(id, state, reasonCode, reasonMessage string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := f.instances[id]
	it.State.Name = ec2types.InstanceStateName(state)
	it.StateReason = &ec2types.StateReason{Code: aws.String(reasonCode), Message: aws.String(reasonMessage)}
	delete(f.states, id)
}

// fileS3 keeps objects as files, so the presigned URL it hands out can be
// a file:// URL that curl on the fake instance fetches without a network.
type fileS3 struct {
	S3API

	dir string

	mu    sync.Mutex
	heads []string
	puts  []string
}

func newFileS3(t *testing.T) *fileS3 { return &fileS3{dir: t.TempDir()} }

func (f *fileS3) path(bucket, key string) string {
	return filepath.Join(f.dir, bucket, filepath.FromSlash(key))
}

func (f *fileS3) HeadObject(_ context.Context, in *s3.HeadObjectInput,
	_ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.mu.Lock()
	f.heads = append(f.heads, aws.ToString(in.Key))
	f.mu.Unlock()
	fi, err := os.Stat(f.path(aws.ToString(in.Bucket), aws.ToString(in.Key)))
	if err != nil {
		return nil, apiErr("NotFound")
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(fi.Size())}, nil
}

// HeadBucket finds every bucket but "missing".
func (f *fileS3) HeadBucket(_ context.Context, in *s3.HeadBucketInput,
	_ ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	if aws.ToString(in.Bucket) == "missing" {
		return nil, apiErr("NotFound")
	}
	return &s3.HeadBucketOutput{}, nil
}

func (f *fileS3) PutObject(_ context.Context, in *s3.PutObjectInput,
	_ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	p := f.path(aws.ToString(in.Bucket), aws.ToString(in.Key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	if in.ContentLength != nil && *in.ContentLength != int64(len(body)) {
		return nil, fmt.Errorf("fake S3: ContentLength %d, body %d bytes", *in.ContentLength, len(body))
	}
	if err := os.WriteFile(p, body, 0o644); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, aws.ToString(in.Key))
	return &s3.PutObjectOutput{}, nil
}

func (f *fileS3) Puts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.puts...)
}

// PresignGetObject returns a file:// URL with a fragment standing for the
// signature; curl drops the fragment, and no log may show it.
func (f *fileS3) PresignGetObject(_ context.Context, in *s3.GetObjectInput,
	_ ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	u := "file://" + f.path(aws.ToString(in.Bucket), aws.ToString(in.Key)) + "#" + fakeSignature
	return &v4.PresignedHTTPRequest{URL: u, Method: "GET"}, nil
}

// PresignPutObject returns a file:// URL too: curl -T writes the file.
func (f *fileS3) PresignPutObject(_ context.Context, in *s3.PutObjectInput,
	_ ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	p := f.path(aws.ToString(in.Bucket), aws.ToString(in.Key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return &v4.PresignedHTTPRequest{URL: "file://" + p, Method: "PUT"}, nil
}

// ListObjectsV2 lists the files stored under the prefix.
func (f *fileS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input,
	_ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	root := filepath.Join(f.dir, aws.ToString(in.Bucket))
	var out []s3types.Object
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		key, _ := filepath.Rel(root, p)
		key = filepath.ToSlash(key)
		if strings.HasPrefix(key, aws.ToString(in.Prefix)) {
			out = append(out, s3types.Object{Key: aws.String(key)})
		}
		return nil
	})
	return &s3.ListObjectsV2Output{Contents: out}, err
}

// fakeSignature stands for the secret part of a presigned URL.
const fakeSignature = "X-Amz-Signature=0ddba11c0ffee"
