package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/runctl/runctl/internal/prices"
)

// The catalogue is what the sandbox's region looks like: zones, one default
// subnet per zone, the public AMIs and their SSM parameters, instance types
// and prices. All of it is derived from the region name, so every process
// serving a state directory agrees on it without storing it.

// zoneLetters are the zones every sandbox region has.
const zoneLetters = "abcd"

// accountID is the sandbox's AWS account.
const accountID = "123456789012"

// zone is one availability zone and its default subnet.
type zone struct {
	Name     string // us-east-1a
	ID       string // use1-az1
	SubnetID string
	CIDR     string
	Index    int
}

// zones returns the region's zones in order.
func zones(region string) []zone {
	out := make([]zone, len(zoneLetters))
	for i, l := range zoneLetters {
		name := region + string(l)
		out[i] = zone{
			Name:     name,
			ID:       fmt.Sprintf("%s-az%d", regionShort(region), i+1),
			SubnetID: "subnet-" + hashHex("subnet/"+name, 17),
			CIDR:     fmt.Sprintf("172.31.%d.0/20", i*16),
			Index:    i,
		}
	}
	return out
}

// vpcID is the region's default VPC.
func vpcID(region string) string { return "vpc-" + hashHex("vpc/"+region, 17) }

// regionShort turns us-east-1 into use1, the prefix of zone IDs.
func regionShort(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 || parts[1] == "" {
		return region
	}
	return parts[0] + parts[1][:1] + parts[2]
}

// image is one public AMI and the SSM parameter that names it.
type image struct {
	Param       string
	Name        string
	Description string
	Arch        string // x86_64 or arm64
	RootDevice  string
	RootSizeGiB int
	ID          string
}

// publicImages lists the public parameters the sandbox resolves. The AMI IDs
// differ per region, as they do in AWS.
var publicImages = []image{
	alImage("al2023-ami-kernel-default-x86_64", "al2023-ami-2023.9.20251110.0-kernel-6.12-x86_64", "x86_64"),
	alImage("al2023-ami-kernel-default-arm64", "al2023-ami-2023.9.20251110.0-kernel-6.12-arm64", "arm64"),
	alImage("al2023-ami-kernel-6.1-x86_64", "al2023-ami-2023.9.20251110.0-kernel-6.1-x86_64", "x86_64"),
	alImage("al2023-ami-kernel-6.1-arm64", "al2023-ami-2023.9.20251110.0-kernel-6.1-arm64", "arm64"),
	alImage("al2023-ami-minimal-kernel-default-x86_64", "al2023-ami-minimal-2023.9.20251110.0-kernel-6.12-x86_64", "x86_64"),
	alImage("al2023-ami-minimal-kernel-default-arm64", "al2023-ami-minimal-2023.9.20251110.0-kernel-6.12-arm64", "arm64"),
	alImage("amzn2-ami-hvm-x86_64-gp2", "amzn2-ami-hvm-2.0.20251110.0-x86_64-gp2", "x86_64"),
	alImage("amzn2-ami-hvm-arm64-gp2", "amzn2-ami-hvm-2.0.20251110.0-arm64-gp2", "arm64"),
	dlImage("x86_64", "base-oss-nvidia-driver-gpu-amazon-linux-2023",
		"Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) 20251101"),
	dlImage("arm64", "base-oss-nvidia-driver-gpu-amazon-linux-2023",
		"Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) 20251101"),
	dlImage("x86_64", "oss-nvidia-driver-gpu-pytorch-2.7-amazon-linux-2023",
		"Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.7 (Amazon Linux 2023) 20251101"),
	dlImage("arm64", "oss-nvidia-driver-gpu-pytorch-2.7-amazon-linux-2023",
		"Deep Learning ARM64 OSS Nvidia Driver AMI GPU PyTorch 2.7 (Amazon Linux 2023) 20251101"),
	dlImage("x86_64", "base-oss-nvidia-driver-gpu-ubuntu-22.04",
		"Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 20251101"),
	{
		Param: "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
		Name:  "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251101", Arch: "x86_64",
		RootDevice: "/dev/sda1", RootSizeGiB: 8,
	},
	{
		Param: "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id",
		Name:  "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20251101", Arch: "arm64",
		RootDevice: "/dev/sda1", RootSizeGiB: 8,
	},
}

