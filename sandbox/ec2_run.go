package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/runctl/runctl/internal/prices"
)

// runRequest is a parsed and validated RunInstances call.
type runRequest struct {
	image            image
	spec             prices.Spec
	zone             zone
	count            int
	spot             bool
	maxPrice         string
	keyName          string
	userData         string
	profileArn       string
	profileID        string
	instanceTags     []tag
	volumeTags       []tag
	metadata         metadataOptions
	volumes          []volume
	shutdownBehavior string
	token            string
	paramsHash       string
}

// ec2RunInstances launches instances, honouring ClientToken idempotency,
// the vCPU quotas and the injected capacity, quota and price faults. A dry
// run answers DryRunOperation once the request is valid, as EC2 does: it
// checks parameters and the instance profile, not capacity, price or quota.
func (s *Server) ec2RunInstances(f form, id string) (any, error) {
	req, err := s.parseRun(f)
	if err != nil {
		return nil, err
	}
	if f.boolean("DryRun") {
		return nil, dryRunError()
	}
	if resp, ok, err := s.replayToken(req, id); ok || err != nil {
		return resp, err
	}
	if err := s.launchFault(req); err != nil {
		return nil, err
	}
	return s.launch(req, id)
}

// parseRun validates a RunInstances request the way EC2 does, before any
// fault is considered.
func (s *Server) parseRun(f form) (*runRequest, error) {
	req := &runRequest{token: f.Get("ClientToken"), keyName: f.Get("KeyName"),
		shutdownBehavior: f.Get("InstanceInitiatedShutdownBehavior")}
	steps := []func(form, *runRequest) error{
		s.parseCount, s.parseTypeAndImage, s.parsePlacement, s.parseMarket,
		s.parseUserData, s.parseProfile, s.parseTags, s.parseVolumes, s.parseMetadata,
	}
	for _, step := range steps {
		if err := step(f, req); err != nil {
			return nil, err
		}
	}
	if req.shutdownBehavior == "" {
		req.shutdownBehavior = "stop"
	}
	req.paramsHash = paramsHash(f)
	return req, nil
}

func (s *Server) parseCount(f form, req *runRequest) error {
	minC, err1 := strconv.Atoi(f.Get("MinCount"))
	maxC, err2 := strconv.Atoi(f.Get("MaxCount"))
	if err1 != nil || err2 != nil {
		return errf(400, "MissingParameter", "The request must contain the parameter MinCount and MaxCount")
	}
	if minC < 1 || maxC < minC {
		return errf(400, "InvalidParameterValue", "Invalid value '%d' for maxCount", maxC)
	}
	if maxC > 20 {
		return errf(400, "InstanceLimitExceeded",
			"You have requested more instances (%d) than your current instance limit of 20 allows "+
				"for the specified instance type.", maxC)
	}
	req.count = maxC
	return nil
}

