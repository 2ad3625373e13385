package runctl

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/runctl/runctl/internal/prices"
	"github.com/runctl/runctl/internal/remote"
)

// The tags runctl puts on every instance and volume it launches.
const (
	TagManaged     = "runctl:managed"
	TagRun         = "runctl:run"
	TagCreatedBy   = "runctl:created-by"
	TagMarket      = "runctl:market"
	TagPrice       = "runctl:price-per-hour"
	TagPriceSource = "runctl:price-source"
)

// Instance is an EC2 instance as runctl sees it.
type Instance struct {
	ID           string
	Type         string
	Region       string
	Zone         string
	SubnetID     string
	AMI          string
	Market       Market
	HourlyPrice  Price // the price recorded at launch
	State        string
	StateReason  string
	LaunchTime   time.Time
	RunID        string
	Managed      bool
	Tags         map[string]string
	OnDemandRate Price // the on-demand price at launch, for the saving
}

var (
	instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
	instanceIDRE   = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
)

// CreateInstance launches an instance of instanceType and waits until it
// runs and its SSM agent is online, so [Client.Train] can use it. With
// [Spot] it asks for spot capacity zone by zone and then falls back to
// on-demand with a [CostWarning]. Whatever it launched is terminated when a
// later step fails or ctx is cancelled, unless [WithKeepOnFailure] is given.
// The caller owns the returned instance and must [Client.Terminate] it.
func (c *Client) CreateInstance(
	ctx context.Context,
	instanceType string,
	opts ...CreateOption,
) (*Instance, error) {
	o := defaultCreateOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := validateCreate(instanceType, &o); err != nil {
		return nil, err
	}
	if !o.noPreflight {
		rep := c.Preflight(ctx, PreflightInput{InstanceType: instanceType, Spot: o.spot,
			Fallback: !o.noFallback, InstanceProfile: o.profile, AMI: o.ami})
		if err := rep.Err(); err != nil {
			return nil, err
		}
	}

	plan, err := c.planLaunch(ctx, instanceType, &o)
	if err != nil {
		return nil, err
	}

	inst, err := c.launch(ctx, plan)
	if err != nil {
		return nil, err
	}

	if err := c.waitReady(ctx, inst, o.readyTimeout, o.profile); err != nil {
		return nil, c.cleanupAfter(ctx, inst, o.keepOnFailure, err)
	}
	return inst, nil
}

func validateCreate(itype string, o *createOptions) error {
	switch {
	case !instanceTypeRE.MatchString(itype):
		return &ConfigError{Problem: fmt.Sprintf("%q is not an instance type", itype),
			Fix: "pass a type such as t3.micro or g4dn.xlarge"}
	case o.maxPrice < 0 || math.IsNaN(o.maxPrice) || math.IsInf(o.maxPrice, 0):
		return &ConfigError{Problem: fmt.Sprintf("the hourly price cap %v is not a price", o.maxPrice),
			Fix: "pass a price in dollars per hour, such as 0.5 (0 means no cap)"}
	case o.spotTimeout <= 0 || o.readyTimeout <= 0:
		return &ConfigError{Problem: "timeouts must be positive", Fix: "pass durations such as 2m"}
	case o.volumeGB < 0:
		return &ConfigError{Problem: "the volume size is negative", Fix: "pass a size in GiB, such as 100"}
	case o.maxLifetime < 0:
		return &ConfigError{Problem: "the maximum lifetime is negative", Fix: "pass a duration such as 12h"}
	case o.ami != "" && !strings.HasPrefix(o.ami, "ami-"):
		return &ConfigError{Problem: fmt.Sprintf("%q is not an AMI ID", o.ami), Fix: "pass an ID like ami-0123456789abcdef0"}
	}
	if o.runID == "" {
		o.runID = newRunID()
	}
	return nil
}

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "r-" + hex.EncodeToString(b)
}

// launchPlan is everything decided before the first RunInstances call.
type launchPlan struct {
	itype      string
	opts       *createOptions
	ami        string
	rootDevice string
	rootSize   int32 // GiB, the image's own root volume size
	quote      Quote
	placements []placement
}

// placement is a subnet and its zone; both empty lets AWS choose.
type placement struct {
	subnet string
	zone   string
}