func alImage(param, name, arch string) image {
	return image{
		Param: "/aws/service/ami-amazon-linux-latest/" + param, Name: name,
		Description: "Amazon Linux AMI " + name, Arch: arch, RootDevice: "/dev/xvda", RootSizeGiB: 8,
	}
}

func dlImage(arch, flavour, name string) image {
	return image{
		Param: "/aws/service/deeplearning/ami/" + arch + "/" + flavour + "/latest/ami-id",
		Name:  name, Description: name, Arch: arch, RootDevice: "/dev/xvda", RootSizeGiB: 75,
	}
}

// images returns the public AMIs with their IDs in region.
func images(region string) []image {
	out := slices.Clone(publicImages)
	for i := range out {
		out[i].ID = "ami-" + hashHex(region+"/"+out[i].Param, 17)
	}
	return out
}

// imageByID finds an AMI of region by ID.
func imageByID(region, id string) (image, bool) {
	for _, im := range images(region) {
		if im.ID == id {
			return im, true
		}
	}
	return image{}, false
}

// offeredTypes returns the instance types offered in region: those the
// embedded table prices there, or every known type for a region the table
// does not cover, so an unusual region still works without prices.
func offeredTypes(region string) []string {
	var out []string
	for _, t := range prices.Types() {
		if _, ok := prices.OnDemand(region, t); ok {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return prices.Types()
	}
	return out
}

// spotPrice derives the spot price of itype in a zone from its on-demand
// price: between 25% and 40% of it, fixed per type and zone, so clients see
// zones differ and tests see the same numbers every run.
func spotPrice(region, zoneName, itype string) (float64, bool) {
	od, ok := prices.OnDemand(region, itype)
	if !ok {
		return 0, false
	}
	frac := 0.25 + 0.15*float64(hashUint(itype+"|"+zoneName)%1000)/999
	return math.Round(od*frac*10000) / 10000, true
}

// hashHex returns n lowercase hex digits derived from s.
func hashHex(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

func hashUint(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(sum[:8])
}

// regionLocation is how the Pricing API names a region, and the prefix its
// usage types carry.
type regionLocation struct {
	Name        string
	UsagePrefix string
}

var locations = map[string]regionLocation{
	"us-east-1":      {"US East (N. Virginia)", ""},
	"us-east-2":      {"US East (Ohio)", "USE2-"},
	"us-west-1":      {"US West (N. California)", "USW1-"},
	"us-west-2":      {"US West (Oregon)", "USW2-"},
	"ca-central-1":   {"Canada (Central)", "CAN1-"},
	"eu-west-1":      {"EU (Ireland)", "EU-"},
	"eu-west-2":      {"EU (London)", "EUW2-"},
	"eu-west-3":      {"EU (Paris)", "EUW3-"},
	"eu-central-1":   {"EU (Frankfurt)", "EUC1-"},
	"eu-north-1":     {"EU (Stockholm)", "EUN1-"},
	"ap-northeast-1": {"Asia Pacific (Tokyo)", "APN1-"},
	"ap-northeast-2": {"Asia Pacific (Seoul)", "APN2-"},
	"ap-southeast-1": {"Asia Pacific (Singapore)", "APS1-"},
	"ap-southeast-2": {"Asia Pacific (Sydney)", "APS2-"},
	"ap-south-1":     {"Asia Pacific (Mumbai)", "APS3-"},
	"sa-east-1":      {"South America (Sao Paulo)", "SAE1-"},
}

// location returns the Pricing API's name for region.
func location(region string) regionLocation {
	if l, ok := locations[region]; ok {
		return l
	}
	return regionLocation{Name: region, UsagePrefix: strings.ToUpper(regionShort(region)) + "-"}
}
