package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/runctl/runctl/internal/prices"
)

// Service Quotas is served for EC2's vCPU quotas: one on-demand and one
// spot quota per instance class, named as AWS names them, plus a few other
// EC2 quotas so a client that matches names loosely sees the wrong one.
// RunInstances enforces the vCPU quotas against the instances in the state
// directory.

// quotasTarget prefixes the X-Amz-Target of every Service Quotas call.
const quotasTarget = "ServiceQuotasV20190624."

// defaultVCPUQuota is the value of every vCPU quota no fault sets: enough
// for any single launch the catalogue offers.
const defaultVCPUQuota = 256

// vcpuClass is a group of instance families that share a vCPU quota.
type vcpuClass struct {
	name         string // as it appears in the quota names
	metric       string // the Class dimension of the usage metric
	onDemandCode string
	spotCode     string
}

var vcpuClasses = []vcpuClass{
	{"Standard (A, C, D, H, I, M, R, T, Z)", "Standard", "L-1216C47A", "L-34B43A08"},
	{"G and VT", "G", "L-DB2E81BA", "L-3819A6DF"},
	{"P", "P", "L-417A185B", "L-7212CCBC"},
	{"Inf", "Inf", "L-1945791B", "L-B5D1601B"},
	{"Trn", "Trn", "L-2C3B7624", "L-6B0D517C"},
	{"DL", "DL", "L-6E869C2A", "L-85EED4F7"},
	{"F", "F", "L-74FC7D96", "L-88CF9481"},
	{"X", "X", "L-7295265B", "L-E3A00192"},
}

// classOf returns the vCPU class of an instance type.
func classOf(itype string) vcpuClass {
	family, _, _ := strings.Cut(itype, ".")
	name := "Standard (A, C, D, H, I, M, R, T, Z)"
	for _, c := range []struct{ prefix, class string }{
		{"g", "G and VT"}, {"vt", "G and VT"}, {"p", "P"}, {"inf", "Inf"},
		{"trn", "Trn"}, {"dl", "DL"}, {"f", "F"}, {"x", "X"},
	} {
		if strings.HasPrefix(family, c.prefix) {
			name = c.class
			break
		}
	}
	i := slices.IndexFunc(vcpuClasses, func(c vcpuClass) bool { return c.name == name })
	return vcpuClasses[i]
}

// vcpuLimit returns the vCPU quota of a market, the same for every class.
func (s *Server) vcpuLimit(spot bool) int {
	q := s.opts.Faults.OnDemandVCPUQuota
	if spot {
		q = s.opts.Faults.SpotVCPUQuota
	}
	if q == nil {
		return defaultVCPUQuota
	}
	return *q
}

// checkVCPUs refuses a launch that would take the running instances of its
// market and class past their vCPU quota, as EC2 does.
func (s *Server) checkVCPUs(st *state, req *runRequest) error {
	class := classOf(req.spec.Type)
	used := 0
	for _, in := range st.Instances {
		if (in.State != statePending && in.State != stateRunning) ||
			(in.Lifecycle == "spot") != req.spot || classOf(in.InstanceType) != class {
			continue
		}
		if spec, ok := prices.Lookup(in.InstanceType); ok {
			used += spec.VCPU
		}
	}
	limit := s.vcpuLimit(req.spot)
	if used+req.count*req.spec.VCPU <= limit {
		return nil
	}
	if req.spot {
		return errf(400, "MaxSpotInstanceCountExceeded", "Max spot instance count exceeded")
	}
	return errf(400, "VcpuLimitExceeded", "You have requested more vCPU capacity than your "+
		"current vCPU limit of %d allows for the instance bucket that the specified instance "+
		"type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to "+
		"request an adjustment to this limit.", limit)
}

// serviceQuota is one quota as ListServiceQuotas returns it.
type serviceQuota struct {
	ServiceCode         string      `json:"ServiceCode"`
	ServiceName         string      `json:"ServiceName"`
	QuotaArn            string      `json:"QuotaArn"`
	QuotaCode           string      `json:"QuotaCode"`
	QuotaName           string      `json:"QuotaName"`
	Value               float64     `json:"Value"`
	Unit                string      `json:"Unit"`
	Adjustable          bool        `json:"Adjustable"`
	GlobalQuota         bool        `json:"GlobalQuota"`
	UsageMetric         *usageQuota `json:"UsageMetric,omitempty"`
	QuotaAppliedAtLevel string      `json:"QuotaAppliedAtLevel"`
	Description         string      `json:"Description"`
}

type usageQuota struct {
	MetricNamespace               string            `json:"MetricNamespace"`
	MetricName                    string            `json:"MetricName"`
	MetricDimensions              map[string]string `json:"MetricDimensions"`
	MetricStatisticRecommendation string            `json:"MetricStatisticRecommendation"`
}

