package conformance

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	instanceType = ec2types.InstanceTypeT3Micro
	// al2023Param is the public parameter runctl resolves an x86_64 AMI from.
	al2023Param = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
	// runTag marks every instance a body launches with the body's unique
	// run name, so bodies sharing one moto see only their own instances.
	runTag = "runctl:conformance"
	// missingInstance is well formed and belongs to nobody.
	missingInstance = "i-0123456789abcdef0"
	// stateLimit bounds each wait for an instance state change.
	stateLimit = 5 * time.Second
)

func TestEC2(t *testing.T) {
	conform(t, []conformCase{
		{"RunInstancesOnDemand", testRunOnDemand},
		{"RunInstancesSpot", testRunSpot},
		{"RunInstancesSpotRequestID", testRunSpotRequestID},
		{"RunInstancesVolumeTags", testRunVolumeTags},
		{"RunInstancesClientToken", testRunClientToken},
		{"RunInstancesInstanceProfile", testRunProfile},
		{"RunInstancesMissingProfile", testRunMissingProfile},
		{"RunInstancesLaunchOptions", testRunLaunchOptions},
		{"DescribeInstancesByID", testDescribeByID},
		{"DescribeInstancesFilters", testDescribeFilters},
		{"DescribeInstancesLifecycleFilter", testDescribeLifecycleFilter},
		{"DescribeInstancesNotFound", testDescribeNotFound},
		{"DescribeInstancesMalformed", testDescribeMalformed},
		{"TerminateInstances", testTerminate},
		{"TerminateInstancesTwice", testTerminateTwice},
		{"CreateTags", testCreateTags},
		{"CreateTagsNotFound", testCreateTagsNotFound},
		{"DescribeSpotPriceHistory", testSpotPrices},
		{"DescribeSpotPriceHistoryProduct", testSpotPricesProduct},
		{"DescribeInstanceTypes", testInstanceTypes},
		{"DescribeImages", testImages},
		{"DescribeSubnets", testSubnets},
	})
}

func testRunOnDemand(t *testing.T, b *backend) {
	run := unique("run")
	out := launch(t, b, runInput(t, b, run))

	require.Len(t, out.Instances, 1)
	in := out.Instances[0]
	assertPrefix(t, aws.ToString(out.ReservationId), "r-")
	assertPrefix(t, aws.ToString(in.InstanceId), "i-")
	assert.Equal(t, instanceType, in.InstanceType)
	assert.Equal(t, b.image(t), aws.ToString(in.ImageId))
	assert.Contains(t, []ec2types.InstanceStateName{ec2types.InstanceStateNamePending,
		ec2types.InstanceStateNameRunning}, in.State.Name)
	assert.Empty(t, in.InstanceLifecycle, "an on-demand instance has no lifecycle")
	assert.Equal(t, run, tagValue(in.Tags, runTag))
	assertPrefix(t, aws.ToString(in.Placement.AvailabilityZone), region)
}

func testRunSpot(t *testing.T, b *backend) {
	in := runInput(t, b, unique("run"))
	in.InstanceMarketOptions = spotMarket()
	out := launch(t, b, in)

	require.Len(t, out.Instances, 1)
	assert.Equal(t, ec2types.InstanceLifecycleTypeSpot, out.Instances[0].InstanceLifecycle)
	got := describe(t, b, aws.ToString(out.Instances[0].InstanceId))
	assert.Equal(t, ec2types.InstanceLifecycleTypeSpot, got.InstanceLifecycle)
}

func testRunSpotRequestID(t *testing.T, b *backend) {
	in := runInput(t, b, unique("run"))
	in.InstanceMarketOptions = spotMarket()
	out := launch(t, b, in)

	require.Len(t, out.Instances, 1)
	sir := aws.ToString(out.Instances[0].SpotInstanceRequestId)
	b.motoGap(t, "ec2-spot-request-id", sir == "")
	assertPrefix(t, sir, "sir-")
	got := describe(t, b, aws.ToString(out.Instances[0].InstanceId))
	assert.Equal(t, sir, aws.ToString(got.SpotInstanceRequestId))
}