func (s *Server) parseTypeAndImage(f form, req *runRequest) error {
	itype := f.Get("InstanceType")
	spec, ok := prices.Lookup(itype)
	if !ok {
		return errf(400, "InvalidParameterValue", "Invalid value '%s' for InstanceType.", itype)
	}
	if !slices.Contains(offeredTypes(s.opts.Region), itype) {
		return errf(400, "Unsupported", "Your requested instance type (%s) is not supported in "+
			"your requested region (%s).", itype, s.opts.Region)
	}
	req.spec = spec
	amiID := f.Get("ImageId")
	if amiID == "" {
		return errf(400, "MissingParameter", "The request must contain the parameter ImageId")
	}
	if !strings.HasPrefix(amiID, "ami-") {
		return errf(400, "InvalidAMIID.Malformed", "Invalid id: %q (expecting \"ami-...\")", amiID)
	}
	im, ok := imageByID(s.opts.Region, amiID)
	if !ok {
		return errf(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", amiID)
	}
	if im.Arch != spec.Arch {
		return errf(400, "InvalidParameterValue", "The architecture '%s' of the specified instance "+
			"type does not match the architecture '%s' of the specified AMI. Specify an instance "+
			"type and an AMI that have matching architectures, and try again. You can use "+
			"'describe-instance-types' or 'describe-images' to discover the architecture of the "+
			"instance type or AMI.", spec.Arch, im.Arch)
	}
	req.image = im
	return nil
}

// parsePlacement picks the zone: the subnet's, the placement's, or the first.
func (s *Server) parsePlacement(f form, req *runRequest) error {
	all := zones(s.opts.Region)
	subnet := f.Get("SubnetId")
	if subnet == "" {
		subnet = f.Get("NetworkInterface.1.SubnetId")
	}
	az := f.Get("Placement.AvailabilityZone")
	req.zone = all[0]
	if subnet != "" {
		i := slices.IndexFunc(all, func(z zone) bool { return z.SubnetID == subnet })
		if i < 0 {
			return errf(400, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", subnet)
		}
		req.zone = all[i]
	}
	if az != "" {
		i := slices.IndexFunc(all, func(z zone) bool { return z.Name == az })
		if i < 0 {
			return errf(400, "InvalidParameterValue", "Invalid availability zone: [%s]", az)
		}
		if subnet != "" && all[i].Name != req.zone.Name {
			return errf(400, "InvalidParameterCombination", "The specified Availability Zone "+
				"(%s) and subnet (%s) are not in the same Availability Zone.", az, subnet)
		}
		req.zone = all[i]
	}
	return nil
}

func (s *Server) parseMarket(f form, req *runRequest) error {
	switch mt := f.Get("InstanceMarketOptions.MarketType"); mt {
	case "":
	case "spot":
		req.spot = true
		req.maxPrice = f.Get("InstanceMarketOptions.SpotOptions.MaxPrice")
		if req.maxPrice != "" {
			if p, err := strconv.ParseFloat(req.maxPrice, 64); err != nil || p <= 0 {
				return errf(400, "InvalidParameterValue", "Invalid value '%s' for MaxPrice", req.maxPrice)
			}
		}
	default:
		return errf(400, "InvalidParameterValue", "Invalid value '%s' for MarketType", mt)
	}
	return nil
}

// parseUserData checks that user data is base64, as EC2 requires of the
// query API, and within the 16 KiB limit.
func (s *Server) parseUserData(f form, req *runRequest) error {
	ud := f.Get("UserData")
	if ud == "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(ud)
	if err != nil {
		return errf(400, "InvalidParameterValue", "Invalid BASE64 encoding of user data.")
	}
	if len(raw) > userDataMaxSize {
		return errf(400, "InvalidParameterValue", "User data is limited to %d bytes", userDataMaxSize)
	}
	req.userData = ud
	return nil
}

// parseProfile resolves IamInstanceProfile by name or ARN. A profile IAM
// created or changed less than the propagation delay ago is unknown to EC2
// yet, so it is refused with the error EC2 gives for a missing one.
func (s *Server) parseProfile(f form, req *runRequest) error {
	name, arn := f.Get("IamInstanceProfile.Name"), f.Get("IamInstanceProfile.Arn")
	if name == "" && arn == "" {
		return nil
	}
	return s.st.view(func(st *state) error {
		p, err := s.visibleProfile(st.IAM, name, arn)
		if err != nil {
			return err
		}
		req.profileArn, req.profileID = p.arn(), p.ID
		return nil
	})
}

func (s *Server) visibleProfile(st *iamState, name, arn string) (*iamProfile, error) {
	visible := func(p *iamProfile) bool {
		return p != nil && time.Since(p.Changed) >= s.t.iamPropagation
	}
	if name != "" {
		if p := st.Profiles[name]; visible(p) && (arn == "" || p.arn() == arn) {
			return p, nil
		}
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter "+
			"iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", name)
	}
	p := st.Profiles[arn[strings.LastIndexByte(arn, '/')+1:]]
	if !visible(p) || p.arn() != arn {
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter "+
			"iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", arn)
	}
	return p, nil
}