// planLaunch resolves the image, the prices and the zones to try, and checks
// the price cap, all before anything is paid for.
func (c *Client) planLaunch(ctx context.Context, itype string, o *createOptions) (*launchPlan, error) {
	p := &launchPlan{itype: itype, opts: o, ami: o.ami}
	if err := c.resolveImage(ctx, p); err != nil {
		return nil, &PhaseError{Phase: PhasePreflight, Err: err}
	}

	q, err := c.Quote(ctx, itype)
	if err != nil {
		c.log.Warn("spot prices unavailable", "instance_type", itype, "err", err)
	}
	p.quote = q
	c.emit(ctx, PriceQuote{Quote: q})
	if w, ok := nearOnDemand(itype, q, o.spot); ok {
		c.emit(ctx, w)
	}
	if err := checkCap(p, o); err != nil {
		return nil, err
	}

	p.placements = c.placements(ctx, o, q)
	return p, nil
}

// checkCap refuses a launch that cannot stay under the price cap whatever
// market it ends up in.
func checkCap(p *launchPlan, o *createOptions) error {
	if o.maxPrice == 0 {
		return nil
	}
	if o.spot {
		if z, ok := p.quote.CheapestSpot(); !ok || z.Price.USD <= o.maxPrice {
			return nil
		}
	}
	od := p.quote.OnDemand
	if od.Known && od.USD <= o.maxPrice {
		return nil
	}
	if o.spot && o.noFallback {
		z, _ := p.quote.CheapestSpot()
		return &PriceCapError{InstanceType: p.itype, Market: MarketSpot, Price: z.Price.USD, Cap: o.maxPrice}
	}
	if !od.Known {
		return &ConfigError{
			Problem: fmt.Sprintf("the on-demand price of %s in %s is unknown, so the cap of $%.4f/hour cannot be checked",
				p.itype, p.quote.Region, o.maxPrice),
			Fix: "drop --max-price-per-hour, or pick a type runctl knows the price of (runctl prices TYPE)",
		}
	}
	return &PriceCapError{InstanceType: p.itype, Market: MarketOnDemand, Price: od.USD, Cap: o.maxPrice}
}

// nearOnDemandShare is how close to the on-demand price spot may get before
// runctl warns that spot saves little for its risk of interruption.
const nearOnDemandShare = 0.9

// nearOnDemand warns when the cheapest spot price is close to on-demand.
func nearOnDemand(itype string, q Quote, spot bool) (CostWarning, bool) {
	z, ok := q.CheapestSpot()
	if !spot || !ok || !q.OnDemand.Known || z.Price.USD < nearOnDemandShare*q.OnDemand.USD {
		return CostWarning{}, false
	}
	return CostWarning{InstanceType: itype, SpotPrice: z.Price.USD, OnDemandPrice: q.OnDemand.USD,
		Ratio: q.OnDemand.USD / z.Price.USD, Reason: "spot is close to the on-demand price",
		Message: fmt.Sprintf("spot %s costs %s in %s, %.0f%% of on-demand (%s): little saving for the risk of interruption",
			itype, z.Price, z.Zone, 100*z.Price.USD/q.OnDemand.USD, q.OnDemand)}, true
}

// resolveImage picks the AMI for the type's architecture and finds its root
// device, so the root volume can be encrypted and sized.
func (c *Client) resolveImage(ctx context.Context, p *launchPlan) error {
	if p.ami == "" {
		param, err := c.imageParameter(ctx, p.itype)
		if err != nil {
			return err
		}
		out, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)})
		if err != nil {
			return fmt.Errorf("resolving the AMI from %s: %w", param, err)
		}
		p.ami = aws.ToString(out.Parameter.Value)
	}
	out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{p.ami}})
	if err != nil {
		return fmt.Errorf("describing image %s: %w", p.ami, err)
	}
	if len(out.Images) == 0 {
		return &ConfigError{Problem: fmt.Sprintf("image %s does not exist in this region", p.ami),
			Fix: "pass an AMI of this region with --ami, or leave it out"}
	}
	img := out.Images[0]
	p.rootDevice = aws.ToString(img.RootDeviceName)
	for _, bd := range img.BlockDeviceMappings {
		if aws.ToString(bd.DeviceName) == p.rootDevice && bd.Ebs != nil {
			p.rootSize = aws.ToInt32(bd.Ebs.VolumeSize)
		}
	}
	return nil
}