// testRunVolumeTags checks that tags given at launch for the volume reach
// the instance's root volume, where runctl's cost tags must land.
func testRunVolumeTags(t *testing.T, b *backend) {
	const volumeTag = "runctl:volume"
	run := unique("run")
	in := runInput(t, b, run)
	in.TagSpecifications = append(in.TagSpecifications, ec2types.TagSpecification{
		ResourceType: ec2types.ResourceTypeVolume,
		Tags:         []ec2types.Tag{{Key: aws.String(volumeTag), Value: aws.String(run)}},
	})
	out := launch(t, b, in)
	require.Len(t, out.Instances, 1)

	got := describe(t, b, aws.ToString(out.Instances[0].InstanceId))
	require.NotEmpty(t, got.BlockDeviceMappings, "the instance has no volumes")
	volID := aws.ToString(got.BlockDeviceMappings[0].Ebs.VolumeId)
	vols, err := b.ec2.DescribeVolumes(t.Context(),
		&ec2.DescribeVolumesInput{VolumeIds: []string{volID}})
	require.NoError(t, err)
	require.Len(t, vols.Volumes, 1)
	assert.Equal(t, run, tagValue(vols.Volumes[0].Tags, volumeTag))
	assert.Empty(t, tagValue(got.Tags, volumeTag), "volume tags stay off the instance")
}

// testRunClientToken sends one RunInstances twice with the same token, as
// the SDK does when it retries: EC2 answers the second with the first
// launch instead of launching again.
func testRunClientToken(t *testing.T, b *backend) {
	run := unique("run")
	in := runInput(t, b, run)
	in.ClientToken = aws.String(unique("token"))

	first := launch(t, b, in)
	second := launch(t, b, in)

	require.Len(t, first.Instances, 1)
	require.Len(t, second.Instances, 1)
	firstID := aws.ToString(first.Instances[0].InstanceId)
	secondID := aws.ToString(second.Instances[0].InstanceId)
	b.motoGap(t, "ec2-client-token", firstID != secondID)
	assert.Equal(t, firstID, secondID)
	assert.Equal(t, aws.ToString(first.ReservationId), aws.ToString(second.ReservationId))
	assert.Len(t, byTag(t, b, run), 1, "a repeated token must not launch a second instance")
}

// testRunProfile launches with the instance profile runctl's SSM access
// rests on.
func testRunProfile(t *testing.T, b *backend) {
	ensureProfile(t, b)
	in := runInput(t, b, unique("run"))
	in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{
		Name: aws.String(profileName)}
	out := launch(t, b, in)

	got := describe(t, b, aws.ToString(out.Instances[0].InstanceId))
	require.NotNil(t, got.IamInstanceProfile, "the instance has no profile")
	assert.Regexp(t, `^arn:aws:iam::[0-9]{12}:instance-profile/`+profileName+`$`,
		aws.ToString(got.IamInstanceProfile.Arn))
}

// testRunMissingProfile launches with a profile that does not exist, which
// EC2 refuses before launching anything, in its own error code.
func testRunMissingProfile(t *testing.T, b *backend) {
	in := runInput(t, b, unique("run"))
	in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{
		Name: aws.String(unique("runctl-conf-missing"))}
	_, err := tryLaunch(t, b, in)
	code, status := apiError(t, err)
	b.motoGap(t, "ec2-missing-profile", code == "NoSuchEntity")
	assert.Equal(t, "InvalidParameterValue", code)
	assert.Equal(t, 400, status)
}

// testRunLaunchOptions launches with the options runctl launches with:
// IMDSv2 required, an encrypted gp3 root volume on the image's root device,
// shutdown from inside meaning terminate, and a boot script as user data.
func testRunLaunchOptions(t *testing.T, b *backend) {
	images, err := b.ec2.DescribeImages(t.Context(),
		&ec2.DescribeImagesInput{ImageIds: []string{b.image(t)}})
	require.NoError(t, err)
	require.Len(t, images.Images, 1)
	root := aws.ToString(images.Images[0].RootDeviceName)

	in := runInput(t, b, unique("run"))
	in.MetadataOptions = &ec2types.InstanceMetadataOptionsRequest{
		HttpTokens:              ec2types.HttpTokensStateRequired,
		HttpEndpoint:            ec2types.InstanceMetadataEndpointStateEnabled,
		HttpPutResponseHopLimit: aws.Int32(2),
	}
	in.BlockDeviceMappings = []ec2types.BlockDeviceMapping{{DeviceName: aws.String(root),
		Ebs: &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true),
			VolumeType: ec2types.VolumeTypeGp3, VolumeSize: aws.Int32(20)}}}
	in.InstanceInitiatedShutdownBehavior = ec2types.ShutdownBehaviorTerminate
	in.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte("#!/bin/bash\ntrue\n")))
	out := launch(t, b, in)

	got := describe(t, b, aws.ToString(out.Instances[0].InstanceId))
	assert.Equal(t, root, aws.ToString(got.RootDeviceName))
	require.NotNil(t, got.MetadataOptions)
	assert.Equal(t, ec2types.HttpTokensStateRequired, got.MetadataOptions.HttpTokens)
	assert.Equal(t, ec2types.InstanceMetadataEndpointStateEnabled,
		got.MetadataOptions.HttpEndpoint)
	assert.Equal(t, int32(2), aws.ToInt32(got.MetadataOptions.HttpPutResponseHopLimit))
}