// parseTags reads TagSpecification.N for the instance and its volumes.
func (s *Server) parseTags(f form, req *runRequest) error {
	for _, i := range f.indices("TagSpecification") {
		p := "TagSpecification." + strconv.Itoa(i)
		tags, err := formTags(f, p+".Tag")
		if err != nil {
			return err
		}
		switch rt := f.Get(p + ".ResourceType"); rt {
		case "instance":
			req.instanceTags = mergeTags(req.instanceTags, tags)
		case "volume":
			req.volumeTags = mergeTags(req.volumeTags, tags)
		case "spot-instances-request", "network-interface":
		default:
			return errf(400, "InvalidParameterValue",
				"'%s' is not a valid taggable resource type for this operation.", rt)
		}
	}
	return nil
}

// parseVolumes builds the root volume from the AMI and applies
// BlockDeviceMapping.N overrides and additions.
func (s *Server) parseVolumes(f form, req *runRequest) error {
	root := volume{DeviceName: req.image.RootDevice, SizeGiB: req.image.RootSizeGiB,
		Type: "gp3", DeleteOnTermination: true}
	req.volumes = []volume{root}
	for _, i := range f.indices("BlockDeviceMapping") {
		p := "BlockDeviceMapping." + strconv.Itoa(i)
		dev := f.Get(p + ".DeviceName")
		v := volume{DeviceName: dev, SizeGiB: 8, Type: "gp3", DeleteOnTermination: true}
		if dev == root.DeviceName {
			v = root
		}
		if err := applyEBS(f, p+".Ebs", &v, req.image, dev == root.DeviceName); err != nil {
			return err
		}
		if dev == root.DeviceName {
			req.volumes[0] = v
		} else if f.Get(p+".NoDevice") == "" {
			req.volumes = append(req.volumes, v)
		}
	}
	return nil
}

func applyEBS(f form, p string, v *volume, im image, isRoot bool) error {
	if sz := f.Get(p + ".VolumeSize"); sz != "" {
		n, err := strconv.Atoi(sz)
		if err != nil || n < 1 || n > 65536 {
			return errf(400, "InvalidParameterValue", "Invalid value '%s' for volumeSize", sz)
		}
		if isRoot && n < im.RootSizeGiB {
			return errf(400, "InvalidBlockDeviceMapping", "Volume of size %dGB is smaller than "+
				"snapshot '%s', expect size >= %dGB", n, "snap-"+hashHex("snap/"+im.ID, 17), im.RootSizeGiB)
		}
		v.SizeGiB = n
	}
	if t := f.Get(p + ".VolumeType"); t != "" {
		if !slices.Contains([]string{"gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"}, t) {
			return errf(400, "InvalidParameterValue", "Value (%s) for parameter volumeType is "+
				"invalid. Valid volume types are: standard, io1, io2, gp2, gp3, sc1, st1", t)
		}
		v.Type = t
	}
	for _, n := range []struct {
		name string
		into *int
	}{{"Iops", &v.Iops}, {"Throughput", &v.Throughput}} {
		if raw := f.Get(p + "." + n.name); raw != "" {
			val, err := strconv.Atoi(raw)
			if err != nil || val < 1 {
				return errf(400, "InvalidParameterValue", "Invalid value '%s' for %s", raw,
					strings.ToLower(n.name))
			}
			*n.into = val
		}
	}
	if e := f.Get(p + ".Encrypted"); e != "" {
		v.Encrypted = strings.EqualFold(e, "true")
	}
	if d := f.Get(p + ".DeleteOnTermination"); d != "" {
		v.DeleteOnTermination = strings.EqualFold(d, "true")
	}
	return nil
}