// imageParameter names the SSM public parameter holding the latest AMI for
// the type: a deep learning image for GPU and Neuron types, Amazon Linux
// 2023 otherwise, for the type's architecture.
func (c *Client) imageParameter(ctx context.Context, itype string) (string, error) {
	arch, gpu, err := c.typeInfo(ctx, itype)
	if err != nil {
		return "", err
	}
	family, _, _ := strings.Cut(itype, ".")
	switch {
	case strings.HasPrefix(family, "trn") || strings.HasPrefix(family, "inf"):
		return "/aws/service/neuron/dlami/multi-framework/amazon-linux-2023/latest/image_id", nil
	case gpu:
		return "/aws/service/deeplearning/ami/" + arch +
			"/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id", nil
	}
	return "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-" + arch, nil
}

// typeInfo returns the type's architecture and whether it has GPUs, from
// EC2 and, when EC2 will not say, from the embedded table.
func (c *Client) typeInfo(ctx context.Context, itype string) (arch string, gpu bool, err error) {
	out, err := c.ec2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{
		InstanceTypes: []ec2types.InstanceType{ec2types.InstanceType(itype)},
	})
	if err == nil && len(out.InstanceTypes) > 0 {
		it := out.InstanceTypes[0]
		arch = "x86_64"
		if it.ProcessorInfo != nil {
			for _, a := range it.ProcessorInfo.SupportedArchitectures {
				if a == ec2types.ArchitectureTypeArm64 {
					arch = "arm64"
				}
			}
		}
		return arch, it.GpuInfo != nil && len(it.GpuInfo.Gpus) > 0, nil
	}
	if err != nil && scopeOf(err) != ScopeConfig && scopeOf(err) != ScopeUnknown {
		if spec, ok := prices.Lookup(itype); ok {
			return spec.Arch, spec.GPUs > 0, nil
		}
		return "", false, fmt.Errorf("describing instance type %s: %w", itype, err)
	}
	return "", false, unknownTypeError(itype, c.cfg.Region)
}

func unknownTypeError(itype, region string) error {
	fix := "check the spelling; runctl prices TYPE shows what a type costs"
	if near := prices.Nearest(itype); near != "" {
		fix = fmt.Sprintf("did you mean %s?", near)
	}
	return &ConfigError{Problem: fmt.Sprintf("instance type %s is not offered in %s", itype, region), Fix: fix}
}

// placements lists where to launch: the caller's subnets, or the default
// subnet of each zone, cheapest spot zone first.
func (c *Client) placements(ctx context.Context, o *createOptions, q Quote) []placement {
	in := &ec2.DescribeSubnetsInput{}
	if len(o.subnets) > 0 {
		in.SubnetIds = o.subnets
	} else {
		in.Filters = []ec2types.Filter{{Name: aws.String("default-for-az"), Values: []string{"true"}}}
	}
	out, err := c.ec2.DescribeSubnets(ctx, in)
	if err != nil || len(out.Subnets) == 0 {
		c.log.Debug("no subnets to choose from; AWS picks the zone", "err", err)
		var ps []placement
		for _, s := range o.subnets {
			ps = append(ps, placement{subnet: s})
		}
		if len(ps) == 0 {
			ps = []placement{{}}
		}
		return ps
	}
	var ps []placement
	for _, s := range out.Subnets {
		ps = append(ps, placement{subnet: aws.ToString(s.SubnetId), zone: aws.ToString(s.AvailabilityZone)})
	}
	if len(o.subnets) == 0 {
		sort.SliceStable(ps, func(i, j int) bool { return zoneRank(q, ps[i].zone) < zoneRank(q, ps[j].zone) })
	}
	return ps
}

// zoneRank orders zones by spot price, unknown prices last.
func zoneRank(q Quote, zone string) float64 {
	if p := q.SpotIn(zone); p.Known {
		return p.USD
	}
	return 1e9
}

// launch makes the RunInstances calls: spot zone by zone when asked, then
// on-demand when spot failed in a way that on-demand can help with.
func (c *Client) launch(ctx context.Context, p *launchPlan) (*Instance, error) {
	c.emit(ctx, PhaseStarted{Phase: PhaseLaunch, Detail: p.itype})
	var attempts []*AWSError
	if p.opts.spot {
		inst, tried, err := c.tryMarket(ctx, p, MarketSpot, p.opts.spotTimeout)
		attempts = append(attempts, tried...)
		if inst != nil || err != nil {
			return inst, err
		}
		if last := tried[len(tried)-1]; !canFallBack(last) {
			return nil, launchError(p.itype, attempts, last.Explanation)
		}
		if err := c.mayFallBack(ctx, p, attempts); err != nil {
			return nil, err
		}
	}
	inst, tried, err := c.tryMarket(ctx, p, MarketOnDemand, p.opts.readyTimeout)
	attempts = append(attempts, tried...)
	if inst != nil || err != nil {
		return inst, err
	}
	return nil, launchError(p.itype, attempts, tried[len(tried)-1].Explanation)
}

