package sandbox

import (
	"encoding/xml"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Volumes are the EBS volumes attached at launch, kept on their instance's
// record. A volume deleted on termination disappears with its instance; one
// kept after it reads as available and unattached.

type xmlAttachment struct {
	VolumeID            string `xml:"volumeId"`
	InstanceID          string `xml:"instanceId"`
	Device              string `xml:"device"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type xmlVolume struct {
	VolumeID           string          `xml:"volumeId"`
	Size               int             `xml:"size"`
	SnapshotID         string          `xml:"snapshotId"`
	AvailabilityZone   string          `xml:"availabilityZone"`
	Status             string          `xml:"status"`
	CreateTime         string          `xml:"createTime"`
	Attachments        []xmlAttachment `xml:"attachmentSet>item"`
	Tags               []xmlTag        `xml:"tagSet>item,omitempty"`
	VolumeType         string          `xml:"volumeType"`
	Iops               int             `xml:"iops,omitempty"`
	Throughput         int             `xml:"throughput,omitempty"`
	Encrypted          bool            `xml:"encrypted"`
	KMSKeyID           string          `xml:"kmsKeyId,omitempty"`
	MultiAttachEnabled bool            `xml:"multiAttachEnabled"`
}

type volumesResponse struct {
	XMLName   xml.Name    `xml:"DescribeVolumesResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	RequestID string      `xml:"requestId"`
	Volumes   []xmlVolume `xml:"volumeSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

// volumeFilters are the DescribeVolumes filters served, besides tag:KEY.
var volumeFilters = []string{
	"volume-id", "attachment.instance-id", "attachment.device", "attachment.status",
	"attachment.delete-on-termination", "availability-zone", "status", "volume-type",
	"encrypted", "size", "snapshot-id", "tag-key",
}

// ec2DescribeVolumes lists volumes by ID and filter, in ID order, paged by
// MaxResults when no IDs are named.
func (s *Server) ec2DescribeVolumes(f form, id string) (any, error) {
	ids, filters := f.list("VolumeId"), f.filters()
	if err := checkVolumeQuery(ids, filters); err != nil {
		return nil, err
	}
	start, size, err := volumePage(f, len(ids) > 0)
	if err != nil {
		return nil, err
	}
	all, err := s.volumes()
	if err != nil {
		return nil, err
	}
	if missing := missingVolumes(all, ids); len(missing) > 0 {
		return nil, errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.",
			strings.Join(missing, ", "))
	}
	var out []xmlVolume
	for _, v := range all {
		if (len(ids) == 0 || slices.Contains(ids, v.VolumeID)) && volumeMatches(v, filters) {
			out = append(out, v)
		}
	}
	resp := volumesResponse{Xmlns: ec2NS, RequestID: id}
	start = min(start, len(out))
	end := len(out)
	if size > 0 {
		end = min(start+size, len(out))
	}
	resp.Volumes = out[start:end]
	if end < len(out) {
		resp.NextToken = strconv.Itoa(end)
	}
	return resp, nil
}

// checkVolumeQuery rejects malformed volume IDs and unknown filters.
func checkVolumeQuery(ids []string, filters []filter) error {
	for _, v := range ids {
		if !strings.HasPrefix(v, "vol-") || len(v) < 12 {
			return errf(400, "InvalidVolumeID.Malformed", "Invalid id: %q (expecting \"vol-...\")", v)
		}
	}
	for _, fl := range filters {
		if !strings.HasPrefix(fl.Name, "tag:") && !slices.Contains(volumeFilters, fl.Name) {
			return errf(400, "InvalidParameterValue", "The filter '%s' is invalid", fl.Name)
		}
	}
	return nil
}

// volumePage reads MaxResults and NextToken, which EC2 refuses together
// with volume IDs. A size of zero means all.
func volumePage(f form, byID bool) (start, size int, err error) {
	maxResults, token := f.Get("MaxResults"), f.Get("NextToken")
	if byID && (maxResults != "" || token != "") {
		return 0, 0, errf(400, "InvalidParameterCombination", "The parameter volumesSet cannot "+
			"be used with the parameter maxResults")
	}
	if maxResults != "" {
		if size, err = strconv.Atoi(maxResults); err != nil || size < 5 || size > 500 {
			return 0, 0, errf(400, "InvalidParameterValue", "Value ( %s ) for parameter "+
				"maxResults is invalid. Expecting a value between 5 and 500.", maxResults)
		}
	}
	if token != "" {
		if start, err = strconv.Atoi(token); err != nil || start < 0 {
			return 0, 0, errf(400, "InvalidParameterValue", "Invalid value '%s' for nextToken", token)
		}
	}
	return start, size, nil
}

// volumes renders every volume that still exists, sorted by ID.
func (s *Server) volumes() ([]xmlVolume, error) {
	var out []xmlVolume
	err := s.st.view(func(st *state) error {
		for _, in := range st.Instances {
			for i := range in.Volumes {
				if x, ok := volumeXML(in, i, s.opts.Region); ok {
					out = append(out, x)
				}
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].VolumeID < out[j].VolumeID })
	return out, err
}

// volumeXML renders the i-th volume of an instance, or reports that it was
// deleted with the instance.
func volumeXML(in *instance, i int, region string) (xmlVolume, bool) {
	v := in.Volumes[i]
	gone := in.State == stateTerminated
	if gone && v.DeleteOnTermination {
		return xmlVolume{}, false
	}
	x := xmlVolume{VolumeID: v.ID, Size: v.SizeGiB, AvailabilityZone: in.Zone, Status: "in-use",
		CreateTime: awsTime(in.LaunchTime), VolumeType: v.Type, Encrypted: v.Encrypted,
		Attachments: []xmlAttachment{}}
	if i == 0 {
		x.SnapshotID = "snap-" + hashHex("snap/"+in.ImageID, 17)
	}
	if v.Encrypted {
		x.KMSKeyID = "arn:aws:kms:" + region + ":" + accountID + ":key/" + keyUUID(region)
	}
	x.Iops, x.Throughput = volumePerformance(v)
	for _, t := range v.Tags {
		x.Tags = append(x.Tags, xmlTag(t))
	}
	if gone {
		x.Status = "available"
		return x, true
	}
	status := "attached"
	if in.State == stateShuttingDown {
		status = "detaching"
	}
	x.Attachments = append(x.Attachments, xmlAttachment{VolumeID: v.ID, InstanceID: in.ID,
		Device: v.DeviceName, Status: status, AttachTime: awsTime(in.LaunchTime),
		DeleteOnTermination: v.DeleteOnTermination})
	return x, true
}

// volumePerformance returns a volume's IOPS and throughput, with the
// defaults of its type where the launch set none.
func volumePerformance(v volume) (iops, throughput int) {
	iops, throughput = v.Iops, v.Throughput
	switch v.Type {
	case "gp3":
		iops = max(iops, 3000)
		throughput = max(throughput, 125)
	case "gp2":
		iops = min(max(100, 3*v.SizeGiB), 16000)
		throughput = 0
	}
	return iops, throughput
}

// keyUUID is the region's aws/ebs KMS key, in the form of a key ID.
func keyUUID(region string) string {
	h := hashHex("kms/aws/ebs/"+region, 32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func missingVolumes(all []xmlVolume, ids []string) []string {
	var missing []string
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(v xmlVolume) bool { return v.VolumeID == id }) {
			missing = append(missing, id)
		}
	}
	return missing
}

// volumeMatches applies DescribeVolumes filters.
func volumeMatches(v xmlVolume, filters []filter) bool {
	for _, f := range filters {
		if !slices.ContainsFunc(volumeField(v, f.Name), func(val string) bool {
			return matchAny(f.Values, val)
		}) {
			return false
		}
	}
	return true
}

// volumeField returns the values a volume has for a filter name.
func volumeField(v xmlVolume, name string) []string {
	if key, ok := strings.CutPrefix(name, "tag:"); ok {
		var out []string
		for _, t := range v.Tags {
			if t.Key == key {
				out = append(out, t.Value)
			}
		}
		return out
	}
	var out []string
	for _, a := range v.Attachments {
		switch name {
		case "attachment.instance-id":
			out = append(out, a.InstanceID)
		case "attachment.device":
			out = append(out, a.Device)
		case "attachment.status":
			out = append(out, a.Status)
		case "attachment.delete-on-termination":
			out = append(out, strconv.FormatBool(a.DeleteOnTermination))
		}
	}
	switch name {
	case "volume-id":
		out = []string{v.VolumeID}
	case "availability-zone":
		out = []string{v.AvailabilityZone}
	case "status":
		out = []string{v.Status}
	case "volume-type":
		out = []string{v.VolumeType}
	case "encrypted":
		out = []string{strconv.FormatBool(v.Encrypted)}
	case "size":
		out = []string{strconv.Itoa(v.Size)}
	case "snapshot-id":
		out = []string{v.SnapshotID}
	case "tag-key":
		for _, t := range v.Tags {
			out = append(out, t.Key)
		}
	}
	return out
}
