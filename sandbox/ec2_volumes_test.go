package sandbox

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDescribeVolumes(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	ctx := context.Background()

	// Two instances: the one under test has an encrypted 20 GiB root and a
	// kept data volume; the other is there to be filtered out.
	in := runInputAMI(imageFor(t, al2023x86), "t3.micro", false)
	in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVolume,
		Tags: []ec2types.Tag{{Key: aws.String("runctl:run"), Value: aws.String("run-1")}}}}
	in.BlockDeviceMappings = []ec2types.BlockDeviceMapping{
		{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(20),
			Encrypted: aws.Bool(true), VolumeType: ec2types.VolumeTypeGp3}},
		{DeviceName: aws.String("/dev/sdf"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(10),
			DeleteOnTermination: aws.Bool(false)}},
	}
	out, err := c.ec2.RunInstances(ctx, in)
	require.NoError(t, err)
	inst := out.Instances[0]
	id := aws.ToString(inst.InstanceId)
	rootID := aws.ToString(inst.BlockDeviceMappings[0].Ebs.VolumeId)
	_, err = c.ec2.RunInstances(ctx, runInputAMI(imageFor(t, al2023x86), "t3.micro", false))
	require.NoError(t, err)

	vols, err := c.ec2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{rootID}})
	require.NoError(t, err)
	require.Len(t, vols.Volumes, 1)
	root := vols.Volumes[0]
	assert.Equal(t, int32(20), aws.ToInt32(root.Size))
	assert.True(t, aws.ToBool(root.Encrypted))
	assert.Regexp(t, `^arn:aws:kms:us-east-1:123456789012:key/`, aws.ToString(root.KmsKeyId))
	assert.Equal(t, ec2types.VolumeTypeGp3, root.VolumeType)
	assert.Equal(t, int32(3000), aws.ToInt32(root.Iops))
	assert.Equal(t, ec2types.VolumeStateInUse, root.State)
	assert.Equal(t, "us-east-1a", aws.ToString(root.AvailabilityZone))
	assert.Regexp(t, `^snap-`, aws.ToString(root.SnapshotId))
	require.Len(t, root.Attachments, 1)
	assert.Equal(t, id, aws.ToString(root.Attachments[0].InstanceId))
	assert.Equal(t, "/dev/xvda", aws.ToString(root.Attachments[0].Device))
	assert.Equal(t, ec2types.VolumeAttachmentStateAttached, root.Attachments[0].State)
	assert.True(t, aws.ToBool(root.Attachments[0].DeleteOnTermination))
	require.Len(t, root.Tags, 1)
	assert.Equal(t, "run-1", aws.ToString(root.Tags[0].Value))

	filter := func(name string, values ...string) []ec2types.Filter {
		return []ec2types.Filter{{Name: aws.String(name), Values: values}}
	}
	tests := []struct {
		name    string
		filters []ec2types.Filter
		want    int
	}{
		{"all", nil, 3},
		{"by instance", filter("attachment.instance-id", id), 2},
		{"by tag", filter("tag:runctl:run", "run-1"), 2},
		{"by other tag value", filter("tag:runctl:run", "run-2"), 0},
		{"by volume id", filter("volume-id", rootID), 1},
		{"encrypted", filter("encrypted", "true"), 1},
		{"by size", filter("size", "10"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ec2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: tt.filters})
			require.NoError(t, err)
			assert.Len(t, got.Volumes, tt.want)
		})
	}

	// Terminating deletes the root volume and keeps the data volume.
	_, err = c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	waitFor(t, 2*time.Second, "terminated", func() bool {
		i, err := srv.Instance(id)
		return err == nil && i.State == "terminated"
	})
	left, err := c.ec2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: filter("tag:runctl:run", "run-1")})
	require.NoError(t, err)
	require.Len(t, left.Volumes, 1)
	assert.Equal(t, ec2types.VolumeStateAvailable, left.Volumes[0].State)
	assert.Empty(t, left.Volumes[0].Attachments)
	assert.Equal(t, int32(10), aws.ToInt32(left.Volumes[0].Size))
}

func TestDescribeVolumesErrors(t *testing.T) {
	c := newClients(start(t, Options{Fast: true}), 1)
	tests := []struct {
		name string
		in   *ec2.DescribeVolumesInput
		want string
	}{
		{"unknown volume", &ec2.DescribeVolumesInput{VolumeIds: []string{"vol-0123456789abcdef0"}},
			"InvalidVolume.NotFound"},
		{"malformed id", &ec2.DescribeVolumesInput{VolumeIds: []string{"volume-1"}},
			"InvalidVolumeID.Malformed"},
		{"unknown filter", &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{
			{Name: aws.String("colour"), Values: []string{"red"}}}}, "InvalidParameterValue"},
		{"ids with paging", &ec2.DescribeVolumesInput{VolumeIds: []string{"vol-0123456789abcdef0"},
			MaxResults: aws.Int32(5)}, "InvalidParameterCombination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ec2.DescribeVolumes(context.Background(), tt.in)
			code, status := apiCode(t, err)
			assert.Equal(t, tt.want, code)
			assert.Equal(t, 400, status)
		})
	}
}

func TestDescribeVolumesPages(t *testing.T) {
	c := newClients(start(t, Options{Fast: true}), 1)
	in := runInputAMI(imageFor(t, al2023x86), "t3.micro", false)
	for _, dev := range []string{"f", "g", "h", "i", "j"} {
		in.BlockDeviceMappings = append(in.BlockDeviceMappings, ec2types.BlockDeviceMapping{
			DeviceName: aws.String("/dev/sd" + dev), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(1)}})
	}
	_, err := c.ec2.RunInstances(context.Background(), in)
	require.NoError(t, err)

	p := ec2.NewDescribeVolumesPaginator(c.ec2, &ec2.DescribeVolumesInput{MaxResults: aws.Int32(5)})
	seen := map[string]bool{}
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		pages++
		for _, v := range page.Volumes {
			seen[aws.ToString(v.VolumeId)] = true
		}
	}
	assert.Equal(t, 2, pages)
	assert.Len(t, seen, 6, "every volume once")
}
