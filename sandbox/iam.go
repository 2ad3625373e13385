package sandbox

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"time"
)

// The sandbox's IAM is fixed: one instance profile, runctl-ssm, whose role
// of the same name carries the SSM managed policy, which is what runctl's
// preflight looks for.

const (
	iamNS         = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS         = "https://sts.amazonaws.com/doc/2011-06-15/"
	ssmPolicyArn  = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
	ssmPolicyName = "AmazonSSMManagedInstanceCore"
)

// DefaultInstanceProfile is the instance profile (and role) every sandbox
// has.
const DefaultInstanceProfile = "runctl-ssm"

type profile struct {
	name string
	role string
}

var profiles = []profile{{name: DefaultInstanceProfile, role: DefaultInstanceProfile}}

func (p profile) arn() string {
	return "arn:aws:iam::" + accountID + ":instance-profile/" + p.name
}

func findProfile(name string) (profile, bool) {
	for _, p := range profiles {
		if p.name == name {
			return p, true
		}
	}
	return profile{}, false
}

func findRole(name string) bool {
	for _, p := range profiles {
		if p.role == name {
			return true
		}
	}
	return false
}

var iamCreated = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type xmlRole struct {
	Path                     string `xml:"Path"`
	RoleName                 string `xml:"RoleName"`
	RoleID                   string `xml:"RoleId"`
	Arn                      string `xml:"Arn"`
	CreateDate               string `xml:"CreateDate"`
	AssumeRolePolicyDocument string `xml:"AssumeRolePolicyDocument"`
	MaxSessionDuration       int    `xml:"MaxSessionDuration"`
}

func roleXML(name string) xmlRole {
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	return xmlRole{Path: "/", RoleName: name, RoleID: "AROA" + upperHex("role/"+name, 17),
		Arn: "arn:aws:iam::" + accountID + ":role/" + name, CreateDate: awsTime(iamCreated),
		// IAM returns policy documents URL-encoded.
		AssumeRolePolicyDocument: url.QueryEscape(doc), MaxSessionDuration: 3600}
}

type xmlInstanceProfile struct {
	Path                string    `xml:"Path"`
	InstanceProfileName string    `xml:"InstanceProfileName"`
	InstanceProfileID   string    `xml:"InstanceProfileId"`
	Arn                 string    `xml:"Arn"`
	CreateDate          string    `xml:"CreateDate"`
	Roles               []xmlRole `xml:"Roles>member"`
}

type getInstanceProfileResponse struct {
	XMLName   xml.Name           `xml:"GetInstanceProfileResponse"`
	Xmlns     string             `xml:"xmlns,attr"`
	Profile   xmlInstanceProfile `xml:"GetInstanceProfileResult>InstanceProfile"`
	RequestID string             `xml:"ResponseMetadata>RequestId"`
}

type getRoleResponse struct {
	XMLName   xml.Name `xml:"GetRoleResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Role      xmlRole  `xml:"GetRoleResult>Role"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

type xmlAttachedPolicy struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

type listAttachedRolePoliciesResponse struct {
	XMLName     xml.Name            `xml:"ListAttachedRolePoliciesResponse"`
	Xmlns       string              `xml:"xmlns,attr"`
	Policies    []xmlAttachedPolicy `xml:"ListAttachedRolePoliciesResult>AttachedPolicies>member"`
	IsTruncated bool                `xml:"ListAttachedRolePoliciesResult>IsTruncated"`
	RequestID   string              `xml:"ResponseMetadata>RequestId"`
}

type getCallerIdentityResponse struct {
	XMLName   xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Arn       string   `xml:"GetCallerIdentityResult>Arn"`
	UserID    string   `xml:"GetCallerIdentityResult>UserId"`
	Account   string   `xml:"GetCallerIdentityResult>Account"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

// serveQuery answers the STS and IAM query protocol actions.
func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, svc string) {
	id := newRequestID()
	ns := map[string]string{"sts": stsNS, "iam": iamNS}[svc]
	if err := r.ParseForm(); err != nil {
		writeQueryError(w, id, ns, errf(400, "MalformedQueryString", "%v", err))
		return
	}
	f := form{r.PostForm}
	action := f.Get("Action")
	resp, err := s.queryCall(svc, action, f, id)
	if err != nil {
		e := asAPIError(err, "ServiceFailure")
		s.log.Debug("sandbox "+svc, "action", action, "code", e.Code, "status", e.Status)
		writeQueryError(w, id, ns, e)
		return
	}
	s.log.Debug("sandbox "+svc, "action", action, "status", 200)
	writeXML(w, http.StatusOK, id, resp)
}

func (s *Server) queryCall(svc, action string, f form, id string) (any, error) {
	if s.takeThrottle() {
		return nil, errf(400, "Throttling", "Rate exceeded")
	}
	switch svc + "/" + action {
	case "sts/GetCallerIdentity":
		return getCallerIdentityResponse{Xmlns: stsNS, RequestID: id,
			Arn: "arn:aws:iam::" + accountID + ":user/sandbox", UserID: "AIDA" + upperHex("user", 17),
			Account: accountID}, nil
	case "iam/GetInstanceProfile":
		return iamGetInstanceProfile(f.Get("InstanceProfileName"), id)
	case "iam/GetRole":
		name := f.Get("RoleName")
		if !findRole(name) {
			return nil, noSuchRole(name)
		}
		return getRoleResponse{Xmlns: iamNS, Role: roleXML(name), RequestID: id}, nil
	case "iam/ListAttachedRolePolicies":
		name := f.Get("RoleName")
		if !findRole(name) {
			return nil, noSuchRole(name)
		}
		return listAttachedRolePoliciesResponse{Xmlns: iamNS, RequestID: id,
			Policies: []xmlAttachedPolicy{{PolicyName: ssmPolicyName, PolicyArn: ssmPolicyArn}}}, nil
	}
	return nil, errf(400, "InvalidAction", "Could not find operation %s for version", action)
}

func iamGetInstanceProfile(name, id string) (any, error) {
	p, ok := findProfile(name)
	if !ok {
		return nil, errf(404, "NoSuchEntity", "Instance Profile %s cannot be found.", name)
	}
	return getInstanceProfileResponse{Xmlns: iamNS, RequestID: id, Profile: xmlInstanceProfile{
		Path: "/", InstanceProfileName: p.name, InstanceProfileID: "AIPA" + upperHex("profile/"+p.name, 17),
		Arn: p.arn(), CreateDate: awsTime(iamCreated), Roles: []xmlRole{roleXML(p.role)},
	}}, nil
}

func noSuchRole(name string) error {
	return errf(404, "NoSuchEntity", "The role with name %s cannot be found.", name)
}

func upperHex(s string, n int) string {
	b := []byte(hashHex(s, n))
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