// canFallBack reports whether on-demand may succeed where spot failed: the
// on-demand market has its own capacity, quota and price.
func canFallBack(ae *AWSError) bool {
	return ae.Scope == ScopeZone || ae.Scope == ScopeQuota || ae.Scope == ScopePrice
}

func launchError(itype string, attempts []*AWSError, reason string) *LaunchError {
	return &LaunchError{InstanceType: itype, Attempts: attempts, Reason: reason}
}

// tryMarket tries each placement in turn. It returns the instance, or the
// failed attempts, or an error that is not AWS's answer to the launch (the
// context ended, the network failed).
func (c *Client) tryMarket(
	ctx context.Context,
	p *launchPlan,
	m Market,
	limit time.Duration,
) (*Instance, []*AWSError, error) {
	start := c.opts.clock.Now()
	var attempts []*AWSError
	for i, pl := range p.placements {
		inst, err := c.runInstance(ctx, p, m, pl, i)
		if err == nil {
			return inst, attempts, nil
		}
		ae := classify("RunInstances", err)
		if ae == nil || ctx.Err() != nil {
			return nil, attempts, &PhaseError{Phase: PhaseLaunch, Err: err}
		}
		ae.Market = m
		attempts = append(attempts, ae)

		next, retry := nextStep(ae, m, i+1 < len(p.placements) && c.opts.clock.Now().Sub(start) < limit, p)
		c.emit(ctx, LaunchAttempt{Market: m, Zone: pl.zone, Subnet: pl.subnet, Err: ae, Next: next})
		c.log.Warn("launch attempt failed", "market", m, "zone", pl.zone, "code", ae.Code, "next", next)
		if !retry {
			break
		}
	}
	return nil, attempts, nil
}

// nextStep says what follows a failed attempt: only a zone-capacity error
// is worth another zone; quotas and prices are regional.
func nextStep(ae *AWSError, m Market, moreZones bool, p *launchPlan) (string, bool) {
	if ae.Scope == ScopeZone && moreZones {
		return "trying another zone", true
	}
	fallback := m == MarketSpot && !p.opts.noFallback
	switch {
	case canFallBack(ae) && fallback:
		return "falling back to on-demand", false
	case ae.Scope == ScopeZone:
		return "no zone left to try", false
	}
	return "giving up", false
}

// mayFallBack decides whether a failed spot launch moves to on-demand, and
// warns about the cost when it does.
func (c *Client) mayFallBack(ctx context.Context, p *launchPlan, attempts []*AWSError) error {
	last := attempts[len(attempts)-1]
	if p.opts.noFallback {
		return launchError(p.itype, attempts, "spot failed and fallback to on-demand is off")
	}
	od := p.quote.OnDemand
	if p.opts.maxPrice > 0 && (!od.Known || od.USD > p.opts.maxPrice) {
		return &PriceCapError{InstanceType: p.itype, Market: MarketOnDemand, Price: od.USD,
			Cap: p.opts.maxPrice, Cause: launchError(p.itype, attempts, last.Explanation)}
	}
	c.emit(ctx, fallbackWarning(p, last))
	return nil
}

// fallbackWarning builds the cost warning for a move from spot to on-demand.
func fallbackWarning(p *launchPlan, cause *AWSError) CostWarning {
	w := CostWarning{InstanceType: p.itype, OnDemandPrice: p.quote.OnDemand.USD,
		Reason: cause.Explanation, Code: cause.Code}
	spot, ok := p.quote.CheapestSpot()
	if ok {
		w.SpotPrice = spot.Price.USD
	}
	if ok && p.quote.OnDemand.Known && spot.Price.USD > 0 {
		w.Ratio = p.quote.OnDemand.USD / spot.Price.USD
	}
	w.Message = fmt.Sprintf("spot %s failed (%s: %s); falling back to on-demand at %s instead of spot at %s",
		p.itype, cause.Code, cause.Explanation, p.quote.OnDemand, spotString(spot, ok))
	if w.Ratio > 0 {
		w.Message += fmt.Sprintf(", about %.1fx more", w.Ratio)
	}
	return w
}

func spotString(z ZonePrice, ok bool) string {
	if !ok {
		return "an unknown price"
	}
	return z.Price.String()
}

