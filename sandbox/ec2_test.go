package sandbox

import (
	"context"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl/internal/prices"
)

func TestRunDescribeTerminate(t *testing.T) {
	srv := start(t, Options{})
	c := newClients(srv, 1)
	ctx := context.Background()

	in := runInput(t, c, "g4dn.xlarge", true)
	in.TagSpecifications = []ec2types.TagSpecification{
		{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{
			{Key: aws.String("runctl:managed"), Value: aws.String("true")},
			{Key: aws.String("runctl:run"), Value: aws.String("run-1")}}},
		{ResourceType: ec2types.ResourceTypeVolume, Tags: []ec2types.Tag{
			{Key: aws.String("runctl:managed"), Value: aws.String("true")}}},
	}
	in.MetadataOptions = &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired}
	in.BlockDeviceMappings = []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
		Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(20), Encrypted: aws.Bool(true)}}}
	out, err := c.ec2.RunInstances(ctx, in)
	require.NoError(t, err)
	require.Len(t, out.Instances, 1)
	inst := out.Instances[0]
	id := aws.ToString(inst.InstanceId)
	assert.Equal(t, ec2types.InstanceStateNamePending, inst.State.Name)
	assert.Equal(t, "pending", aws.ToString(inst.StateReason.Code))
	assert.Equal(t, ec2types.InstanceLifecycleTypeSpot, inst.InstanceLifecycle)
	assert.Regexp(t, `^sir-[0-9a-f]{8}$`, aws.ToString(inst.SpotInstanceRequestId))
	assert.Equal(t, "us-east-1a", aws.ToString(inst.Placement.AvailabilityZone))
	assert.Equal(t, zones("us-east-1")[0].SubnetID, aws.ToString(inst.SubnetId))
	assert.Contains(t, aws.ToString(inst.IamInstanceProfile.Arn), "instance-profile/runctl-ssm")
	assert.Equal(t, ec2types.HttpTokensStateRequired, inst.MetadataOptions.HttpTokens)
	require.Len(t, inst.BlockDeviceMappings, 1)
	assert.Regexp(t, `^vol-`, aws.ToString(inst.BlockDeviceMappings[0].Ebs.VolumeId))
	assert.Len(t, inst.Tags, 2)

	// The SDK's own waiter sees it running after the boot delay.
	w := ec2.NewInstanceRunningWaiter(c.ec2, func(o *ec2.InstanceRunningWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 100*time.Millisecond
	})
	require.NoError(t, w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 5*time.Second))

	filters := []struct {
		name   string
		filter []ec2types.Filter
		want   int
	}{
		{"by tag", []ec2types.Filter{{Name: aws.String("tag:runctl:run"), Values: []string{"run-1"}}}, 1},
		{"by other tag", []ec2types.Filter{{Name: aws.String("tag:runctl:run"), Values: []string{"run-2"}}}, 0},
		{"by state", []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"running"}}}, 1},
		{"by wildcard", []ec2types.Filter{{Name: aws.String("instance-type"), Values: []string{"g4dn.*"}}}, 1},
		{"by lifecycle", []ec2types.Filter{{Name: aws.String("instance-lifecycle"), Values: []string{"spot"}}}, 1},
	}
	for _, f := range filters {
		t.Run(f.name, func(t *testing.T) {
			d, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: f.filter})
			require.NoError(t, err)
			n := 0
			for _, r := range d.Reservations {
				n += len(r.Instances)
			}
			assert.Equal(t, f.want, n)
		})
	}

	term, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	assert.Equal(t, ec2types.InstanceStateNameRunning, term.TerminatingInstances[0].PreviousState.Name)
	assert.Equal(t, ec2types.InstanceStateNameShuttingDown, term.TerminatingInstances[0].CurrentState.Name)

	tw := ec2.NewInstanceTerminatedWaiter(c.ec2, func(o *ec2.InstanceTerminatedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 100*time.Millisecond
	})
	require.NoError(t, tw.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 5*time.Second))
	d, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	got := d.Reservations[0].Instances[0]
	assert.Equal(t, "Client.UserInitiatedShutdown", aws.ToString(got.StateReason.Code))
	assert.Contains(t, aws.ToString(got.StateTransitionReason), "User initiated")
}