func testDescribeByID(t *testing.T, b *backend) {
	run := unique("run")
	out := launch(t, b, runInput(t, b, run))
	id := aws.ToString(out.Instances[0].InstanceId)

	resp, err := b.ec2.DescribeInstances(t.Context(),
		&ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	require.Len(t, resp.Reservations, 1)
	assert.Equal(t, aws.ToString(out.ReservationId),
		aws.ToString(resp.Reservations[0].ReservationId))
	require.Len(t, resp.Reservations[0].Instances, 1)
	got := resp.Reservations[0].Instances[0]
	assert.Equal(t, id, aws.ToString(got.InstanceId))
	assert.Equal(t, run, tagValue(got.Tags, runTag))
	assert.Equal(t, instanceType, got.InstanceType)
}

func testDescribeFilters(t *testing.T, b *backend) {
	run := unique("run")
	ids := map[string]string{}
	for _, role := range []string{"keep", "end"} {
		in := runInput(t, b, run)
		in.TagSpecifications[0].Tags = append(in.TagSpecifications[0].Tags,
			ec2types.Tag{Key: aws.String("runctl:role"), Value: aws.String(role)})
		ids[role] = aws.ToString(launch(t, b, in).Instances[0].InstanceId)
	}
	live := filter("instance-state-name", "pending", "running")

	assert.ElementsMatch(t, []string{ids["keep"]},
		instanceIDs(byTag(t, b, run, filter("tag:runctl:role", "keep"))))
	assert.ElementsMatch(t, []string{ids["keep"], ids["end"]}, instanceIDs(byTag(t, b, run, live)))

	terminate(t, b, ids["end"])
	waitState(t, b, ids["end"], ec2types.InstanceStateNameTerminated)
	assert.ElementsMatch(t, []string{ids["keep"]}, instanceIDs(byTag(t, b, run, live)))
	assert.ElementsMatch(t, []string{ids["end"]},
		instanceIDs(byTag(t, b, run, filter("instance-state-name", "terminated"))))
}

func testDescribeLifecycleFilter(t *testing.T, b *backend) {
	run := unique("run")
	launch(t, b, runInput(t, b, run))
	spot := runInput(t, b, run)
	spot.InstanceMarketOptions = spotMarket()
	spotID := aws.ToString(launch(t, b, spot).Instances[0].InstanceId)

	_, err := b.ec2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{filter("instance-lifecycle", "spot")}})
	b.motoGap(t, "ec2-lifecycle-filter", err != nil)
	got := byTag(t, b, run, filter("instance-lifecycle", "spot"))
	assert.ElementsMatch(t, []string{spotID}, instanceIDs(got))
}

func testDescribeNotFound(t *testing.T, b *backend) {
	_, err := b.ec2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{
		InstanceIds: []string{missingInstance}})
	code, status := apiError(t, err)
	assert.Equal(t, "InvalidInstanceID.NotFound", code)
	assert.Equal(t, 400, status)

	_, err = b.ec2.TerminateInstances(t.Context(), &ec2.TerminateInstancesInput{
		InstanceIds: []string{missingInstance}})
	code, status = apiError(t, err)
	assert.Equal(t, "InvalidInstanceID.NotFound", code)
	assert.Equal(t, 400, status)
}

