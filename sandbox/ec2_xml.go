package sandbox

import (
	"encoding/xml"
	"strconv"
	"time"

	"github.com/runctl/runctl/internal/prices"
)

// The EC2 query protocol answers in XML whose element names are the
// lower-camel ec2Name of each member; lists are wrapped items.

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type xmlState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xmlReason struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type xmlPlacement struct {
	AvailabilityZone   string `xml:"availabilityZone"`
	AvailabilityZoneID string `xml:"availabilityZoneId"`
	GroupName          string `xml:"groupName"`
	Tenancy            string `xml:"tenancy"`
}

type xmlProfile struct {
	Arn string `xml:"arn"`
	ID  string `xml:"id"`
}

type xmlMetadataOptions struct {
	State        string `xml:"state"`
	HTTPTokens   string `xml:"httpTokens"`
	HopLimit     int    `xml:"httpPutResponseHopLimit"`
	HTTPEndpoint string `xml:"httpEndpoint"`
	HTTPIPv6     string `xml:"httpProtocolIpv6"`
	Tags         string `xml:"instanceMetadataTags"`
}

type xmlEBS struct {
	VolumeID            string `xml:"volumeId"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type xmlBlockDevice struct {
	DeviceName string `xml:"deviceName"`
	EBS        xmlEBS `xml:"ebs"`
}

type xmlGroup struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type xmlInstance struct {
	InstanceID            string             `xml:"instanceId"`
	ImageID               string             `xml:"imageId"`
	State                 xmlState           `xml:"instanceState"`
	PrivateDNSName        string             `xml:"privateDnsName"`
	DNSName               string             `xml:"dnsName"`
	Reason                string             `xml:"reason"`
	KeyName               string             `xml:"keyName,omitempty"`
	AmiLaunchIndex        int                `xml:"amiLaunchIndex"`
	InstanceType          string             `xml:"instanceType"`
	LaunchTime            string             `xml:"launchTime"`
	Placement             xmlPlacement       `xml:"placement"`
	MonitoringState       string             `xml:"monitoring>state"`
	SubnetID              string             `xml:"subnetId,omitempty"`
	VpcID                 string             `xml:"vpcId,omitempty"`
	PrivateIP             string             `xml:"privateIpAddress,omitempty"`
	SourceDestCheck       bool               `xml:"sourceDestCheck"`
	Groups                []xmlGroup         `xml:"groupSet>item"`
	StateReason           *xmlReason         `xml:"stateReason,omitempty"`
	Architecture          string             `xml:"architecture"`
	RootDeviceType        string             `xml:"rootDeviceType"`
	RootDeviceName        string             `xml:"rootDeviceName"`
	BlockDevices          []xmlBlockDevice   `xml:"blockDeviceMapping>item"`
	VirtualizationType    string             `xml:"virtualizationType"`
	InstanceLifecycle     string             `xml:"instanceLifecycle,omitempty"`
	SpotInstanceRequestID string             `xml:"spotInstanceRequestId,omitempty"`
	ClientToken           string             `xml:"clientToken,omitempty"`
	Tags                  []xmlTag           `xml:"tagSet>item"`
	Hypervisor            string             `xml:"hypervisor"`
	IAMInstanceProfile    *xmlProfile        `xml:"iamInstanceProfile,omitempty"`
	EBSOptimized          bool               `xml:"ebsOptimized"`
	ENASupport            bool               `xml:"enaSupport"`
	MetadataOptions       xmlMetadataOptions `xml:"metadataOptions"`
	PlatformDetails       string             `xml:"platformDetails"`
	UsageOperation        string             `xml:"usageOperation"`
}

type xmlReservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Groups        []xmlGroup    `xml:"groupSet>item"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

type runInstancesResponse struct {
	XMLName   xml.Name `xml:"RunInstancesResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	xmlReservation
}

type describeInstancesResponse struct {
	XMLName      xml.Name         `xml:"DescribeInstancesResponse"`
	Xmlns        string           `xml:"xmlns,attr"`
	RequestID    string           `xml:"requestId"`
	Reservations []xmlReservation `xml:"reservationSet>item"`
}

type xmlStateChange struct {
	InstanceID    string   `xml:"instanceId"`
	CurrentState  xmlState `xml:"currentState"`
	PreviousState xmlState `xml:"previousState"`
}

type terminateInstancesResponse struct {
	XMLName   xml.Name         `xml:"TerminateInstancesResponse"`
	Xmlns     string           `xml:"xmlns,attr"`
	RequestID string           `xml:"requestId"`
	Instances []xmlStateChange `xml:"instancesSet>item"`
}

type createTagsResponse struct {
	XMLName   xml.Name `xml:"CreateTagsResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	Return    bool     `xml:"return"`
}

type xmlSpotPrice struct {
	InstanceType       string `xml:"instanceType"`
	ProductDescription string `xml:"productDescription"`
	SpotPrice          string `xml:"spotPrice"`
	Timestamp          string `xml:"timestamp"`
	AvailabilityZone   string `xml:"availabilityZone"`
	AvailabilityZoneID string `xml:"availabilityZoneId"`
}

type spotPriceHistoryResponse struct {
	XMLName   xml.Name       `xml:"DescribeSpotPriceHistoryResponse"`
	Xmlns     string         `xml:"xmlns,attr"`
	RequestID string         `xml:"requestId"`
	Prices    []xmlSpotPrice `xml:"spotPriceHistorySet>item"`
	NextToken string         `xml:"nextToken"`
}

type xmlOffering struct {
	InstanceType string `xml:"instanceType"`
	LocationType string `xml:"locationType"`
	Location     string `xml:"location"`
}

type typeOfferingsResponse struct {
	XMLName   xml.Name      `xml:"DescribeInstanceTypeOfferingsResponse"`
	Xmlns     string        `xml:"xmlns,attr"`
	RequestID string        `xml:"requestId"`
	Offerings []xmlOffering `xml:"instanceTypeOfferingSet>item"`
}

type xmlGPU struct {
	Name         string `xml:"name"`
	Manufacturer string `xml:"manufacturer"`
	Count        int    `xml:"count"`
	MemoryMiB    int    `xml:"memoryInfo>sizeInMiB"`
}

type xmlGPUInfo struct {
	GPUs           []xmlGPU `xml:"gpus>item"`
	TotalMemoryMiB int      `xml:"totalGpuMemoryInMiB"`
}

type xmlInstanceType struct {
	InstanceType          string      `xml:"instanceType"`
	CurrentGeneration     bool        `xml:"currentGeneration"`
	FreeTierEligible      bool        `xml:"freeTierEligible"`
	UsageClasses          []string    `xml:"supportedUsageClasses>item"`
	RootDeviceTypes       []string    `xml:"supportedRootDeviceTypes>item"`
	VirtualizationTypes   []string    `xml:"supportedVirtualizationTypes>item"`
	BareMetal             bool        `xml:"bareMetal"`
	Hypervisor            string      `xml:"hypervisor"`
	Architectures         []string    `xml:"processorInfo>supportedArchitectures>item"`
	DefaultVCPUs          int         `xml:"vCpuInfo>defaultVCpus"`
	MemoryMiB             int         `xml:"memoryInfo>sizeInMiB"`
	GPUInfo               *xmlGPUInfo `xml:"gpuInfo,omitempty"`
	InstanceStorage       bool        `xml:"instanceStorageSupported"`
	HibernationSupported  bool        `xml:"hibernationSupported"`
	BurstablePerformance  bool        `xml:"burstablePerformanceSupported"`
	DedicatedHosts        bool        `xml:"dedicatedHostsSupported"`
	AutoRecoverySupported bool        `xml:"autoRecoverySupported"`
	BootModes             []string    `xml:"supportedBootModes>item"`
}

type instanceTypesResponse struct {
	XMLName   xml.Name          `xml:"DescribeInstanceTypesResponse"`
	Xmlns     string            `xml:"xmlns,attr"`
	RequestID string            `xml:"requestId"`
	Types     []xmlInstanceType `xml:"instanceTypeSet>item"`
}

type xmlImage struct {
	ImageID            string           `xml:"imageId"`
	ImageLocation      string           `xml:"imageLocation"`
	ImageState         string           `xml:"imageState"`
	ImageOwnerID       string           `xml:"imageOwnerId"`
	CreationDate       string           `xml:"creationDate"`
	IsPublic           bool             `xml:"isPublic"`
	Architecture       string           `xml:"architecture"`
	ImageType          string           `xml:"imageType"`
	Name               string           `xml:"name"`
	Description        string           `xml:"description"`
	RootDeviceType     string           `xml:"rootDeviceType"`
	RootDeviceName     string           `xml:"rootDeviceName"`
	BlockDevices       []xmlImageDevice `xml:"blockDeviceMapping>item"`
	VirtualizationType string           `xml:"virtualizationType"`
	Hypervisor         string           `xml:"hypervisor"`
	ImageOwnerAlias    string           `xml:"imageOwnerAlias"`
	ENASupport         bool             `xml:"enaSupport"`
	PlatformDetails    string           `xml:"platformDetails"`
	UsageOperation     string           `xml:"usageOperation"`
	BootMode           string           `xml:"bootMode"`
	ImdsSupport        string           `xml:"imdsSupport"`
}

type xmlImageDevice struct {
	DeviceName          string `xml:"deviceName"`
	SnapshotID          string `xml:"ebs>snapshotId"`
	VolumeSize          int    `xml:"ebs>volumeSize"`
	DeleteOnTermination bool   `xml:"ebs>deleteOnTermination"`
	VolumeType          string `xml:"ebs>volumeType"`
	Encrypted           bool   `xml:"ebs>encrypted"`
}

type imagesResponse struct {
	XMLName   xml.Name   `xml:"DescribeImagesResponse"`
	Xmlns     string     `xml:"xmlns,attr"`
	RequestID string     `xml:"requestId"`
	Images    []xmlImage `xml:"imagesSet>item"`
}

type xmlSubnet struct {
	SubnetID             string `xml:"subnetId"`
	SubnetArn            string `xml:"subnetArn"`
	State                string `xml:"state"`
	VpcID                string `xml:"vpcId"`
	OwnerID              string `xml:"ownerId"`
	CIDRBlock            string `xml:"cidrBlock"`
	AvailableIPs         int    `xml:"availableIpAddressCount"`
	AvailabilityZone     string `xml:"availabilityZone"`
	AvailabilityZoneID   string `xml:"availabilityZoneId"`
	DefaultForAz         bool   `xml:"defaultForAz"`
	MapPublicIPOnLaunch  bool   `xml:"mapPublicIpOnLaunch"`
	AssignIPv6OnCreation bool   `xml:"assignIpv6AddressOnCreation"`
}

type subnetsResponse struct {
	XMLName   xml.Name    `xml:"DescribeSubnetsResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	RequestID string      `xml:"requestId"`
	Subnets   []xmlSubnet `xml:"subnetSet>item"`
}

type xmlZone struct {
	ZoneName           string `xml:"zoneName"`
	ZoneState          string `xml:"zoneState"`
	RegionName         string `xml:"regionName"`
	ZoneID             string `xml:"zoneId"`
	GroupName          string `xml:"groupName"`
	NetworkBorderGroup string `xml:"networkBorderGroup"`
	OptInStatus        string `xml:"optInStatus"`
	ZoneType           string `xml:"zoneType"`
}

type zonesResponse struct {
	XMLName   xml.Name  `xml:"DescribeAvailabilityZonesResponse"`
	Xmlns     string    `xml:"xmlns,attr"`
	RequestID string    `xml:"requestId"`
	Zones     []xmlZone `xml:"availabilityZoneInfo>item"`
}

// toXML renders an instance record for Run/DescribeInstances.
func (in *instance) toXML(region string) xmlInstance {
	x := xmlInstance{
		InstanceID: in.ID, ImageID: in.ImageID,
		State:          xmlState{Code: stateCodes[in.State], Name: in.State},
		PrivateDNSName: privateDNS(in.PrivateIP, region),
		Reason:         in.TransitionReason, KeyName: in.KeyName,
		InstanceType: in.InstanceType, LaunchTime: awsTime(in.LaunchTime),
		Placement: xmlPlacement{AvailabilityZone: in.Zone,
			AvailabilityZoneID: zoneID(region, in.Zone), Tenancy: "default"},
		MonitoringState: "disabled", SubnetID: in.SubnetID, VpcID: vpcID(region),
		PrivateIP: in.PrivateIP, SourceDestCheck: true,
		Groups:       []xmlGroup{{GroupID: "sg-" + hashHex("sg/"+region, 17), GroupName: "default"}},
		Architecture: in.Arch, RootDeviceType: "ebs", VirtualizationType: "hvm",
		InstanceLifecycle: in.Lifecycle, SpotInstanceRequestID: in.SpotRequestID,
		ClientToken: in.ClientToken, Hypervisor: "xen", ENASupport: true, EBSOptimized: true,
		MetadataOptions: xmlMetadataOptions{State: "applied", HTTPTokens: in.Metadata.HTTPTokens,
			HopLimit: in.Metadata.HopLimit, HTTPEndpoint: in.Metadata.HTTPEndpoint,
			HTTPIPv6: "disabled", Tags: in.Metadata.Tags},
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances",
	}
	if in.ReasonCode != "" {
		x.StateReason = &xmlReason{Code: in.ReasonCode, Message: in.ReasonMessage}
	}
	if in.State == stateTerminated {
		x.PrivateDNSName, x.PrivateIP, x.SubnetID, x.VpcID = "", "", "", ""
	}
	if in.ProfileArn != "" {
		x.IAMInstanceProfile = &xmlProfile{Arn: in.ProfileArn, ID: in.ProfileID}
	}
	for _, t := range in.Tags {
		x.Tags = append(x.Tags, xmlTag(t))
	}
	for i, v := range in.Volumes {
		if i == 0 {
			x.RootDeviceName = v.DeviceName
		}
		if in.State == stateTerminated {
			continue
		}
		x.BlockDevices = append(x.BlockDevices, xmlBlockDevice{DeviceName: v.DeviceName,
			EBS: xmlEBS{VolumeID: v.ID, Status: "attached", AttachTime: awsTime(in.LaunchTime),
				DeleteOnTermination: v.DeleteOnTermination}})
	}
	return x
}

func privateDNS(ip, region string) string {
	if ip == "" {
		return ""
	}
	b := []byte("ip-" + ip)
	for i := range b {
		if b[i] == '.' {
			b[i] = '-'
		}
	}
	if region == "us-east-1" {
		return string(b) + ".ec2.internal"
	}
	return string(b) + "." + region + ".compute.internal"
}

// zoneID maps a zone name of region to its zone ID.
func zoneID(region, name string) string {
	for _, z := range zones(region) {
		if z.Name == name {
			return z.ID
		}
	}
	return ""
}

// typeXML describes an instance type from the embedded table.
func typeXML(spec prices.Spec) xmlInstanceType {
	x := xmlInstanceType{
		InstanceType: spec.Type, CurrentGeneration: true,
		FreeTierEligible: spec.Type == "t3.micro" || spec.Type == "t2.micro",
		UsageClasses:     []string{"on-demand", "spot"}, RootDeviceTypes: []string{"ebs"},
		VirtualizationTypes: []string{"hvm"}, Hypervisor: "nitro",
		Architectures: []string{spec.Arch}, DefaultVCPUs: spec.VCPU, MemoryMiB: spec.MemoryMiB,
		BurstablePerformance: spec.Family()[0] == 't', DedicatedHosts: true,
		AutoRecoverySupported: spec.GPUs == 0, BootModes: []string{"legacy-bios", "uefi"},
	}
	if spec.Arch == "arm64" {
		x.BootModes = []string{"uefi"}
	}
	if spec.GPUs > 0 {
		mem := gpuMemoryMiB(spec.GPUModel)
		x.GPUInfo = &xmlGPUInfo{TotalMemoryMiB: mem * spec.GPUs,
			GPUs: []xmlGPU{{Name: spec.GPUModel, Manufacturer: "NVIDIA", Count: spec.GPUs, MemoryMiB: mem}}}
		x.InstanceStorage = true
	}
	return x
}

// gpuMemoryMiB knows the memory of the GPU models the table names.
func gpuMemoryMiB(model string) int {
	switch model {
	case "T4":
		return 15360
	case "A10G":
		return 22888
	case "V100":
		return 16384
	case "A100":
		return 40960
	case "L4":
		return 22888
	case "H100":
		return 81920
	}
	return 16384
}

// imageXML describes a public AMI.
func imageXML(im image) xmlImage {
	return xmlImage{
		ImageID: im.ID, ImageLocation: "amazon/" + im.Name, ImageState: "available",
		ImageOwnerID: "137112412989", CreationDate: awsTime(time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)),
		IsPublic: true, Architecture: im.Arch, ImageType: "machine", Name: im.Name,
		Description: im.Description, RootDeviceType: "ebs", RootDeviceName: im.RootDevice,
		BlockDevices: []xmlImageDevice{{DeviceName: im.RootDevice,
			SnapshotID: "snap-" + hashHex("snap/"+im.ID, 17), VolumeSize: im.RootSizeGiB,
			DeleteOnTermination: true, VolumeType: "gp3"}},
		VirtualizationType: "hvm", Hypervisor: "xen", ImageOwnerAlias: "amazon", ENASupport: true,
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances", BootMode: "uefi-preferred",
		ImdsSupport: "v2.0",
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