func TestClientTokenIdempotency(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	ctx := context.Background()

	in := runInput(t, c, "t3.micro", false)
	in.ClientToken = aws.String("token-1")
	first, err := c.ec2.RunInstances(ctx, in)
	require.NoError(t, err)
	again, err := c.ec2.RunInstances(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, aws.ToString(first.Instances[0].InstanceId), aws.ToString(again.Instances[0].InstanceId))
	assert.Equal(t, aws.ToString(first.ReservationId), aws.ToString(again.ReservationId))

	in.InstanceType = "m5.large"
	_, err = c.ec2.RunInstances(ctx, in)
	code, status := apiCode(t, err)
	assert.Equal(t, "IdempotentParameterMismatch", code)
	assert.Equal(t, 400, status)

	all, err := srv.Instances()
	require.NoError(t, err)
	assert.Len(t, all, 1, "a replayed token must not launch again")
}

func TestLaunchFaults(t *testing.T) {
	zoneB := zones("us-east-1")[1].SubnetID
	tests := []struct {
		name       string
		faults     string
		spot       bool
		maxPrice   string
		subnet     string
		wantCode   string
		wantStatus int
	}{
		{name: "spot capacity", faults: "spot-capacity", spot: true,
			wantCode: "InsufficientInstanceCapacity", wantStatus: 500},
		{name: "spot capacity everywhere", faults: "spot-capacity", spot: true, subnet: zoneB,
			wantCode: "InsufficientInstanceCapacity", wantStatus: 500},
		{name: "zone capacity in default zone", faults: "spot-capacity-zone=us-east-1a", spot: true,
			wantCode: "InsufficientInstanceCapacity", wantStatus: 500},
		{name: "zone capacity elsewhere", faults: "spot-capacity-zone=us-east-1a", spot: true, subnet: zoneB},
		{name: "spot quota", faults: "spot-quota", spot: true,
			wantCode: "MaxSpotInstanceCountExceeded", wantStatus: 400},
		{name: "spot price fault", faults: "spot-price", spot: true,
			wantCode: "SpotMaxPriceTooLow", wantStatus: 400},
		{name: "max price below spot", spot: true, maxPrice: "0.001",
			wantCode: "SpotMaxPriceTooLow", wantStatus: 400},
		{name: "spot faults spare on-demand", faults: "spot-capacity,spot-quota,spot-price"},
		{name: "on-demand capacity", faults: "ondemand-capacity",
			wantCode: "InsufficientInstanceCapacity", wantStatus: 500},
		{name: "on-demand quota", faults: "ondemand-quota", wantCode: "VcpuLimitExceeded", wantStatus: 400},
		{name: "on-demand faults spare spot", faults: "ondemand-capacity,ondemand-quota", spot: true},
		{name: "throttle", faults: "throttle=1", wantCode: "RequestLimitExceeded", wantStatus: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFaults(tt.faults)
			require.NoError(t, err)
			srv := start(t, Options{Fast: true, Faults: f})
			c := newClients(srv, 1)
			in := runInputAMI(imageFor(t, al2023x86), "g4dn.xlarge", tt.spot)
			if tt.subnet != "" {
				in.SubnetId = aws.String(tt.subnet)
			}
			if tt.maxPrice != "" {
				in.InstanceMarketOptions.SpotOptions.MaxPrice = aws.String(tt.maxPrice)
			}
			out, err := c.ec2.RunInstances(context.Background(), in)
			if tt.wantCode == "" {
				require.NoError(t, err)
				require.Len(t, out.Instances, 1)
				return
			}
			code, status := apiCode(t, err)
			assert.Equal(t, tt.wantCode, code)
			assert.Equal(t, tt.wantStatus, status)
		})
	}
}

