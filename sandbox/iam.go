package sandbox

import (
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The sandbox's IAM holds roles and instance profiles in the state file, so
// every process on the directory sees what one of them created. Each
// sandbox starts with one instance profile, runctl-ssm, whose role of the
// same name carries the SSM managed policy, which is what runctl's
// preflight looks for. Only AWS managed policies can be attached.

const (
	iamNS        = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS        = "https://sts.amazonaws.com/doc/2011-06-15/"
	ssmPolicyArn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
	awsPolicyArn = "arn:aws:iam::aws:policy/"
	ec2TrustDoc  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
)

// DefaultInstanceProfile is the instance profile (and role) every sandbox
// has.
const DefaultInstanceProfile = "runctl-ssm"

// awsManagedPolicies are the AWS managed policies AttachRolePolicy knows.
var awsManagedPolicies = []string{
	"AmazonSSMManagedInstanceCore", "AmazonS3ReadOnlyAccess", "AmazonS3FullAccess",
	"CloudWatchAgentServerPolicy", "AmazonEC2ReadOnlyAccess", "AmazonSSMReadOnlyAccess",
	"AdministratorAccess", "ReadOnlyAccess",
}

// iamCreated is when the built-in profile and role were made: long enough
// ago that EC2 accepts them at once.
var iamCreated = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// iamState is the account's IAM as the state file holds it.
type iamState struct {
	Roles    map[string]*iamRole    `json:"roles"`
	Profiles map[string]*iamProfile `json:"profiles"`
}

type iamRole struct {
	Name        string    `json:"name"`
	ID          string    `json:"id"`
	Path        string    `json:"path"`
	Created     time.Time `json:"created"`
	TrustPolicy string    `json:"trust_policy"` // as sent, decoded
	Description string    `json:"description,omitempty"`
	MaxSession  int       `json:"max_session"`
	Policies    []string  `json:"policies,omitempty"` // attached managed policy ARNs
}

type iamProfile struct {
	Name    string    `json:"name"`
	ID      string    `json:"id"`
	Path    string    `json:"path"`
	Created time.Time `json:"created"`
	// Changed is when the profile was created or last given a role; EC2
	// learns of either only after the propagation delay.
	Changed time.Time `json:"changed"`
	Roles   []string  `json:"roles,omitempty"`
}

func (p *iamProfile) arn() string {
	return "arn:aws:iam::" + accountID + ":instance-profile" + p.Path + p.Name
}

func (r *iamRole) arn() string { return "arn:aws:iam::" + accountID + ":role" + r.Path + r.Name }

// defaultIAM is the IAM a new state directory starts with.
func defaultIAM() *iamState {
	name := DefaultInstanceProfile
	return &iamState{
		Roles: map[string]*iamRole{name: {Name: name, ID: "AROA" + upperHex("role/"+name, 17),
			Path: "/", Created: iamCreated, TrustPolicy: ec2TrustDoc, MaxSession: 3600,
			Policies: []string{ssmPolicyArn}}},
		Profiles: map[string]*iamProfile{name: {Name: name,
			ID: "AIPA" + upperHex("profile/"+name, 17), Path: "/", Created: iamCreated,
			Changed: iamCreated, Roles: []string{name}}},
	}
}

type xmlRole struct {
	Path                     string `xml:"Path"`
	RoleName                 string `xml:"RoleName"`
	RoleID                   string `xml:"RoleId"`
	Arn                      string `xml:"Arn"`
	CreateDate               string `xml:"CreateDate"`
	AssumeRolePolicyDocument string `xml:"AssumeRolePolicyDocument"`
	Description              string `xml:"Description,omitempty"`
	MaxSessionDuration       int    `xml:"MaxSessionDuration"`
}

// toXML renders a role; IAM returns policy documents URL-encoded.
func (r *iamRole) toXML() xmlRole {
	return xmlRole{Path: r.Path, RoleName: r.Name, RoleID: r.ID, Arn: r.arn(),
		CreateDate: awsTime(r.Created), AssumeRolePolicyDocument: url.QueryEscape(r.TrustPolicy),
		Description: r.Description, MaxSessionDuration: r.MaxSession}
}

type xmlInstanceProfile struct {
	Path                string    `xml:"Path"`
	InstanceProfileName string    `xml:"InstanceProfileName"`
	InstanceProfileID   string    `xml:"InstanceProfileId"`
	Arn                 string    `xml:"Arn"`
	CreateDate          string    `xml:"CreateDate"`
	Roles               []xmlRole `xml:"Roles>member"`
}

// profileXML renders a profile with the roles it holds.
func profileXML(st *iamState, p *iamProfile) xmlInstanceProfile {
	x := xmlInstanceProfile{Path: p.Path, InstanceProfileName: p.Name, InstanceProfileID: p.ID,
		Arn: p.arn(), CreateDate: awsTime(p.Created), Roles: []xmlRole{}}
	for _, name := range p.Roles {
		if r, ok := st.Roles[name]; ok {
			x.Roles = append(x.Roles, r.toXML())
		}
	}
	return x
}

// iamResponse is the envelope of every IAM answer: <ActionResponse> with
// an optional <ActionResult> and the request ID.
type iamResponse struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	Result    any    `xml:",omitempty"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func newIAMResponse(action, id string, result any) iamResponse {
	return iamResponse{XMLName: xml.Name{Local: action + "Response"}, Xmlns: iamNS,
		Result: result, RequestID: id}
}

type roleResult struct {
	XMLName xml.Name
	Role    xmlRole `xml:"Role"`
}

type profileResult struct {
	XMLName xml.Name
	Profile xmlInstanceProfile `xml:"InstanceProfile"`
}

type xmlAttachedPolicy struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

type attachedPoliciesResult struct {
	XMLName     xml.Name            `xml:"ListAttachedRolePoliciesResult"`
	Policies    []xmlAttachedPolicy `xml:"AttachedPolicies>member"`
	IsTruncated bool                `xml:"IsTruncated"`
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

// iamHandler answers one IAM action with the result element's content.
type iamHandler func(s *Server, f form) (any, error)

var iamActions = map[string]iamHandler{
	"GetRole":                  (*Server).iamGetRole,
	"CreateRole":               (*Server).iamCreateRole,
	"AttachRolePolicy":         (*Server).iamAttachRolePolicy,
	"ListAttachedRolePolicies": (*Server).iamListAttachedRolePolicies,
	"GetInstanceProfile":       (*Server).iamGetInstanceProfile,
	"CreateInstanceProfile":    (*Server).iamCreateInstanceProfile,
	"AddRoleToInstanceProfile": (*Server).iamAddRoleToInstanceProfile,
}

func (s *Server) queryCall(svc, action string, f form, id string) (any, error) {
	if s.takeThrottle() {
		return nil, errf(400, "Throttling", "Rate exceeded")
	}
	if svc == "sts" && action == "GetCallerIdentity" {
		return getCallerIdentityResponse{Xmlns: stsNS, RequestID: id,
			Arn: "arn:aws:iam::" + accountID + ":user/sandbox", UserID: "AIDA" + upperHex("user", 17),
			Account: accountID}, nil
	}
	h, ok := iamActions[action]
	if svc != "iam" || !ok {
		return nil, errf(400, "InvalidAction", "Could not find operation %s for version", action)
	}
	result, err := h(s, f)
	if err != nil {
		return nil, err
	}
	return newIAMResponse(action, id, result), nil
}

func (s *Server) iamGetRole(f form) (any, error) {
	var out xmlRole
	err := s.viewIAM(func(st *iamState) error {
		r, err := findRole(st, f.Get("RoleName"))
		if err == nil {
			out = r.toXML()
		}
		return err
	})
	return roleResult{XMLName: xml.Name{Local: "GetRoleResult"}, Role: out}, err
}

// iamCreateRole creates a role trusted as its policy document says.
func (s *Server) iamCreateRole(f form) (any, error) {
	name, doc := f.Get("RoleName"), f.Get("AssumeRolePolicyDocument")
	if err := checkIAMName("roleName", name, 64); err != nil {
		return nil, err
	}
	if !json.Valid([]byte(doc)) || !strings.Contains(doc, "Statement") {
		return nil, errf(400, "MalformedPolicyDocument", "This policy contains invalid Json")
	}
	path, err := iamPath(f)
	if err != nil {
		return nil, err
	}
	maxSession := 3600
	if v := f.Get("MaxSessionDuration"); v != "" {
		if maxSession, err = strconv.Atoi(v); err != nil || maxSession < 3600 || maxSession > 43200 {
			return nil, errf(400, "ValidationError", "1 validation error detected: Value '%s' at "+
				"'maxSessionDuration' failed to satisfy constraint: Member must have value "+
				"between 3600 and 43200", v)
		}
	}
	r := &iamRole{Name: name, ID: "AROA" + randomUpper(17), Path: path, Created: time.Now().UTC(),
		TrustPolicy: doc, Description: f.Get("Description"), MaxSession: maxSession}
	err = s.updateIAM(func(st *iamState) error {
		if _, ok := st.Roles[name]; ok {
			return errf(409, "EntityAlreadyExists", "Role with name %s already exists.", name)
		}
		st.Roles[name] = r
		return nil
	})
	return roleResult{XMLName: xml.Name{Local: "CreateRoleResult"}, Role: r.toXML()}, err
}

// iamAttachRolePolicy attaches an AWS managed policy; attaching one the
// role has already changes nothing, as in IAM.
func (s *Server) iamAttachRolePolicy(f form) (any, error) {
	arn := f.Get("PolicyArn")
	if !strings.HasPrefix(arn, "arn:aws:iam::") || strings.Count(arn, ":") != 5 {
		return nil, errf(400, "InvalidInput", "ARN %s is not valid.", arn)
	}
	err := s.updateIAM(func(st *iamState) error {
		r, err := findRole(st, f.Get("RoleName"))
		if err != nil {
			return err
		}
		name, ok := strings.CutPrefix(arn, awsPolicyArn)
		if !ok || !slices.Contains(awsManagedPolicies, name) {
			return errf(404, "NoSuchEntity", "Policy %s does not exist or is not attachable.", arn)
		}
		if !slices.Contains(r.Policies, arn) {
			r.Policies = append(r.Policies, arn)
		}
		return nil
	})
	return nil, err
}

func (s *Server) iamListAttachedRolePolicies(f form) (any, error) {
	res := attachedPoliciesResult{Policies: []xmlAttachedPolicy{}}
	err := s.viewIAM(func(st *iamState) error {
		r, err := findRole(st, f.Get("RoleName"))
		if err != nil {
			return err
		}
		for _, arn := range r.Policies {
			res.Policies = append(res.Policies, xmlAttachedPolicy{
				PolicyName: arn[strings.LastIndexByte(arn, '/')+1:], PolicyArn: arn})
		}
		return nil
	})
	return res, err
}

func (s *Server) iamGetInstanceProfile(f form) (any, error) {
	var out xmlInstanceProfile
	err := s.viewIAM(func(st *iamState) error {
		p, err := findInstanceProfile(st, f.Get("InstanceProfileName"))
		if err == nil {
			out = profileXML(st, p)
		}
		return err
	})
	return profileResult{XMLName: xml.Name{Local: "GetInstanceProfileResult"}, Profile: out}, err
}

func (s *Server) iamCreateInstanceProfile(f form) (any, error) {
	name := f.Get("InstanceProfileName")
	if err := checkIAMName("instanceProfileName", name, 128); err != nil {
		return nil, err
	}
	path, err := iamPath(f)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	p := &iamProfile{Name: name, ID: "AIPA" + randomUpper(17), Path: path, Created: now, Changed: now}
	var out xmlInstanceProfile
	err = s.updateIAM(func(st *iamState) error {
		if _, ok := st.Profiles[name]; ok {
			return errf(409, "EntityAlreadyExists", "Instance Profile %s already exists.", name)
		}
		st.Profiles[name] = p
		out = profileXML(st, p)
		return nil
	})
	return profileResult{XMLName: xml.Name{Local: "CreateInstanceProfileResult"}, Profile: out}, err
}

// iamAddRoleToInstanceProfile puts a role in a profile, which holds one.
func (s *Server) iamAddRoleToInstanceProfile(f form) (any, error) {
	err := s.updateIAM(func(st *iamState) error {
		p, err := findInstanceProfile(st, f.Get("InstanceProfileName"))
		if err != nil {
			return err
		}
		r, err := findRole(st, f.Get("RoleName"))
		if err != nil {
			return err
		}
		if len(p.Roles) > 0 {
			return errf(409, "LimitExceeded", "Cannot exceed quota for "+
				"InstanceSessionsPerInstanceProfile: 1")
		}
		p.Roles, p.Changed = []string{r.Name}, time.Now().UTC()
		return nil
	})
	return nil, err
}

func findRole(st *iamState, name string) (*iamRole, error) {
	if r, ok := st.Roles[name]; ok {
		return r, nil
	}
	return nil, errf(404, "NoSuchEntity", "The role with name %s cannot be found.", name)
}

func findInstanceProfile(st *iamState, name string) (*iamProfile, error) {
	if p, ok := st.Profiles[name]; ok {
		return p, nil
	}
	return nil, errf(404, "NoSuchEntity", "Instance Profile %s cannot be found.", name)
}

// viewIAM runs fn on the account's IAM under a shared lock.
func (s *Server) viewIAM(fn func(*iamState) error) error {
	return s.st.view(func(st *state) error { return fn(st.IAM) })
}

// updateIAM runs fn on the account's IAM under the exclusive lock and
// saves what it changed; an error from fn changes nothing.
func (s *Server) updateIAM(fn func(*iamState) error) error {
	return s.st.update(func(st *state) (bool, error) {
		if err := fn(st.IAM); err != nil {
			return false, err
		}
		return true, nil
	})
}

var iamNameRE = regexp.MustCompile(`^[\w+=,.@-]+$`)

func checkIAMName(field, name string, max int) error {
	if name == "" || len(name) > max || !iamNameRE.MatchString(name) {
		return errf(400, "ValidationError", "1 validation error detected: Value '%s' at '%s' "+
			"failed to satisfy constraint: Member must satisfy regular expression pattern: "+
			"[\\w+=,.@-]+ and have length between 1 and %d", name, field, max)
	}
	return nil
}

// iamPath reads the optional Path parameter: / or /a/b/.
func iamPath(f form) (string, error) {
	p := f.Get("Path")
	if p == "" {
		return "/", nil
	}
	if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || len(p) > 512 {
		return "", errf(400, "ValidationError", "The specified value for path is invalid. It "+
			"must begin and end with / and contain only alphanumeric characters and/or / "+
			"characters.")
	}
	return p, nil
}

func upperHex(s string, n int) string { return strings.ToUpper(hashHex(s, n)) }

// randomUpper returns n random upper-case letters and digits, the form of
// IAM's unique IDs.
func randomUpper(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}