func testDescribeMalformed(t *testing.T, b *backend) {
	for _, id := range []string{"i-zz", "bogus"} {
		_, err := b.ec2.DescribeInstances(t.Context(),
			&ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		code, status := apiError(t, err)
		b.motoGap(t, "ec2-malformed-id", code == "InvalidInstanceID.NotFound")
		assert.Equal(t, "InvalidInstanceID.Malformed", code, "instance ID %q", id)
		assert.Equal(t, 400, status, "instance ID %q", id)
	}
}

func testTerminate(t *testing.T, b *backend) {
	out := launch(t, b, runInput(t, b, unique("run")))
	id := aws.ToString(out.Instances[0].InstanceId)

	change := terminate(t, b, id)
	assert.Equal(t, ec2types.InstanceStateNameShuttingDown, change.CurrentState.Name)
	assert.Equal(t, int32(32), aws.ToInt32(change.CurrentState.Code))
	assert.Contains(t, []ec2types.InstanceStateName{ec2types.InstanceStateNamePending,
		ec2types.InstanceStateNameRunning}, change.PreviousState.Name)

	got := waitState(t, b, id, ec2types.InstanceStateNameTerminated)
	assert.Equal(t, int32(48), aws.ToInt32(got.State.Code))
	require.NotNil(t, got.StateReason, "a terminated instance says why")
	assert.Equal(t, "Client.UserInitiatedShutdown", aws.ToString(got.StateReason.Code))
	assert.True(t, strings.HasPrefix(aws.ToString(got.StateTransitionReason), "User initiated"),
		"transition reason %q", aws.ToString(got.StateTransitionReason))
}

// testTerminateTwice terminates an instance that is already gone, as
// `runctl aws terminate --force` may: EC2 answers success and reports it
// terminated before and after.
func testTerminateTwice(t *testing.T, b *backend) {
	id := aws.ToString(launch(t, b, runInput(t, b, unique("run"))).Instances[0].InstanceId)
	terminate(t, b, id)
	waitState(t, b, id, ec2types.InstanceStateNameTerminated)

	change := terminate(t, b, id)
	b.motoGap(t, "ec2-terminate-terminated",
		change.CurrentState.Name == ec2types.InstanceStateNameShuttingDown)
	assert.Equal(t, ec2types.InstanceStateNameTerminated, change.PreviousState.Name)
	assert.Equal(t, ec2types.InstanceStateNameTerminated, change.CurrentState.Name)
}

func testCreateTags(t *testing.T, b *backend) {
	run := unique("run")
	id := aws.ToString(launch(t, b, runInput(t, b, run)).Instances[0].InstanceId)
	tag := func(kv ...string) {
		t.Helper()
		var tags []ec2types.Tag
		for i := 0; i < len(kv); i += 2 {
			tags = append(tags, ec2types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		_, err := b.ec2.CreateTags(t.Context(),
			&ec2.CreateTagsInput{Resources: []string{id}, Tags: tags})
		require.NoError(t, err)
	}

	tag("Name", "first", "runctl:job", "j-1")
	tag("Name", "second")

	got := describe(t, b, id)
	assert.Equal(t, "second", tagValue(got.Tags, "Name"), "CreateTags replaces a key's value")
	assert.Equal(t, "j-1", tagValue(got.Tags, "runctl:job"))
	assert.Equal(t, run, tagValue(got.Tags, runTag), "tags from launch stay")
	assert.Len(t, got.Tags, 3)
}

func testCreateTagsNotFound(t *testing.T, b *backend) {
	_, err := b.ec2.CreateTags(t.Context(), &ec2.CreateTagsInput{
		Resources: []string{missingInstance},
		Tags:      []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("x")}},
	})
	b.motoGap(t, "ec2-create-tags-missing", err == nil)
	code, status := apiError(t, err)
	assert.Equal(t, "InvalidInstanceID.NotFound", code)
	assert.Equal(t, 400, status)
}

// testSpotPrices asks what runctl's pricing asks: the current Linux price
// of one type, which comes back per zone as a decimal string.
func testSpotPrices(t *testing.T, b *backend) {
	out, err := b.ec2.DescribeSpotPriceHistory(t.Context(), spotPriceInput("Linux/UNIX"))
	require.NoError(t, err)

	zones := map[string]bool{}
	for _, p := range out.SpotPriceHistory {
		zone := aws.ToString(p.AvailabilityZone)
		zones[zone] = true
		assert.True(t, strings.HasPrefix(zone, region), "zone %q", zone)
		assert.Equal(t, instanceType, p.InstanceType)
		usd, err := strconv.ParseFloat(aws.ToString(p.SpotPrice), 64)
		if assert.NoError(t, err, "spot price %q", aws.ToString(p.SpotPrice)) {
			assert.Positive(t, usd)
		}
		assert.NotNil(t, p.Timestamp)
	}
	assert.GreaterOrEqual(t, len(zones), 2, "prices per zone, got zones %v", zones)
}

func testSpotPricesProduct(t *testing.T, b *backend) {
	for _, product := range []string{"Linux/UNIX", "Windows"} {
		out, err := b.ec2.DescribeSpotPriceHistory(t.Context(), spotPriceInput(product))
		require.NoError(t, err)
		require.NotEmpty(t, out.SpotPriceHistory, "no %s prices", product)
		b.motoGap(t, "ec2-spot-product", slices.ContainsFunc(out.SpotPriceHistory,
			func(p ec2types.SpotPrice) bool { return string(p.ProductDescription) != product }))
		for _, p := range out.SpotPriceHistory {
			assert.Equal(t, product, string(p.ProductDescription))
		}
	}
}

func testInstanceTypes(t *testing.T, b *backend) {
	out, err := b.ec2.DescribeInstanceTypes(t.Context(), &ec2.DescribeInstanceTypesInput{
		InstanceTypes: []ec2types.InstanceType{instanceType}})
	require.NoError(t, err)
	require.Len(t, out.InstanceTypes, 1)
	it := out.InstanceTypes[0]
	assert.Equal(t, instanceType, it.InstanceType)
	assert.Equal(t, int32(2), aws.ToInt32(it.VCpuInfo.DefaultVCpus))
	assert.Equal(t, int64(1024), aws.ToInt64(it.MemoryInfo.SizeInMiB))
	assert.Contains(t, it.ProcessorInfo.SupportedArchitectures, ec2types.ArchitectureTypeX8664)

	_, err = b.ec2.DescribeInstanceTypes(t.Context(), &ec2.DescribeInstanceTypesInput{
		InstanceTypes: []ec2types.InstanceType{"t3.nope"}})
	code, status := apiError(t, err)
	assert.Equal(t, "InvalidInstanceType", code)
	assert.Equal(t, 400, status)
}

func testImages(t *testing.T, b *backend) {
	ami := b.image(t)
	out, err := b.ec2.DescribeImages(t.Context(),
		&ec2.DescribeImagesInput{ImageIds: []string{ami}})
	require.NoError(t, err)
	require.Len(t, out.Images, 1)
	im := out.Images[0]
	assert.Equal(t, ami, aws.ToString(im.ImageId))
	assert.Equal(t, ec2types.ArchitectureValuesX8664, im.Architecture)
	assert.Equal(t, ec2types.ImageStateAvailable, im.State)
	assert.NotEmpty(t, aws.ToString(im.RootDeviceName))

	for id, want := range map[string]string{
		"ami-0123456789abcdef0": "InvalidAMIID.NotFound",
		"bogus":                 "InvalidAMIID.Malformed",
	} {
		_, err := b.ec2.DescribeImages(t.Context(), &ec2.DescribeImagesInput{ImageIds: []string{id}})
		code, status := apiError(t, err)
		assert.Equal(t, want, code, "image %q", id)
		assert.Equal(t, 400, status, "image %q", id)
	}
}

func testSubnets(t *testing.T, b *backend) {
	all, err := b.ec2.DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{
		Filters: []ec2types.Filter{filter("default-for-az", "true")}})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(all.Subnets), 2, "a default subnet per zone")
	for _, s := range all.Subnets {
		assertPrefix(t, aws.ToString(s.SubnetId), "subnet-")
		assertPrefix(t, aws.ToString(s.VpcId), "vpc-")
		assertPrefix(t, aws.ToString(s.AvailabilityZone), region)
		assert.Equal(t, ec2types.SubnetStateAvailable, s.State)
		assert.True(t, aws.ToBool(s.DefaultForAz))
	}

	zone := aws.ToString(all.Subnets[0].AvailabilityZone)
	one, err := b.ec2.DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{
		Filters: []ec2types.Filter{
			filter("availability-zone", zone), filter("default-for-az", "true"),
		},
	})
	require.NoError(t, err)
	require.Len(t, one.Subnets, 1, "one default subnet in %s", zone)
	assert.Equal(t, zone, aws.ToString(one.Subnets[0].AvailabilityZone))
}