func TestThrottleIsRetriedBySDK(t *testing.T) {
	srv := start(t, Options{Fast: true, Faults: Faults{Throttle: 2}})
	c := newClients(srv, 3)
	_, err := c.ec2.DescribeAvailabilityZones(context.Background(), &ec2.DescribeAvailabilityZonesInput{})
	require.NoError(t, err, "the standard retryer retries RequestLimitExceeded")
}

func TestRunInstancesValidation(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	arm := amiID(t, c, "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64")
	tests := []struct {
		name   string
		modify func(*ec2.RunInstancesInput)
		want   string
	}{
		{"bad user data", func(in *ec2.RunInstancesInput) { in.UserData = aws.String("#!/bin/bash") },
			"InvalidParameterValue"},
		{"unknown ami", func(in *ec2.RunInstancesInput) { in.ImageId = aws.String("ami-0123456789abcdef0") },
			"InvalidAMIID.NotFound"},
		{"arch mismatch", func(in *ec2.RunInstancesInput) { in.ImageId = aws.String(arm) },
			"InvalidParameterValue"},
		{"unknown type", func(in *ec2.RunInstancesInput) { in.InstanceType = "g4dn.xlargee" },
			"InvalidParameterValue"},
		{"unknown subnet", func(in *ec2.RunInstancesInput) { in.SubnetId = aws.String("subnet-0000") },
			"InvalidSubnetID.NotFound"},
		{"unknown profile", func(in *ec2.RunInstancesInput) {
			in.IamInstanceProfile.Name = aws.String("nope")
		}, "InvalidParameterValue"},
		{"root volume too small", func(in *ec2.RunInstancesInput) {
			in.BlockDeviceMappings = []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
				Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(4)}}}
		}, "InvalidBlockDeviceMapping"},
		{"dry run", func(in *ec2.RunInstancesInput) { in.DryRun = aws.Bool(true) }, "DryRunOperation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := runInput(t, c, "t3.micro", false)
			tt.modify(in)
			_, err := c.ec2.RunInstances(context.Background(), in)
			code, _ := apiCode(t, err)
			assert.Equal(t, tt.want, code)
		})
	}

	t.Run("unknown instance", func(t *testing.T) {
		_, err := c.ec2.DescribeInstances(context.Background(),
			&ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
		code, _ := apiCode(t, err)
		assert.Equal(t, "InvalidInstanceID.NotFound", code)
	})
	t.Run("unknown filter", func(t *testing.T) {
		_, err := c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{
			Filters: []ec2types.Filter{{Name: aws.String("colour"), Values: []string{"red"}}}})
		code, _ := apiCode(t, err)
		assert.Equal(t, "InvalidParameterValue", code)
	})
}

func TestCreateTags(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	ctx := context.Background()
	out, err := c.ec2.RunInstances(ctx, runInput(t, c, "t3.micro", false))
	require.NoError(t, err)
	id := aws.ToString(out.Instances[0].InstanceId)
	vol := aws.ToString(out.Instances[0].BlockDeviceMappings[0].Ebs.VolumeId)

	_, err = c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id, vol},
		Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("trainer")}}})
	require.NoError(t, err)
	inst, err := srv.Instance(id)
	require.NoError(t, err)
	assert.Equal(t, "trainer", inst.Tags["Name"])

	_, err = c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"i-0123456789abcdef0"},
		Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("x")}}})
	code, _ := apiCode(t, err)
	assert.Equal(t, "InvalidInstanceID.NotFound", code)
}