func (s *Server) parseMetadata(f form, req *runRequest) error {
	m := metadataOptions{HTTPTokens: "required", HTTPEndpoint: "enabled", HopLimit: 2, Tags: "disabled"}
	if v := f.Get("MetadataOptions.HttpTokens"); v != "" {
		if v != "required" && v != "optional" {
			return errf(400, "InvalidParameterValue", "Invalid value '%s' for HttpTokens", v)
		}
		m.HTTPTokens = v
	}
	if v := f.Get("MetadataOptions.HttpEndpoint"); v != "" {
		m.HTTPEndpoint = v
	}
	if v := f.Get("MetadataOptions.HttpPutResponseHopLimit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return errf(400, "InvalidParameterValue", "Invalid value '%s' for HttpPutResponseHopLimit", v)
		}
		m.HopLimit = n
	}
	if v := f.Get("MetadataOptions.InstanceMetadataTags"); v != "" {
		m.Tags = v
	}
	req.metadata = m
	return nil
}

// paramsHash identifies a request's parameters apart from the token, so a
// reused token with different parameters can be refused.
func paramsHash(f form) string {
	keys := make([]string, 0, len(f.Values))
	for k := range f.Values {
		if k != "ClientToken" && k != "DryRun" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%q\n", k, f.Values[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// replayToken answers a repeated ClientToken with the original launch, as
// EC2 does for retries, and refuses it when the parameters differ.
func (s *Server) replayToken(req *runRequest, id string) (any, bool, error) {
	if req.token == "" {
		return nil, false, nil
	}
	var resp any
	found := false
	err := s.st.view(func(st *state) error {
		rec, ok := st.Tokens[req.token]
		if !ok {
			return nil
		}
		found = true
		if rec.ParamsHash != req.paramsHash {
			return errf(400, "IdempotentParameterMismatch", "Arguments on this idempotent request "+
				"are inconsistent with arguments used in previous request(s).")
		}
		resp = s.runResponse(st, rec, id)
		return nil
	})
	return resp, found, err
}

func (s *Server) runResponse(st *state, rec *launchRecord, id string) runInstancesResponse {
	resp := runInstancesResponse{Xmlns: ec2NS, RequestID: id}
	resp.ReservationID, resp.OwnerID = rec.ReservationID, accountID
	resp.Groups = []xmlGroup{{GroupID: "sg-" + hashHex("sg/"+s.opts.Region, 17), GroupName: "default"}}
	for i, iid := range rec.InstanceIDs {
		if in, ok := st.Instances[iid]; ok {
			x := in.toXML(s.opts.Region)
			x.AmiLaunchIndex = i
			resp.Instances = append(resp.Instances, x)
		}
	}
	return resp
}

// launchFault returns the injected or price-driven failure for a launch.
func (s *Server) launchFault(req *runRequest) error {
	fl := s.opts.Faults
	if !req.spot {
		return s.onDemandFault(req)
	}
	if fl.SpotQuota {
		return errf(400, "MaxSpotInstanceCountExceeded", "Max spot instance count exceeded")
	}
	price, _ := spotPrice(s.opts.Region, req.zone.Name, req.spec.Type)
	maxPrice, _ := strconv.ParseFloat(req.maxPrice, 64)
	if fl.SpotPrice || (req.maxPrice != "" && maxPrice < price) {
		bid := req.maxPrice
		if bid == "" {
			bid = strconv.FormatFloat(price/2, 'f', 4, 64)
		}
		return errf(400, "SpotMaxPriceTooLow", "Your Spot request price of %s is lower than the "+
			"minimum required Spot request fulfillment price of %s.", bid,
			strconv.FormatFloat(price, 'f', 4, 64))
	}
	if fl.SpotCapacity || slices.Contains(fl.SpotCapacityZones, req.zone.Name) {
		return errf(500, "InsufficientInstanceCapacity",
			"There is no Spot capacity available that matches your request.")
	}
	return nil
}

func (s *Server) onDemandFault(req *runRequest) error {
	fl := s.opts.Faults
	if fl.OnDemandQuota {
		return errf(400, "VcpuLimitExceeded", "You have requested more vCPU capacity than your "+
			"current vCPU limit of 0 allows for the instance bucket that the specified instance "+
			"type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to "+
			"request an adjustment to this limit.")
	}
	if fl.OnDemandCapacity {
		var others []string
		for _, z := range zones(s.opts.Region) {
			if z.Name != req.zone.Name {
				others = append(others, z.Name)
			}
		}
		return errf(500, "InsufficientInstanceCapacity", "We currently do not have sufficient %s "+
			"capacity in the Availability Zone you requested (%s). Our system will be working on "+
			"provisioning additional capacity. You can currently get %s capacity by not specifying "+
			"an Availability Zone in your request or choosing %s.", req.spec.Type, req.zone.Name,
			req.spec.Type, strings.Join(others, ", "))
	}
	return nil
}

// launch records the new instances and their token and lays out their
// directories, all under the state lock so a racing retry with the same
// token sees either nothing or everything.
func (s *Server) launch(req *runRequest, id string) (any, error) {
	var resp runInstancesResponse
	var ids []string
	err := s.st.update(func(st *state) (bool, error) {
		if rec, ok := st.Tokens[req.token]; ok && req.token != "" {
			resp = s.runResponse(st, rec, id)
			return false, nil
		}
		if err := s.checkVCPUs(st, req); err != nil {
			return false, err
		}
		rec := &launchRecord{ReservationID: "r-" + randomHex(17), ParamsHash: req.paramsHash,
			Created: time.Now()}
		for range req.count {
			in := s.newInstance(req, rec.ReservationID)
			if err := s.createInstanceDir(in); err != nil {
				return false, err
			}
			st.Instances[in.ID] = in
			rec.InstanceIDs = append(rec.InstanceIDs, in.ID)
		}
		if req.token != "" {
			st.Tokens[req.token] = rec
		}
		ids = rec.InstanceIDs
		resp = s.runResponse(st, rec, id)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.launched = append(s.launched, ids...)
	s.mu.Unlock()
	s.log.Info("sandbox instances launched", "instance_ids", ids, "spot", req.spot,
		"zone", req.zone.Name, "instance_type", req.spec.Type)
	return resp, nil
}

// newInstance builds the record of one instance of a launch.
func (s *Server) newInstance(req *runRequest, reservation string) *instance {
	now := time.Now()
	iid := "i-" + randomHex(17)
	in := &instance{
		ID: iid, ReservationID: reservation, ImageID: req.image.ID, InstanceType: req.spec.Type,
		Arch: req.spec.Arch, Zone: req.zone.Name, SubnetID: req.zone.SubnetID,
		PrivateIP: fmt.Sprintf("172.31.%d.%d", req.zone.Index*16+rand.IntN(16), 4+rand.IntN(250)),
		KeyName:   req.keyName, ClientToken: req.token, State: statePending,
		ReasonCode: "pending", ReasonMessage: "pending", LaunchTime: now.Truncate(time.Second),
		RunningAt: now.Add(s.t.boot), Tags: slices.Clone(req.instanceTags),
		Metadata: req.metadata, ShutdownBehavior: req.shutdownBehavior, UserData: req.userData,
		Dir: filepath.Join(s.opts.Dir, "instances", iid),
	}
	if !s.opts.Faults.SSMNever {
		in.OnlineAt = in.RunningAt.Add(s.t.ssm)
	}
	if req.profileArn != "" {
		in.ProfileArn, in.ProfileID = req.profileArn, req.profileID
	}
	if req.spot {
		in.Lifecycle, in.SpotRequestID, in.SpotMaxPrice = "spot", "sir-"+randomHex(8), req.maxPrice
		in.InterruptAfter = s.opts.Faults.InterruptAfter
		in.InterruptWindow = s.opts.Faults.InterruptWindow
	}
	for _, v := range req.volumes {
		v.ID = "vol-" + randomHex(17)
		v.Tags = slices.Clone(req.volumeTags)
		in.Volumes = append(in.Volumes, v)
	}
	return in
}
