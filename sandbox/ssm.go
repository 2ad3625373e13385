package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// serveSSM dispatches an SSM JSON 1.1 request by its X-Amz-Target.
func (s *Server) serveSSM(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSSM.")
	resp, err := s.ssmCall(op, r)
	if err != nil {
		e := asAPIError(err, "InternalServerError")
		s.log.Debug("sandbox ssm", "action", op, "code", e.Code, "status", e.Status)
		writeJSONError(w, id, e)
		return
	}
	s.log.Debug("sandbox ssm", "action", op, "status", 200)
	writeJSON(w, http.StatusOK, id, resp)
}

func (s *Server) ssmCall(op string, r *http.Request) (any, error) {
	if s.takeThrottle() {
		return nil, errf(400, "ThrottlingException", "Rate exceeded")
	}
	dec := json.NewDecoder(r.Body)
	decode := func(v any) error {
		if err := dec.Decode(v); err != nil {
			return errf(400, "SerializationException", "%v", err)
		}
		return nil
	}
	switch op {
	case "SendCommand":
		var in sendCommandInput
		return decodeThen(decode, &in, func() (any, error) { return s.sendCommand(in) })
	case "GetCommandInvocation":
		var in getInvocationInput
		return decodeThen(decode, &in, func() (any, error) { return s.getInvocation(in) })
	case "DescribeInstanceInformation":
		var in describeInfoInput
		return decodeThen(decode, &in, func() (any, error) { return s.describeInfo(in) })
	case "GetParameter":
		var in struct{ Name string }
		return decodeThen(decode, &in, func() (any, error) { return s.getParameter(in.Name) })
	case "GetParameters":
		var in struct{ Names []string }
		return decodeThen(decode, &in, func() (any, error) { return s.getParameters(in.Names) })
	}
	return nil, errf(400, "UnknownOperationException", "unknown operation %s", op)
}

func decodeThen(decode func(any) error, v any, then func() (any, error)) (any, error) {
	if err := decode(v); err != nil {
		return nil, err
	}
	return then()
}

// ssmFilter covers both filter shapes DescribeInstanceInformation takes.
type ssmFilter struct {
	Key      string   `json:"Key"`
	Values   []string `json:"Values"`
	LowerKey string   `json:"key"`
	ValueSet []string `json:"valueSet"`
}

type describeInfoInput struct {
	Filters                       []ssmFilter
	InstanceInformationFilterList []ssmFilter
}

type instanceInformation struct {
	InstanceID       string  `json:"InstanceId"`
	PingStatus       string  `json:"PingStatus"`
	LastPingDateTime float64 `json:"LastPingDateTime"`
	AgentVersion     string  `json:"AgentVersion"`
	IsLatestVersion  bool    `json:"IsLatestVersion"`
	PlatformType     string  `json:"PlatformType"`
	PlatformName     string  `json:"PlatformName"`
	PlatformVersion  string  `json:"PlatformVersion"`
	ResourceType     string  `json:"ResourceType"`
	IPAddress        string  `json:"IPAddress"`
	ComputerName     string  `json:"ComputerName"`
	SourceID         string  `json:"SourceId"`
	SourceType       string  `json:"SourceType"`
}

// describeInfo lists the instances whose simulated agent is Online.
func (s *Server) describeInfo(in describeInfoInput) (any, error) {
	filters := append(in.Filters, in.InstanceInformationFilterList...)
	now := time.Now()
	var list []instanceInformation
	err := s.st.view(func(st *state) error {
		for _, inst := range st.Instances {
			if !inst.online(now) || !infoMatches(inst.ID, filters) {
				continue
			}
			list = append(list, instanceInformation{InstanceID: inst.ID, PingStatus: "Online",
				LastPingDateTime: epochSeconds(now.Truncate(time.Minute)), AgentVersion: "3.3.2299.0",
				IsLatestVersion: true, PlatformType: "Linux", PlatformName: "Amazon Linux",
				PlatformVersion: "2023", ResourceType: "EC2Instance", IPAddress: inst.PrivateIP,
				ComputerName: privateDNS(inst.PrivateIP, s.opts.Region), SourceID: inst.ID,
				SourceType: "AWS::EC2::Instance"})
		}
		return nil
	})
	slices.SortFunc(list, func(a, b instanceInformation) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	return map[string]any{"InstanceInformationList": nonNil(list)}, err
}

func infoMatches(id string, filters []ssmFilter) bool {
	for _, f := range filters {
		key, vals := f.Key, f.Values
		if key == "" {
			key, vals = f.LowerKey, f.ValueSet
		}
		switch key {
		case "InstanceIds":
			if !slices.Contains(vals, id) {
				return false
			}
		case "PingStatus":
			if !slices.Contains(vals, "Online") {
				return false
			}
		}
	}
	return true
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// getParameter resolves one public AMI parameter.
func (s *Server) getParameter(name string) (any, error) {
	p, ok := s.parameter(name)
	if !ok {
		return nil, errf(400, "ParameterNotFound", "Parameter %s not found.", name)
	}
	return map[string]any{"Parameter": p}, nil
}

func (s *Server) getParameters(names []string) (any, error) {
	if len(names) == 0 || len(names) > 10 {
		return nil, errf(400, "ValidationException", "1 validation error detected: Value at "+
			"'names' failed to satisfy constraint: Member must have length between 1 and 10")
	}
	found := []map[string]any{}
	invalid := []string{}
	for _, n := range names {
		if p, ok := s.parameter(n); ok {
			found = append(found, p)
		} else {
			invalid = append(invalid, n)
		}
	}
	return map[string]any{"Parameters": found, "InvalidParameters": invalid}, nil
}

// parameter renders a public parameter as SSM returns it.
func (s *Server) parameter(name string) (map[string]any, bool) {
	for _, im := range images(s.opts.Region) {
		if im.Param != name {
			continue
		}
		return map[string]any{
			"Name": name, "Type": "String", "Value": im.ID, "Version": 1,
			"LastModifiedDate": epochSeconds(time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)),
			"ARN":              "arn:aws:ssm:" + s.opts.Region + "::parameter" + name,
			"DataType":         "text",
		}, true
	}
	return nil, false
}