func TestCatalog(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	ctx := context.Background()

	subnets, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	require.NoError(t, err)
	require.Len(t, subnets.Subnets, 4)
	for i, s := range subnets.Subnets {
		assert.Equal(t, "us-east-1"+string("abcd"[i]), aws.ToString(s.AvailabilityZone))
		assert.True(t, aws.ToBool(s.DefaultForAz))
	}

	azs, err := c.ec2.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	require.NoError(t, err)
	assert.Len(t, azs.AvailabilityZones, 4)
	assert.Equal(t, "use1-az1", aws.ToString(azs.AvailabilityZones[0].ZoneId))

	types, err := c.ec2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{
		InstanceTypes: []ec2types.InstanceType{"g4dn.xlarge", "m7g.large"}})
	require.NoError(t, err)
	require.Len(t, types.InstanceTypes, 2)
	for _, it := range types.InstanceTypes {
		switch it.InstanceType {
		case "g4dn.xlarge":
			assert.Equal(t, int32(4), aws.ToInt32(it.VCpuInfo.DefaultVCpus))
			require.NotNil(t, it.GpuInfo)
			assert.Equal(t, "T4", aws.ToString(it.GpuInfo.Gpus[0].Name))
		case "m7g.large":
			assert.Equal(t, []ec2types.ArchitectureType{"arm64"}, it.ProcessorInfo.SupportedArchitectures)
			assert.Nil(t, it.GpuInfo)
		}
	}
	_, err = c.ec2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{
		InstanceTypes: []ec2types.InstanceType{"g4dn.xlargee"}})
	code, _ := apiCode(t, err)
	assert.Equal(t, "InvalidInstanceType", code)

	offers, err := c.ec2.DescribeInstanceTypeOfferings(ctx, &ec2.DescribeInstanceTypeOfferingsInput{
		LocationType: ec2types.LocationTypeAvailabilityZone,
		Filters:      []ec2types.Filter{{Name: aws.String("instance-type"), Values: []string{"g5.xlarge"}}}})
	require.NoError(t, err)
	assert.Len(t, offers.InstanceTypeOfferings, 4)

	ami := amiID(t, c, "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id")
	imgs, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	require.NoError(t, err)
	require.Len(t, imgs.Images, 1)
	assert.Equal(t, ec2types.ArchitectureValuesX8664, imgs.Images[0].Architecture)
}

func TestSpotPriceHistory(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	out, err := c.ec2.DescribeSpotPriceHistory(context.Background(), &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes:       []ec2types.InstanceType{"g4dn.xlarge"},
		ProductDescriptions: []string{"Linux/UNIX"},
		StartTime:           aws.Time(time.Now()),
	})
	require.NoError(t, err)
	require.Len(t, out.SpotPriceHistory, 4, "one price per zone")
	od, ok := prices.OnDemand("us-east-1", "g4dn.xlarge")
	require.True(t, ok)
	seen := map[string]bool{}
	for _, p := range out.SpotPriceHistory {
		v, err := strconv.ParseFloat(aws.ToString(p.SpotPrice), 64)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, v, od*0.25-0.0001)
		assert.LessOrEqual(t, v, od*0.40+0.0001)
		seen[aws.ToString(p.SpotPrice)] = true
	}
	assert.Greater(t, len(seen), 1, "zones should differ")

	again, err := c.ec2.DescribeSpotPriceHistory(context.Background(), &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes: []ec2types.InstanceType{"g4dn.xlarge"}, ProductDescriptions: []string{"Linux/UNIX"}})
	require.NoError(t, err)
	assert.Equal(t, out.SpotPriceHistory[0].SpotPrice, again.SpotPriceHistory[0].SpotPrice, "deterministic")
}

func TestUserDataBootScript(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	script := "#!/bin/bash\nprintf '%s|%s|%s' \"$RUNCTL_SANDBOX_INSTANCE\" \"$RUNCTL_IMDS_ENDPOINT\" \"$(pwd)\" > \"$HOME/booted\"\n"
	in := runInput(t, c, "t3.micro", false)
	in.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte(script)))
	id := launch(t, srv, c, in)
	inst, err := srv.Instance(id)
	require.NoError(t, err)
	var got string
	waitFor(t, 3*time.Second, "boot script", func() bool {
		b, err := readFile(inst.Dir + "/home/booted")
		got = b
		return err == nil && b != ""
	})
	assert.Equal(t, id+"|"+srv.URL()+"/_imds/"+id+"|"+inst.Dir, got)
}