// runInstance makes one RunInstances call. Capacity, quota and price errors
// come back at once instead of being retried by the SDK.
func (c *Client) runInstance(
	ctx context.Context,
	p *launchPlan,
	m Market,
	pl placement,
	attempt int,
) (*Instance, error) {
	price := p.quote.OnDemand
	if m == MarketSpot {
		price = p.quote.SpotIn(pl.zone)
		if !price.Known {
			price, _ = cheapest(p.quote)
		}
	}
	in := c.runInput(p, m, pl, attempt, price)
	out, err := c.ec2.RunInstances(ctx, in, func(o *ec2.Options) {
		o.Retryer = finalCodes{o.Retryer}
	})
	if err != nil {
		if ctx.Err() != nil {
			// The request may have reached EC2 before ctx ended.
			c.sweepRun(ctx, p.opts.runID)
		}
		return nil, err
	}
	if len(out.Instances) == 0 {
		return nil, fmt.Errorf("RunInstances returned no instance")
	}
	inst := c.fromEC2(out.Instances[0])
	inst.HourlyPrice = price
	inst.OnDemandRate = p.quote.OnDemand
	c.log.Info("launched", "instance_id", inst.ID, "market", m, "zone", inst.Zone)
	c.emit(ctx, InstanceLaunched{Instance: *inst})
	return inst, nil
}

func cheapest(q Quote) (Price, bool) {
	z, ok := q.CheapestSpot()
	return z.Price, ok
}

func (c *Client) runInput(p *launchPlan, m Market, pl placement, attempt int, price Price) *ec2.RunInstancesInput {
	o := p.opts
	tags := map[string]string{
		TagManaged: "true", TagRun: o.runID, TagCreatedBy: creator(), TagMarket: string(m),
		"Name": "runctl " + o.runID,
	}
	if price.Known {
		tags[TagPrice] = strconv.FormatFloat(price.USD, 'f', 6, 64)
		tags[TagPriceSource] = price.Source
	}
	for k, v := range o.tags {
		tags[k] = v
	}
	in := &ec2.RunInstancesInput{
		ImageId:      aws.String(p.ami),
		InstanceType: ec2types.InstanceType(p.itype),
		MinCount:     aws.Int32(1),
		MaxCount:     aws.Int32(1),
		// One token per attempt: the SDK reuses it on its retries, so a
		// retried call never launches a second instance.
		ClientToken:                       aws.String(fmt.Sprintf("%s-%s-%d", o.runID, m, attempt)),
		InstanceInitiatedShutdownBehavior: ec2types.ShutdownBehaviorTerminate,
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{
			HttpTokens:              ec2types.HttpTokensStateRequired,
			HttpEndpoint:            ec2types.InstanceMetadataEndpointStateEnabled,
			HttpPutResponseHopLimit: aws.Int32(2),
		},
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: ec2Tags(tags)},
			{ResourceType: ec2types.ResourceTypeVolume, Tags: ec2Tags(tags)},
		},
		UserData: aws.String(base64.StdEncoding.EncodeToString(remote.BootScript(o.maxLifetime))),
	}
	if p.rootDevice != "" {
		ebs := &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true),
			VolumeType: ec2types.VolumeTypeGp3}
		// Some EC2 implementations insist on a size whenever a mapping is
		// given; the image's own size is what AWS would pick anyway.
		switch {
		case o.volumeGB > 0:
			ebs.VolumeSize = aws.Int32(o.volumeGB)
		case p.rootSize > 0:
			ebs.VolumeSize = aws.Int32(p.rootSize)
		}
		in.BlockDeviceMappings = []ec2types.BlockDeviceMapping{{DeviceName: aws.String(p.rootDevice), Ebs: ebs}}
	}
	if pl.subnet != "" {
		in.SubnetId = aws.String(pl.subnet)
	}
	if len(o.securityGroups) > 0 {
		in.SecurityGroupIds = o.securityGroups
	}
	if o.profile != "" {
		in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Name: aws.String(o.profile)}
	}
	if o.keyName != "" {
		in.KeyName = aws.String(o.keyName)
	}
	if m == MarketSpot {
		spot := &ec2types.SpotMarketOptions{
			SpotInstanceType:             ec2types.SpotInstanceTypeOneTime,
			InstanceInterruptionBehavior: ec2types.InstanceInterruptionBehaviorTerminate,
		}
		if o.maxPrice > 0 {
			spot.MaxPrice = aws.String(strconv.FormatFloat(o.maxPrice, 'f', 6, 64))
		}
		in.InstanceMarketOptions = &ec2types.InstanceMarketOptionsRequest{
			MarketType: ec2types.MarketTypeSpot, SpotOptions: spot}
	}
	return in
}