// image resolves the AL2023 x86_64 AMI through the backend's own SSM, as
// runctl does; each backend has its own AMI IDs.
func (b *backend) image(t *testing.T) string {
	t.Helper()
	b.amiOnce.Do(func() {
		out, err := b.ssm.GetParameter(t.Context(),
			&ssm.GetParameterInput{Name: aws.String(al2023Param)})
		if err != nil {
			b.amiErr = err
			return
		}
		b.ami = aws.ToString(out.Parameter.Value)
	})
	require.NoError(t, b.amiErr, "resolving %s", al2023Param)
	return b.ami
}

// runInput is one t3.micro of the backend's AL2023 AMI, tagged with run.
func runInput(t *testing.T, b *backend, run string) *ec2.RunInstancesInput {
	t.Helper()
	return &ec2.RunInstancesInput{
		ImageId: aws.String(b.image(t)), InstanceType: instanceType,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		TagSpecifications: []ec2types.TagSpecification{{
			ResourceType: ec2types.ResourceTypeInstance,
			Tags:         []ec2types.Tag{{Key: aws.String(runTag), Value: aws.String(run)}},
		}},
	}
}

func spotMarket() *ec2types.InstanceMarketOptionsRequest {
	return &ec2types.InstanceMarketOptionsRequest{
		MarketType: ec2types.MarketTypeSpot,
		SpotOptions: &ec2types.SpotMarketOptions{
			SpotInstanceType:             ec2types.SpotInstanceTypeOneTime,
			InstanceInterruptionBehavior: ec2types.InstanceInterruptionBehaviorTerminate,
		},
	}
}

