package sandbox

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/runctl/runctl/internal/prices"
)

// ec2Handler answers one EC2 action; the request ID goes into the body.
type ec2Handler func(s *Server, f form, requestID string) (any, error)

var ec2Actions = map[string]ec2Handler{
	"RunInstances":                  (*Server).ec2RunInstances,
	"DescribeInstances":             (*Server).ec2DescribeInstances,
	"TerminateInstances":            (*Server).ec2TerminateInstances,
	"CreateTags":                    (*Server).ec2CreateTags,
	"DescribeSpotPriceHistory":      (*Server).ec2SpotPriceHistory,
	"DescribeInstanceTypeOfferings": (*Server).ec2TypeOfferings,
	"DescribeInstanceTypes":         (*Server).ec2InstanceTypes,
	"DescribeImages":                (*Server).ec2Images,
	"DescribeSubnets":               (*Server).ec2Subnets,
	"DescribeAvailabilityZones":     (*Server).ec2Zones,
	"DescribeVolumes":               (*Server).ec2DescribeVolumes,
}

// serveEC2 dispatches an EC2 query protocol request.
func (s *Server) serveEC2(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	if err := r.ParseForm(); err != nil {
		writeEC2Error(w, id, errf(400, "MalformedQueryString", "%v", err))
		return
	}
	f := form{r.PostForm}
	action := f.Get("Action")
	resp, err := s.ec2Call(f, action, id)
	if err != nil {
		e := asAPIError(err, "InternalError")
		s.log.Debug("sandbox ec2", "action", action, "code", e.Code, "status", e.Status)
		writeEC2Error(w, id, e)
		return
	}
	s.log.Debug("sandbox ec2", "action", action, "status", 200)
	writeXML(w, http.StatusOK, id, resp)
}

func (s *Server) ec2Call(f form, action, id string) (any, error) {
	h, ok := ec2Actions[action]
	if !ok {
		return nil, errf(400, "InvalidAction", "The action %s is not valid for this web service.", action)
	}
	if s.takeThrottle() {
		return nil, errf(503, "RequestLimitExceeded", "Request limit exceeded.")
	}
	return h(s, f, id)
}

