package runctl

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
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
		RootDeviceName: aws.String("/dev/xvda")}}}, nil
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