func spotPriceInput(product string) *ec2.DescribeSpotPriceHistoryInput {
	return &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes:       []ec2types.InstanceType{instanceType},
		ProductDescriptions: []string{product},
		StartTime:           aws.Time(time.Now()),
	}
}

// launch runs in and terminates what it launched when the test ends, on a
// context of its own since the test's is cancelled by then.
func launch(t *testing.T, b *backend, in *ec2.RunInstancesInput) *ec2.RunInstancesOutput {
	t.Helper()
	out, err := tryLaunch(t, b, in)
	require.NoError(t, err)
	return out
}

// tryLaunch is launch for a call that may fail; what it launches is still
// terminated when the test ends.
func tryLaunch(
	t *testing.T,
	b *backend,
	in *ec2.RunInstancesInput,
) (*ec2.RunInstancesOutput, error) {
	t.Helper()
	out, err := b.ec2.RunInstances(t.Context(), in)
	if err != nil {
		return nil, err
	}
	ids := instanceIDs(out.Instances)
	t.Cleanup(func() {
		ctx, cancel := cleanupCtx()
		defer cancel()
		b.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	})
	return out, nil
}

func terminate(t *testing.T, b *backend, id string) ec2types.InstanceStateChange {
	t.Helper()
	out, err := b.ec2.TerminateInstances(t.Context(),
		&ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	require.Len(t, out.TerminatingInstances, 1)
	assert.Equal(t, id, aws.ToString(out.TerminatingInstances[0].InstanceId))
	return out.TerminatingInstances[0]
}

func describe(t *testing.T, b *backend, id string) ec2types.Instance {
	t.Helper()
	out, err := b.ec2.DescribeInstances(t.Context(),
		&ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	require.Len(t, out.Reservations, 1)
	require.Len(t, out.Reservations[0].Instances, 1)
	return out.Reservations[0].Instances[0]
}

// byTag lists the instances a body launched under run, narrowed by more
// filters.
func byTag(t *testing.T, b *backend, run string, more ...ec2types.Filter) []ec2types.Instance {
	t.Helper()
	out, err := b.ec2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{
		Filters: append([]ec2types.Filter{filter("tag:"+runTag, run)}, more...)})
	require.NoError(t, err)
	var list []ec2types.Instance
	for _, r := range out.Reservations {
		list = append(list, r.Instances...)
	}
	return list
}

func waitState(
	t *testing.T,
	b *backend,
	id string,
	want ec2types.InstanceStateName,
) ec2types.Instance {
	t.Helper()
	var got ec2types.Instance
	eventually(t, stateLimit, id+" "+string(want), func() (bool, string) {
		got = describe(t, b, id)
		return got.State.Name == want, string(got.State.Name)
	})
	return got
}

func assertPrefix(t *testing.T, got, prefix string) {
	t.Helper()
	assert.True(t, strings.HasPrefix(got, prefix), "%q does not start with %q", got, prefix)
}

func filter(name string, values ...string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String(name), Values: values}
}

func instanceIDs(list []ec2types.Instance) []string {
	ids := make([]string, 0, len(list))
	for _, in := range list {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	return ids
}

func tagValue(tags []ec2types.Tag, key string) string {
	i := slices.IndexFunc(tags, func(t ec2types.Tag) bool { return aws.ToString(t.Key) == key })
	if i < 0 {
		return ""
	}
	return aws.ToString(tags[i].Value)
}
