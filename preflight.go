package runctl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/runctl/runctl/internal/prices"
)

// ssmPolicy is the managed policy an instance role needs for SSM to reach
// the instance.
const ssmPolicy = "AmazonSSMManagedInstanceCore"

// PreflightInput says what a run will need, so [Client.Preflight] can check
// it before anything is paid for. Empty fields are not checked.
type PreflightInput struct {
	InstanceType    string
	Spot            bool
	Fallback        bool // a fallback to on-demand is allowed
	InstanceProfile string
	AMI             string
	CodeDir         string
	Script          string // relative to CodeDir
	NeedBucket      bool   // code will be shipped through the client's bucket
}

// CheckStatus is the outcome of one preflight check.
type CheckStatus string

// The outcomes of a check.
const (
	CheckOK      CheckStatus = "ok"
	CheckWarning CheckStatus = "warning" // might still work
	CheckFailed  CheckStatus = "failed"  // will not work
)

// Check is one preflight check: what it found, why it matters and what
// fixes it.
type Check struct {
	Name   string      `json:"name"`
	Status CheckStatus `json:"status"`
	Detail string      `json:"detail"`
	Why    string      `json:"why,omitempty"`
	Fix    string      `json:"fix,omitempty"`
}

// PreflightReport holds every check of one preflight.
type PreflightReport struct {
	Account string  `json:"account"`
	Checks  []Check `json:"checks"`
}