func ec2Tags(m map[string]string) []ec2types.Tag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ec2types.Tag, 0, len(m))
	for _, k := range keys {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

// finalCodes keeps the SDK from retrying errors that another attempt of the
// same call cannot fix. EC2 answers InsufficientInstanceCapacity with HTTP
// 500, which the standard retryer would otherwise repeat.
type finalCodes struct{ aws.Retryer }

func (r finalCodes) IsErrorRetryable(err error) bool {
	switch scopeOf(err) {
	case ScopeZone, ScopeQuota, ScopePrice:
		return false
	}
	return r.Retryer.IsErrorRetryable(err)
}

func (r finalCodes) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if v2, ok := r.Retryer.(aws.RetryerV2); ok {
		return v2.GetAttemptToken(ctx)
	}
	return r.Retryer.GetInitialToken(), nil
}

// sweepRun terminates anything launched for runID, for when a cancelled
// RunInstances may have launched an instance whose ID never reached us.
func (c *Client) sweepRun(ctx context.Context, runID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.teardownTimeout)
	defer cancel()
	for i := 0; i < 3; i++ {
		insts, err := c.list(ctx, []ec2types.Filter{
			{Name: aws.String("tag:" + TagRun), Values: []string{runID}},
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}},
		})
		if err == nil && len(insts) > 0 {
			for _, inst := range insts {
				_ = c.terminate(ctx, inst.ID, terminateOptions{timeout: c.opts.teardownTimeout})
			}
			return
		}
		if !c.sleep(ctx, 2*c.opts.pollMin) {
			return
		}
	}
}

// cleanupAfter terminates inst after cause made a call fail, unless the
// caller keeps it, and says what became of it in the returned error.
func (c *Client) cleanupAfter(ctx context.Context, inst *Instance, keep bool, cause error) error {
	if keep {
		return fmt.Errorf("%w (instance %s kept running as asked; terminate it yourself)", cause, inst.ID)
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.teardownTimeout)
	defer cancel()
	if err := c.terminate(tctx, inst.ID, terminateOptions{timeout: c.opts.teardownTimeout}); err != nil {
		return errors.Join(cause, fmt.Errorf("instance %s may still be running: %w", inst.ID, err))
	}
	return fmt.Errorf("%w (instance %s terminated)", cause, inst.ID)
}

// waitReady waits for the instance to run and its SSM agent to come online,
// both within limit.
func (c *Client) waitReady(ctx context.Context, inst *Instance, limit time.Duration, profile string) error {
	deadline := c.opts.clock.Now().Add(limit)
	if err := c.waitRunning(ctx, inst, deadline, limit); err != nil {
		return err
	}
	err := c.waitOnline(ctx, inst, deadline, limit)
	var te *TimeoutError
	if errors.As(err, &te) && ctx.Err() == nil {
		te.Hint = c.agentHint(ctx, profile)
	}
	return err
}

// agentHint says which of the usual reasons keeps an SSM agent offline, as
// far as runctl can tell from outside the instance.
func (c *Client) agentHint(ctx context.Context, profile string) string {
	if profile == "" {
		return "the instance has no instance profile, so its SSM agent cannot register; " +
			"pass --iam-instance-profile runctl-ssm (runctl aws setup creates it)"
	}
	r := &PreflightReport{}
	c.checkProfile(ctx, r, profile)
	if len(r.Checks) > 0 && r.Checks[0].Status == CheckFailed {
		return fmt.Sprintf("%s; fix: %s", r.Checks[0].Detail, r.Checks[0].Fix)
	}
	return fmt.Sprintf("instance profile %s looks right, so the subnet likely has no route to the SSM "+
		"endpoints (no internet gateway or NAT, and no VPC endpoints for ssm, ssmmessages and ec2messages), "+
		"or the AMI lacks the SSM agent; a profile created moments ago can also take minutes to reach EC2", profile)
}

func (c *Client) waitRunning(ctx context.Context, inst *Instance, deadline time.Time, limit time.Duration) error {
	w := waitSpec{phase: PhaseWaitRunning, id: inst.ID, deadline: deadline, limit: limit,
		hint: "the instance did not start; AWS may be short of capacity"}
	return c.wait(ctx, w, func(ctx context.Context) (string, bool, error) {
		cur, err := c.Describe(ctx, inst.ID)
		if err != nil {
			if isNotFound(err) {
				return "not visible yet", false, nil
			}
			return "", false, err
		}
		inst.State, inst.StateReason, inst.Zone = cur.State, cur.StateReason, cur.Zone
		switch cur.State {
		case "running":
			return cur.State, true, nil
		case "pending":
			return cur.State, false, nil
		}
		return cur.State, false, fmt.Errorf("instance %s is %s before it ran: %s", inst.ID, cur.State, cur.StateReason)
	})
}