// ec2DescribeInstances lists instances by ID and filter, grouped by
// reservation in launch order.
func (s *Server) ec2DescribeInstances(f form, id string) (any, error) {
	ids := f.list("InstanceId")
	if err := checkInstanceIDs(ids); err != nil {
		return nil, err
	}
	filters := f.filters()
	for _, fl := range filters {
		if _, ok := instanceField(&instance{}, fl.Name); !ok {
			return nil, errf(400, "InvalidParameterValue", "The filter '%s' is invalid", fl.Name)
		}
	}
	var list []*instance
	err := s.st.view(func(st *state) error {
		if err := requireInstances(st, ids); err != nil {
			return err
		}
		for _, in := range st.Instances {
			if len(ids) > 0 && !slices.Contains(ids, in.ID) {
				continue
			}
			ok, err := instanceMatches(in, filters)
			if err != nil {
				return err
			}
			if ok {
				list = append(list, in)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return describeInstancesResponse{Xmlns: ec2NS, RequestID: id,
		Reservations: s.reservations(list)}, nil
}

// reservations groups instances by reservation, oldest first.
func (s *Server) reservations(list []*instance) []xmlReservation {
	sort.Slice(list, func(i, j int) bool {
		if !list[i].LaunchTime.Equal(list[j].LaunchTime) {
			return list[i].LaunchTime.Before(list[j].LaunchTime)
		}
		return list[i].ID < list[j].ID
	})
	var out []xmlReservation
	index := map[string]int{}
	for _, in := range list {
		i, ok := index[in.ReservationID]
		if !ok {
			i = len(out)
			index[in.ReservationID] = i
			out = append(out, xmlReservation{ReservationID: in.ReservationID, OwnerID: accountID})
		}
		out[i].Instances = append(out[i].Instances, in.toXML(s.opts.Region))
	}
	return out
}

// checkInstanceIDs rejects IDs that are not shaped like instance IDs.
func checkInstanceIDs(ids []string) error {
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") || len(id) < 10 {
			return errf(400, "InvalidInstanceID.Malformed", "Invalid id: %q", id)
		}
	}
	return nil
}

// requireInstances fails with EC2's NotFound error for unknown IDs.
func requireInstances(st *state, ids []string) error {
	var missing []string
	for _, id := range ids {
		if _, ok := st.Instances[id]; !ok {
			missing = append(missing, id)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	}
	return errf(400, "InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist",
		strings.Join(missing, ", "))
}

// instanceMatches applies DescribeInstances filters.
func instanceMatches(in *instance, filters []filter) (bool, error) {
	for _, f := range filters {
		vals, ok := instanceField(in, f.Name)
		if !ok {
			return false, errf(400, "InvalidParameterValue", "The filter '%s' is invalid", f.Name)
		}
		if !slices.ContainsFunc(vals, func(v string) bool { return matchAny(f.Values, v) }) {
			return false, nil
		}
	}
	return true, nil
}

// instanceField returns the values an instance has for a filter name.
func instanceField(in *instance, name string) ([]string, bool) {
	if key, ok := strings.CutPrefix(name, "tag:"); ok {
		var out []string
		for _, t := range in.Tags {
			if t.Key == key {
				out = append(out, t.Value)
			}
		}
		return out, true
	}
	one := func(v string) ([]string, bool) { return []string{v}, true }
	switch name {
	case "instance-id":
		return one(in.ID)
	case "instance-state-name":
		return one(in.State)
	case "instance-state-code":
		return one(strconv.Itoa(stateCodes[in.State]))
	case "instance-type":
		return one(in.InstanceType)
	case "availability-zone":
		return one(in.Zone)
	case "instance-lifecycle":
		return one(in.Lifecycle)
	case "subnet-id":
		return one(in.SubnetID)
	case "image-id":
		return one(in.ImageID)
	case "reservation-id":
		return one(in.ReservationID)
	case "spot-instance-request-id":
		return one(in.SpotRequestID)
	case "client-token":
		return one(in.ClientToken)
	case "private-ip-address":
		return one(in.PrivateIP)
	case "architecture":
		return one(in.Arch)
	case "iam-instance-profile.arn":
		return one(in.ProfileArn)
	case "tag-key":
		var out []string
		for _, t := range in.Tags {
			out = append(out, t.Key)
		}
		return out, true
	}
	return nil, false
}

// ec2TerminateInstances starts the shutdown of each instance and kills its
// processes before answering, so nothing of it survives this call.
func (s *Server) ec2TerminateInstances(f form, id string) (any, error) {
	ids := f.list("InstanceId")
	if len(ids) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter InstanceId")
	}
	if err := checkInstanceIDs(ids); err != nil {
		return nil, err
	}
	if f.boolean("DryRun") {
		return nil, dryRunError()
	}
	now := time.Now()
	var changes []xmlStateChange
	err := s.st.update(func(st *state) (bool, error) {
		if err := requireInstances(st, ids); err != nil {
			return false, err
		}
		for _, iid := range ids {
			in := st.Instances[iid]
			prev := xmlState{Code: stateCodes[in.State], Name: in.State}
			if in.State != stateTerminated && in.State != stateShuttingDown {
				in.beginShutdown(now, s.t.shutdown, reasonUser, reasonUserMsg)
			}
			changes = append(changes, xmlStateChange{InstanceID: iid, PreviousState: prev,
				CurrentState: xmlState{Code: stateCodes[in.State], Name: in.State}})
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.killAndMark(ids); err != nil {
		return nil, err
	}
	s.log.Info("sandbox instances terminating", "instance_ids", ids)
	return terminateInstancesResponse{Xmlns: ec2NS, RequestID: id, Instances: changes}, nil
}

// ec2CreateTags adds or replaces tags on instances and their volumes.
func (s *Server) ec2CreateTags(f form, id string) (any, error) {
	resources := f.list("ResourceId")
	tags, err := formTags(f, "Tag")
	if err != nil {
		return nil, err
	}
	if len(resources) == 0 || len(tags) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter %s",
			map[bool]string{true: "resourceIdSet", false: "tagSet"}[len(resources) == 0])
	}
	if f.boolean("DryRun") {
		return nil, dryRunError()
	}
	err = s.st.update(func(st *state) (bool, error) {
		for _, rid := range resources {
			if err := tagResource(st, rid, tags); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return createTagsResponse{Xmlns: ec2NS, RequestID: id, Return: true}, nil
}

// tagResource applies tags to one instance or volume.
func tagResource(st *state, rid string, tags []tag) error {
	switch {
	case strings.HasPrefix(rid, "i-"):
		in, ok := st.Instances[rid]
		if !ok {
			return errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", rid)
		}
		in.Tags = mergeTags(in.Tags, tags)
		return nil
	case strings.HasPrefix(rid, "vol-"):
		for _, in := range st.Instances {
			for i := range in.Volumes {
				if in.Volumes[i].ID == rid {
					in.Volumes[i].Tags = mergeTags(in.Volumes[i].Tags, tags)
					return nil
				}
			}
		}
		return errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", rid)
	case strings.HasPrefix(rid, "sir-"):
		return nil
	}
	return errf(400, "InvalidID", "The ID '%s' is not valid", rid)
}

// mergeTags sets each new tag, replacing one with the same key.
func mergeTags(have, add []tag) []tag {
	for _, t := range add {
		i := slices.IndexFunc(have, func(h tag) bool { return h.Key == t.Key })
		if i >= 0 {
			have[i].Value = t.Value
		} else {
			have = append(have, t)
		}
	}
	return have
}

// formTags reads prefix.N.Key / prefix.N.Value.
func formTags(f form, prefix string) ([]tag, error) {
	var out []tag
	for _, i := range f.indices(prefix) {
		p := prefix + "." + strconv.Itoa(i)
		k := f.Get(p + ".Key")
		if k == "" {
			return nil, errf(400, "InvalidParameterValue", "Tag key must not be empty")
		}
		out = append(out, tag{Key: k, Value: f.Get(p + ".Value")})
	}
	if len(out) > 50 {
		return nil, errf(400, "TagLimitExceeded", "The maximum number of tags for a resource is 50")
	}
	return out, nil
}

func dryRunError() error {
	return errf(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
}

// spotProducts are the product descriptions spot prices are listed under;
// Windows costs more, so a client that forgets to filter sees wrong prices.
var spotProducts = []struct {
	name   string
	factor float64
}{{"Linux/UNIX", 1}, {"Linux/UNIX (Amazon VPC)", 1}, {"Windows", 1.6}}

// ec2SpotPriceHistory answers the current spot price per type, zone and
// product, derived from the on-demand price.
func (s *Server) ec2SpotPriceHistory(f form, id string) (any, error) {
	types := f.list("InstanceType")
	products := f.list("ProductDescription")
	zoneFilter := f.Get("AvailabilityZone")
	filters := f.filters()
	at := awsTime(time.Now().Truncate(time.Hour))
	resp := spotPriceHistoryResponse{Xmlns: ec2NS, RequestID: id}
	for _, t := range offeredTypes(s.opts.Region) {
		if len(types) > 0 && !slices.Contains(types, t) {
			continue
		}
		for _, z := range zones(s.opts.Region) {
			if zoneFilter != "" && z.Name != zoneFilter {
				continue
			}
			price, ok := spotPrice(s.opts.Region, z.Name, t)
			if !ok {
				continue
			}
			for _, p := range spotProducts {
				if len(products) > 0 && !slices.Contains(products, p.name) {
					continue
				}
				item := xmlSpotPrice{InstanceType: t, ProductDescription: p.name,
					SpotPrice: strconv.FormatFloat(price*p.factor, 'f', 6, 64), Timestamp: at,
					AvailabilityZone: z.Name, AvailabilityZoneID: z.ID}
				if spotMatches(item, filters) {
					resp.Prices = append(resp.Prices, item)
				}
			}
		}
	}
	return resp, nil
}

func spotMatches(p xmlSpotPrice, filters []filter) bool {
	for _, f := range filters {
		var v string
		switch f.Name {
		case "availability-zone":
			v = p.AvailabilityZone
		case "instance-type":
			v = p.InstanceType
		case "product-description":
			v = p.ProductDescription
		case "spot-price":
			v = p.SpotPrice
		default:
			continue
		}
		if !matchAny(f.Values, v) {
			return false
		}
	}
	return true
}

// ec2TypeOfferings lists where each offered type can launch.
func (s *Server) ec2TypeOfferings(f form, id string) (any, error) {
	locType := f.Get("LocationType")
	if locType == "" {
		locType = "region"
	}
	var locs []string
	switch locType {
	case "region":
		locs = []string{s.opts.Region}
	case "availability-zone", "availability-zone-id":
		for _, z := range zones(s.opts.Region) {
			locs = append(locs, map[bool]string{true: z.Name, false: z.ID}[locType == "availability-zone"])
		}
	default:
		return nil, errf(400, "InvalidParameterValue", "Invalid value '%s' for LocationType", locType)
	}
	resp := typeOfferingsResponse{Xmlns: ec2NS, RequestID: id}
	for _, t := range offeredTypes(s.opts.Region) {
		for _, l := range locs {
			o := xmlOffering{InstanceType: t, LocationType: locType, Location: l}
			if offeringMatches(o, f.filters()) {
				resp.Offerings = append(resp.Offerings, o)
			}
		}
	}
	return resp, nil
}

func offeringMatches(o xmlOffering, filters []filter) bool {
	for _, f := range filters {
		v := map[string]string{"instance-type": o.InstanceType, "location": o.Location}[f.Name]
		if (f.Name == "instance-type" || f.Name == "location") && !matchAny(f.Values, v) {
			return false
		}
	}
	return true
}

// ec2InstanceTypes describes instance types from the embedded table.
func (s *Server) ec2InstanceTypes(f form, id string) (any, error) {
	want := f.list("InstanceType")
	var missing []string
	for _, t := range want {
		if _, ok := prices.Lookup(t); !ok || !slices.Contains(offeredTypes(s.opts.Region), t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return nil, errf(400, "InvalidInstanceType",
			"The following supplied instance types do not exist: [%s]", strings.Join(missing, ", "))
	}
	resp := instanceTypesResponse{Xmlns: ec2NS, RequestID: id}
	for _, t := range offeredTypes(s.opts.Region) {
		spec, _ := prices.Lookup(t)
		if (len(want) > 0 && !slices.Contains(want, t)) || !typeMatches(spec, f.filters()) {
			continue
		}
		resp.Types = append(resp.Types, typeXML(spec))
	}
	return resp, nil
}

func typeMatches(spec prices.Spec, filters []filter) bool {
	for _, f := range filters {
		var v string
		switch f.Name {
		case "instance-type":
			v = spec.Type
		case "processor-info.supported-architecture":
			v = spec.Arch
		case "current-generation":
			v = "true"
		default:
			continue
		}
		if !matchAny(f.Values, v) {
			return false
		}
	}
	return true
}

// ec2Images describes the public AMIs.
func (s *Server) ec2Images(f form, id string) (any, error) {
	ids := f.list("ImageId")
	all := images(s.opts.Region)
	for _, iid := range ids {
		if !slices.ContainsFunc(all, func(im image) bool { return im.ID == iid }) {
			if !strings.HasPrefix(iid, "ami-") {
				return nil, errf(400, "InvalidAMIID.Malformed", "Invalid id: %q (expecting \"ami-...\")", iid)
			}
			return nil, errf(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", iid)
		}
	}
	resp := imagesResponse{Xmlns: ec2NS, RequestID: id}
	for _, im := range all {
		if len(ids) > 0 && !slices.Contains(ids, im.ID) {
			continue
		}
		if imageMatches(im, f.filters()) {
			resp.Images = append(resp.Images, imageXML(im))
		}
	}
	return resp, nil
}

func imageMatches(im image, filters []filter) bool {
	for _, f := range filters {
		var v string
		switch f.Name {
		case "image-id":
			v = im.ID
		case "name":
			v = im.Name
		case "architecture":
			v = im.Arch
		case "state":
			v = "available"
		case "owner-alias":
			v = "amazon"
		default:
			continue
		}
		if !matchAny(f.Values, v) {
			return false
		}
	}
	return true
}

// ec2Subnets lists the default subnet of each zone.
func (s *Server) ec2Subnets(f form, id string) (any, error) {
	ids := f.list("SubnetId")
	all := zones(s.opts.Region)
	for _, sid := range ids {
		if !slices.ContainsFunc(all, func(z zone) bool { return z.SubnetID == sid }) {
			return nil, errf(400, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", sid)
		}
	}
	resp := subnetsResponse{Xmlns: ec2NS, RequestID: id}
	for _, z := range all {
		if len(ids) > 0 && !slices.Contains(ids, z.SubnetID) {
			continue
		}
		x := xmlSubnet{SubnetID: z.SubnetID, State: "available", VpcID: vpcID(s.opts.Region),
			SubnetArn: fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", s.opts.Region, accountID, z.SubnetID),
			OwnerID:   accountID, CIDRBlock: z.CIDR, AvailableIPs: 4091, AvailabilityZone: z.Name,
			AvailabilityZoneID: z.ID, DefaultForAz: true, MapPublicIPOnLaunch: true}
		if subnetMatches(x, f.filters()) {
			resp.Subnets = append(resp.Subnets, x)
		}
	}
	return resp, nil
}

func subnetMatches(x xmlSubnet, filters []filter) bool {
	for _, f := range filters {
		var v string
		switch f.Name {
		case "availability-zone":
			v = x.AvailabilityZone
		case "availability-zone-id":
			v = x.AvailabilityZoneID
		case "subnet-id":
			v = x.SubnetID
		case "vpc-id":
			v = x.VpcID
		case "default-for-az":
			v = "true"
		case "state":
			v = x.State
		default:
			continue
		}
		if !matchAny(f.Values, v) {
			return false
		}
	}
	return true
}

// ec2Zones lists the region's zones.
func (s *Server) ec2Zones(f form, id string) (any, error) {
	names := f.list("ZoneName")
	ids := f.list("ZoneId")
	resp := zonesResponse{Xmlns: ec2NS, RequestID: id}
	for _, z := range zones(s.opts.Region) {
		if (len(names) > 0 && !slices.Contains(names, z.Name)) || (len(ids) > 0 && !slices.Contains(ids, z.ID)) {
			continue
		}
		x := xmlZone{ZoneName: z.Name, ZoneState: "available", RegionName: s.opts.Region,
			ZoneID: z.ID, GroupName: s.opts.Region, NetworkBorderGroup: s.opts.Region,
			OptInStatus: "opt-in-not-required", ZoneType: "availability-zone"}
		if zoneMatches(x, f.filters()) {
			resp.Zones = append(resp.Zones, x)
		}
	}
	if len(names) > 0 && len(resp.Zones) == 0 {
		return nil, errf(400, "InvalidParameterValue", "The zone '%s' does not exist in the region", names[0])
	}
	return resp, nil
}

func zoneMatches(x xmlZone, filters []filter) bool {
	for _, f := range filters {
		var v string
		switch f.Name {
		case "zone-name":
			v = x.ZoneName
		case "zone-id":
			v = x.ZoneID
		case "state":
			v = x.ZoneState
		case "region-name":
			v = x.RegionName
		case "zone-type":
			v = x.ZoneType
		default:
			continue
		}
		if !matchAny(f.Values, v) {
			return false
		}
	}
	return true
}