// Err returns a *PreflightError listing every failed check, or nil.
func (r *PreflightReport) Err() error {
	var failed []Check
	for _, c := range r.Checks {
		if c.Status == CheckFailed {
			failed = append(failed, c)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &PreflightError{Problems: failed}
}

func (r *PreflightReport) add(c Check) { r.Checks = append(r.Checks, c) }

// PreflightError reports every problem found before launch, together.
type PreflightError struct {
	Problems []Check
}

func (e *PreflightError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d problem(s) found before launching anything:", len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  - %s: %s", p.Name, p.Detail)
		if p.Why != "" {
			fmt.Fprintf(&b, " (%s)", p.Why)
		}
		if p.Fix != "" {
			fmt.Fprintf(&b, "\n    fix: %s", p.Fix)
		}
	}
	return b.String()
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+$`)

// Preflight checks credentials, region, instance type, image, instance
// profile, bucket, script and quotas as far as in asks, and reports every
// problem at once. It launches nothing and changes nothing but one small
// marker object that proves the bucket is writable.
func (c *Client) Preflight(ctx context.Context, in PreflightInput) *PreflightReport {
	r := &PreflightReport{}
	c.emit(ctx, PhaseStarted{Phase: PhasePreflight})
	c.checkCredentials(ctx, r)
	c.checkRegion(r)
	if in.InstanceType != "" {
		c.checkInstanceType(ctx, r, in)
	}
	if in.InstanceProfile != "" {
		c.checkProfile(ctx, r, in.InstanceProfile)
	}
	if in.NeedBucket {
		c.checkBucket(ctx, r)
	}
	if in.Script != "" {
		checkScriptFile(r, in.CodeDir, in.Script)
	}
	if in.InstanceType != "" {
		c.checkQuotas(ctx, r, in)
	}
	c.emit(ctx, PreflightChecked{Checks: r.Checks})
	c.emit(ctx, PhaseFinished{Phase: PhasePreflight, Err: r.Err()})
	return r
}

func (c *Client) checkCredentials(ctx context.Context, r *PreflightReport) {
	out, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil && scopeOf(err) == ScopeThrottle {
		r.add(Check{Name: "credentials", Status: CheckFailed, Detail: explain(err),
			Why: "AWS answered, but kept refusing for now", Fix: "wait a minute and try again"})
		return
	}
	if err != nil {
		r.add(Check{Name: "credentials", Status: CheckFailed, Detail: explain(err),
			Why: "every AWS call needs them",
			Fix: "set AWS_PROFILE, run 'aws configure' or 'aws sso login', or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"})
		return
	}
	r.Account = aws.ToString(out.Account)
	r.add(Check{Name: "credentials", Status: CheckOK,
		Detail: fmt.Sprintf("account %s as %s", r.Account, aws.ToString(out.Arn))})
}

func (c *Client) checkRegion(r *PreflightReport) {
	if !regionRE.MatchString(c.cfg.Region) {
		r.add(Check{Name: "region", Status: CheckFailed, Detail: fmt.Sprintf("%q is not a region", c.cfg.Region),
			Fix: "pass --region such as us-east-1, or set AWS_REGION"})
		return
	}
	r.add(Check{Name: "region", Status: CheckOK, Detail: c.cfg.Region})
}

func (c *Client) checkInstanceType(ctx context.Context, r *PreflightReport, in PreflightInput) {
	if !instanceTypeRE.MatchString(in.InstanceType) {
		r.add(Check{Name: "instance type", Status: CheckFailed,
			Detail: fmt.Sprintf("%q is not an instance type", in.InstanceType),
			Fix:    "pass a type such as t3.micro or g4dn.xlarge"})
		return
	}
	p := &launchPlan{itype: in.InstanceType, ami: in.AMI}
	if err := c.resolveImage(ctx, p); err != nil {
		var ce *ConfigError
		name := "image"
		if errors.As(err, &ce) && strings.Contains(ce.Problem, "instance type") {
			name = "instance type"
		}
		detail := explain(err)
		if ce != nil {
			detail = ce.Problem
		}
		r.add(Check{Name: name, Status: CheckFailed, Detail: detail, Fix: fixOf(err)})
		return
	}
	r.add(Check{Name: "instance type", Status: CheckOK, Detail: in.InstanceType + " is offered in " + c.cfg.Region})
	r.add(Check{Name: "image", Status: CheckOK, Detail: p.ami})
}

// checkProfile checks that the instance profile exists, that its role
// trusts EC2 and that it carries the SSM policy. Without them the instance
// runs but runctl can never reach it.
func (c *Client) checkProfile(ctx context.Context, r *PreflightReport, name string) {
	const why = "without it the SSM agent never comes online and runctl cannot reach the instance"
	fix := "run 'runctl aws setup' to create the runctl-ssm role and instance profile"
	out, err := c.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if err != nil {
		r.add(Check{Name: "instance profile", Status: CheckFailed,
			Detail: fmt.Sprintf("%s: %s", name, explain(err)), Why: why, Fix: fix})
		return
	}
	roles := out.InstanceProfile.Roles
	if len(roles) == 0 {
		r.add(Check{Name: "instance profile", Status: CheckFailed, Detail: name + " has no role", Why: why, Fix: fix})
		return
	}
	role := roles[0]
	if doc, err := url.QueryUnescape(aws.ToString(role.AssumeRolePolicyDocument)); err == nil && doc != "" &&
		!strings.Contains(doc, "ec2.amazonaws.com") {
		r.add(Check{Name: "instance profile", Status: CheckFailed,
			Detail: fmt.Sprintf("role %s does not trust ec2.amazonaws.com", aws.ToString(role.RoleName)), Why: why, Fix: fix})
		return
	}
	pol, err := c.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: role.RoleName})
	if err != nil {
		r.add(Check{Name: "instance profile", Status: CheckWarning,
			Detail: fmt.Sprintf("could not list the policies of role %s: %s", aws.ToString(role.RoleName), explain(err))})
		return
	}
	for _, p := range pol.AttachedPolicies {
		if aws.ToString(p.PolicyName) == ssmPolicy {
			r.add(Check{Name: "instance profile", Status: CheckOK,
				Detail: fmt.Sprintf("%s (role %s with %s)", name, aws.ToString(role.RoleName), ssmPolicy)})
			return
		}
	}
	r.add(Check{Name: "instance profile", Status: CheckFailed,
		Detail: fmt.Sprintf("role %s lacks the %s policy", aws.ToString(role.RoleName), ssmPolicy), Why: why,
		Fix: fmt.Sprintf("aws iam attach-role-policy --role-name %s --policy-arn arn:aws:iam::aws:policy/%s",
			aws.ToString(role.RoleName), ssmPolicy)})
}

// checkBucket checks that the bucket exists and takes writes, or suggests
// one of the account's buckets when none is set.
func (c *Client) checkBucket(ctx context.Context, r *PreflightReport) {
	const why = "the code travels to the instance through it"
	if c.opts.bucket == "" {
		fix := "pass --bucket NAME (env RUNCTL_BUCKET), or run 'runctl aws setup --bucket NAME' to create one"
		if s := c.suggestBuckets(ctx); len(s) > 0 {
			fix = fmt.Sprintf("pass --bucket %s (your buckets that look meant for this: %s), or run 'runctl aws setup --bucket NAME'",
				s[0], strings.Join(s, ", "))
		}
		r.add(Check{Name: "bucket", Status: CheckFailed, Detail: "no S3 bucket is set", Why: why, Fix: fix})
		return
	}
	bucket := aws.String(c.opts.bucket)
	if _, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); err != nil {
		r.add(Check{Name: "bucket", Status: CheckFailed, Detail: fmt.Sprintf("%s: %s", c.opts.bucket, explainBucket(err)),
			Why: why, Fix: fmt.Sprintf("run 'runctl aws setup --bucket %s', or pass another with --bucket", c.opts.bucket)})
		return
	}
	_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("runctl/.preflight"),
		Body: strings.NewReader("runctl preflight\n")})
	if err != nil {
		r.add(Check{Name: "bucket", Status: CheckFailed, Detail: fmt.Sprintf("%s is not writable: %s", c.opts.bucket, explain(err)),
			Why: why, Fix: "grant s3:PutObject on arn:aws:s3:::" + c.opts.bucket + "/runctl/*"})
		return
	}
	r.add(Check{Name: "bucket", Status: CheckOK, Detail: c.opts.bucket + " exists and is writable"})
}

// suggestBuckets returns the account's buckets whose names suggest runctl,
// training or ML use.
func (c *Client) suggestBuckets(ctx context.Context) []string {
	out, err := c.s3.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return nil
	}
	var names []string
	for _, b := range out.Buckets {
		n := aws.ToString(b.Name)
		for _, w := range []string{"runctl", "train", "ml", "model", "sagemaker", "checkpoint"} {
			if strings.Contains(n, w) {
				names = append(names, n)
				break
			}
		}
	}
	sort.Slice(names, func(i, j int) bool {
		return strings.Contains(names[i], "runctl") && !strings.Contains(names[j], "runctl")
	})
	return names
}

func explainBucket(err error) string {
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFound", "NoSuchBucket":
			return "it does not exist"
		case "Forbidden", "AccessDenied", "403":
			return "access is denied (it may belong to another account)"
		case "301", "PermanentRedirect":
			return "it is in another region"
		}
	}
	return explain(err)
}

func checkScriptFile(r *PreflightReport, dir, script string) {
	if dir == "" {
		dir = "."
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		r.add(Check{Name: "script", Status: CheckFailed, Detail: err.Error()})
		return
	}
	full := filepath.Join(root, script)
	if rel, err := filepath.Rel(root, full); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		r.add(Check{Name: "script", Status: CheckFailed, Detail: fmt.Sprintf("%s is outside %s", script, dir),
			Fix: "pass a path relative to --code-dir"})
		return
	}
	fi, err := os.Stat(full)
	switch {
	case err != nil:
		r.add(Check{Name: "script", Status: CheckFailed, Detail: fmt.Sprintf("%s does not exist in %s", script, dir),
			Fix: "pass the script's path relative to --code-dir"})
	case fi.IsDir():
		r.add(Check{Name: "script", Status: CheckFailed, Detail: fmt.Sprintf("%s is a directory", script)})
	default:
		r.add(Check{Name: "script", Status: CheckOK, Detail: filepath.Join(dir, script)})
	}
}

// checkQuotas reads the account's vCPU quotas for the type's family in the
// markets the launch may use. Service Quotas is not always readable, so a
// failure to read is only a warning.
func (c *Client) checkQuotas(ctx context.Context, r *PreflightReport, in PreflightInput) {
	spec, ok := prices.Lookup(in.InstanceType)
	if !ok {
		return
	}
	quotas, err := c.listQuotas(ctx)
	if err != nil {
		r.add(Check{Name: "quotas", Status: CheckWarning, Detail: "could not read vCPU quotas: " + explain(err)})
		return
	}
	class := quotaClass(in.InstanceType)
	markets := []Market{MarketOnDemand}
	if in.Spot {
		markets = []Market{MarketSpot}
		if in.Fallback {
			markets = append(markets, MarketOnDemand)
		}
	}
	for _, m := range markets {
		name := quotaName(m, class)
		limit, found := quotas[name]
		check := Check{Name: string(m) + " quota", Status: CheckOK}
		switch {
		case !found:
			check.Status, check.Detail = CheckWarning, fmt.Sprintf("no quota named %q was found", name)
		case limit < float64(spec.VCPU):
			check.Status = CheckFailed
			if m == MarketOnDemand && in.Spot {
				check.Status = CheckWarning // spot may still work
			}
			check.Detail = fmt.Sprintf("%q is %.0f vCPUs; %s needs %d", name, limit, in.InstanceType, spec.VCPU)
			check.Why = "AWS refuses the launch"
			check.Fix = fmt.Sprintf("request at least %d vCPUs for %q in the Service Quotas console (%s)",
				spec.VCPU, name, c.cfg.Region)
		default:
			check.Detail = fmt.Sprintf("%q is %.0f vCPUs", name, limit)
		}
		r.add(check)
	}
}

func (c *Client) listQuotas(ctx context.Context) (map[string]float64, error) {
	out := map[string]float64{}
	p := servicequotas.NewListServiceQuotasPaginator(c.quotas, &servicequotas.ListServiceQuotasInput{
		ServiceCode: aws.String("ec2"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, q := range page.Quotas {
			out[aws.ToString(q.QuotaName)] = aws.ToFloat64(q.Value)
		}
	}
	return out, nil
}

// quotaClass names the group of families that share a vCPU quota.
func quotaClass(itype string) string {
	family, _, _ := strings.Cut(itype, ".")
	switch {
	case strings.HasPrefix(family, "g"), strings.HasPrefix(family, "vt"):
		return "G and VT"
	case strings.HasPrefix(family, "p"):
		return "P"
	case strings.HasPrefix(family, "inf"):
		return "Inf"
	case strings.HasPrefix(family, "trn"):
		return "Trn"
	case strings.HasPrefix(family, "dl"):
		return "DL"
	case strings.HasPrefix(family, "f"):
		return "F"
	case strings.HasPrefix(family, "x"):
		return "X"
	}
	return "Standard (A, C, D, H, I, M, R, T, Z)"
}

// quotaName is the Service Quotas name of a market's vCPU quota.
func quotaName(m Market, class string) string {
	if m == MarketSpot {
		return "All " + class + " Spot Instance Requests"
	}
	return "Running On-Demand " + class + " instances"
}

// explain returns the plain explanation of an AWS error, or its text.
func explain(err error) string {
	if ae := classify("", err); ae != nil {
		if ae.Message != "" && (ae.Scope == ScopeUnknown || ae.Scope == ScopeConfig) {
			return fmt.Sprintf("%s (%s: %s)", ae.Explanation, ae.Code, ae.Message)
		}
		return fmt.Sprintf("%s (%s)", ae.Explanation, ae.Code)
	}
	return err.Error()
}

func fixOf(err error) string {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce.Fix
	}
	if ae := classify("", err); ae != nil {
		return ae.Fix
	}
	return ""
}