func (c *Client) waitOnline(ctx context.Context, inst *Instance, deadline time.Time, limit time.Duration) error {
	w := waitSpec{phase: PhaseWaitSSM, id: inst.ID, deadline: deadline, limit: limit,
		hint: "the SSM agent never came online: the instance profile may be missing or lack " +
			"AmazonSSMManagedInstanceCore, the subnet may have no route to the SSM endpoints, " +
			"or the AMI may lack the agent (runctl aws doctor checks the first two)"}
	polls := 0
	return c.wait(ctx, w, func(ctx context.Context) (string, bool, error) {
		polls++
		out, err := c.ssm.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
			Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{inst.ID}}},
		})
		if err != nil {
			return "", false, fmt.Errorf("asking SSM about %s: %w", inst.ID, err)
		}
		for _, info := range out.InstanceInformationList {
			if info.PingStatus == ssmtypes.PingStatusOnline {
				return "online", true, nil
			}
		}
		if polls%5 == 0 {
			if cur, err := c.Describe(ctx, inst.ID); err == nil && cur.State != "running" {
				return cur.State, false, fmt.Errorf("instance %s is %s: %s", inst.ID, cur.State, cur.StateReason)
			}
		}
		return "agent offline", false, nil
	})
}

// waitSpec describes one wait for [Client.wait].
type waitSpec struct {
	phase    Phase
	id       string
	deadline time.Time
	limit    time.Duration
	hint     string
}

// wait polls check until it reports done, returns an error, the deadline
// passes or ctx ends, backing off while the state stays the same and
// reporting progress after every poll.
func (c *Client) wait(ctx context.Context, w waitSpec, check func(context.Context) (string, bool, error)) error {
	clock := c.opts.clock
	start := clock.Now()
	c.emit(ctx, PhaseStarted{Phase: w.phase, InstanceID: w.id})
	interval, last := c.opts.pollMin, ""
	for {
		state, done, err := check(ctx)
		elapsed := clock.Now().Sub(start)
		if err != nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		if err != nil {
			err = &PhaseError{Phase: w.phase, InstanceID: w.id, Err: err}
		}
		if err != nil || done {
			c.emit(ctx, PhaseFinished{Phase: w.phase, InstanceID: w.id, Elapsed: elapsed, Err: err})
			return err
		}
		c.emit(ctx, WaitProgress{Phase: w.phase, InstanceID: w.id, State: state, Elapsed: elapsed, Limit: w.limit})
		if state != last {
			interval, last = c.opts.pollMin, state
		}
		if !clock.Now().Before(w.deadline) {
			return &TimeoutError{Phase: w.phase, InstanceID: w.id, Limit: w.limit, State: state, Hint: w.hint}
		}
		if !c.sleep(ctx, min(interval, w.deadline.Sub(clock.Now()))) {
			return &PhaseError{Phase: w.phase, InstanceID: w.id, Err: ctx.Err()}
		}
		interval = min(interval*3/2, c.opts.pollMax)
	}
}

// sleep pauses for d or until ctx ends, and reports whether it slept fully.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 || ctx.Err() != nil {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-c.opts.clock.After(d):
		return true
	}
}

// Describe returns the instance with the given ID.
func (c *Client) Describe(ctx context.Context, id string) (*Instance, error) {
	if !instanceIDRE.MatchString(id) {
		return nil, &ConfigError{Problem: fmt.Sprintf("%q is not an instance ID", id),
			Fix: "pass an ID like i-0123456789abcdef0 (runctl aws list shows yours)"}
	}
	out, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		if ae := classify("DescribeInstances", err); ae != nil && ae.Scope == ScopeNotFound {
			ae.Explanation = fmt.Sprintf("no instance %s in %s (or it was terminated long ago)", id, c.cfg.Region)
			ae.Fix = "check the ID and the region; runctl aws list shows runctl's instances"
			return nil, ae
		}
		return nil, fmt.Errorf("describing instance %s: %w", id, err)
	}
	for _, r := range out.Reservations {
		for _, it := range r.Instances {
			return c.fromEC2(it), nil
		}
	}
	return nil, &AWSError{Op: "DescribeInstances", Code: "InvalidInstanceID.NotFound",
		Scope: ScopeNotFound, Explanation: "no such instance", Fix: "check the instance ID and region"}
}