// ec2Quotas returns the EC2 quotas of the region, sorted by code.
func (s *Server) ec2Quotas() []serviceQuota {
	var out []serviceQuota
	for _, c := range vcpuClasses {
		od := "Running On-Demand " + c.name + " instances"
		spot := "All " + c.name + " Spot Instance Requests"
		out = append(out,
			s.vcpuQuota(c.onDemandCode, od, c.metric+"/OnDemand", s.vcpuLimit(false)),
			s.vcpuQuota(c.spotCode, spot, c.metric+"/Spot", s.vcpuLimit(true)))
	}
	out = append(out,
		s.quota("L-0263D0A3", "EC2-VPC Elastic IPs", "The maximum number of Elastic IP "+
			"addresses that you can allocate for EC2-VPC in this Region.", 5, nil),
		s.vcpuQuota("L-43DA4232", "Running On-Demand High Memory instances", "HighMem/OnDemand", 0))
	slices.SortFunc(out, func(a, b serviceQuota) int { return strings.Compare(a.QuotaCode, b.QuotaCode) })
	return out
}

func (s *Server) vcpuQuota(code, name, class string, value int) serviceQuota {
	return s.quota(code, name, "Maximum number of vCPUs assigned to the "+name+".", value, &usageQuota{MetricNamespace: "AWS/Usage",
		MetricName: "ResourceCount", MetricStatisticRecommendation: "Maximum",
		MetricDimensions: map[string]string{"Class": class, "Resource": "vCPU",
			"Service": "EC2", "Type": "Resource"}})
}

func (s *Server) quota(code, name, desc string, value int, usage *usageQuota) serviceQuota {
	return serviceQuota{ServiceCode: "ec2", ServiceName: "Amazon Elastic Compute Cloud (Amazon EC2)",
		QuotaArn:  fmt.Sprintf("arn:aws:servicequotas:%s:%s:ec2/%s", s.opts.Region, accountID, code),
		QuotaCode: code, QuotaName: name, Value: float64(value), Unit: "None", Adjustable: true,
		UsageMetric: usage, QuotaAppliedAtLevel: "ACCOUNT", Description: desc}
}

// quotasInput holds the fields of ListServiceQuotas and GetServiceQuota.
type quotasInput struct {
	ServiceCode string `json:"ServiceCode"`
	QuotaCode   string `json:"QuotaCode"`
	MaxResults  int    `json:"MaxResults"`
	NextToken   string `json:"NextToken"`
}

// serveQuotas answers the Service Quotas JSON 1.1 calls.
func (s *Server) serveQuotas(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), quotasTarget)
	var in quotasInput
	var resp any
	var err error
	switch {
	case s.takeThrottle():
		err = errf(400, "TooManyRequestsException", "Rate exceeded")
	case json.NewDecoder(r.Body).Decode(&in) != nil:
		err = errf(400, "SerializationException", "the request body is not valid JSON")
	case op == "ListServiceQuotas":
		resp, err = s.listQuotas(in)
	case op == "GetServiceQuota":
		resp, err = s.getQuota(in)
	default:
		err = errf(400, "UnknownOperationException", "unknown operation %s", op)
	}
	if err != nil {
		e := asAPIError(err, "ServiceException")
		s.log.Debug("sandbox servicequotas", "action", op, "code", e.Code)
		writeJSONError(w, id, e)
		return
	}
	s.log.Debug("sandbox servicequotas", "action", op, "status", 200)
	writeJSON(w, http.StatusOK, id, resp)
}

// listQuotas pages through the quotas of a service, at most 100 a page.
func (s *Server) listQuotas(in quotasInput) (any, error) {
	all, err := s.serviceQuotas(in.ServiceCode)
	if err != nil {
		return nil, err
	}
	if in.QuotaCode != "" {
		all = slices.DeleteFunc(all, func(q serviceQuota) bool { return q.QuotaCode != in.QuotaCode })
	}
	size := in.MaxResults
	if size <= 0 || size > 100 {
		size = 100
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 || n > len(all) {
			return nil, errf(400, "InvalidPaginationTokenException", "Invalid pagination token")
		}
		start = n
	}
	end := min(start+size, len(all))
	out := map[string]any{"Quotas": nonNil(all[start:end])}
	if end < len(all) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

func (s *Server) getQuota(in quotasInput) (any, error) {
	all, err := s.serviceQuotas(in.ServiceCode)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(all, func(q serviceQuota) bool { return q.QuotaCode == in.QuotaCode })
	if i < 0 {
		return nil, errf(400, "NoSuchResourceException", "The request failed because the "+
			"specified quota does not exist.")
	}
	return map[string]any{"Quota": all[i]}, nil
}

// serviceQuotas returns the quotas of a service code; only EC2 has any.
func (s *Server) serviceQuotas(code string) ([]serviceQuota, error) {
	switch code {
	case "ec2":
		return s.ec2Quotas(), nil
	case "":
		return nil, errf(400, "IllegalArgumentException", "ServiceCode is required")
	}
	return nil, errf(400, "NoSuchResourceException", "The request failed because the "+
		"specified service does not exist.")
}