// List returns the instances runctl launched that are not yet terminated.
func (c *Client) List(ctx context.Context) ([]Instance, error) {
	return c.list(ctx, []ec2types.Filter{
		{Name: aws.String("tag:" + TagManaged), Values: []string{"true"}},
		{Name: aws.String("instance-state-name"),
			Values: []string{"pending", "running", "stopping", "stopped", "shutting-down"}},
	})
}

func (c *Client) list(ctx context.Context, filters []ec2types.Filter) ([]Instance, error) {
	var out []Instance
	p := ec2.NewDescribeInstancesPaginator(c.ec2, &ec2.DescribeInstancesInput{Filters: filters})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing instances: %w", err)
		}
		for _, r := range page.Reservations {
			for _, it := range r.Instances {
				out = append(out, *c.fromEC2(it))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LaunchTime.Before(out[j].LaunchTime) })
	return out, nil
}

// fromEC2 converts EC2's description, reading back what runctl tagged.
func (c *Client) fromEC2(it ec2types.Instance) *Instance {
	inst := &Instance{
		ID: aws.ToString(it.InstanceId), Type: string(it.InstanceType), Region: c.cfg.Region,
		SubnetID: aws.ToString(it.SubnetId), AMI: aws.ToString(it.ImageId),
		LaunchTime: aws.ToTime(it.LaunchTime), Tags: map[string]string{}, Market: MarketOnDemand,
	}
	if it.Placement != nil {
		inst.Zone = aws.ToString(it.Placement.AvailabilityZone)
	}
	if it.State != nil {
		inst.State = string(it.State.Name)
	}
	if it.StateReason != nil {
		inst.StateReason = aws.ToString(it.StateReason.Code) + ": " + aws.ToString(it.StateReason.Message)
	}
	if it.InstanceLifecycle == ec2types.InstanceLifecycleTypeSpot {
		inst.Market = MarketSpot
	}
	for _, t := range it.Tags {
		inst.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	inst.Managed = inst.Tags[TagManaged] == "true"
	inst.RunID = inst.Tags[TagRun]
	if usd, err := strconv.ParseFloat(inst.Tags[TagPrice], 64); err == nil && usd > 0 {
		inst.HourlyPrice = Price{USD: usd, Known: true, Source: inst.Tags[TagPriceSource], AsOf: inst.LaunchTime}
	}
	return inst
}

// Terminate terminates an instance runctl launched and waits until AWS
// reports it terminated. It refuses an instance without runctl's tag unless
// [Force] is given. Terminating an instance that is already gone succeeds.
func (c *Client) Terminate(ctx context.Context, id string, opts ...TerminateOption) error {
	o := terminateOptions{timeout: 5 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	inst, err := c.Describe(ctx, id)
	if err != nil {
		return err
	}
	if !inst.Managed && !o.force {
		return fmt.Errorf("refusing to terminate %s: %w; pass --force (runctl.Force()) if you mean it", id, ErrNotManaged)
	}
	return c.terminate(ctx, id, o)
}

func (c *Client) terminate(ctx context.Context, id string, o terminateOptions) error {
	if _, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		return &PhaseError{Phase: PhaseTerminate, InstanceID: id, Err: fmt.Errorf("terminating: %w", err)}
	}
	c.log.Info("terminate requested", "instance_id", id)
	if o.noWait {
		return nil
	}
	state := ""
	w := waitSpec{phase: PhaseTerminate, id: id, deadline: c.opts.clock.Now().Add(o.timeout), limit: o.timeout}
	err := c.wait(ctx, w, func(ctx context.Context) (string, bool, error) {
		cur, err := c.Describe(ctx, id)
		if err != nil {
			return "", false, err
		}
		state = cur.State
		return cur.State, cur.State == "terminated", nil
	})
	var te *TimeoutError
	if errors.As(err, &te) && state == "shutting-down" {
		// Billing stops at shutting-down; some instances linger there.
		c.emit(ctx, InstanceTerminated{InstanceID: id, State: state, Final: false})
		return nil
	}
	if err != nil {
		return &PhaseError{Phase: PhaseTerminate, InstanceID: id, Err: err}
	}
	c.log.Info("terminated", "instance_id", id)
	c.emit(ctx, InstanceTerminated{InstanceID: id, State: state, Final: true})
	return nil
}
