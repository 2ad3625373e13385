package runctl

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	pricingtypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"

	"github.com/runctl/runctl/internal/pricecache"
	"github.com/runctl/runctl/internal/prices"
)

// Market is how an instance is bought.
type Market string

// The two markets.
const (
	MarketSpot     Market = "spot"
	MarketOnDemand Market = "on-demand"
)

// Price is an hourly price in US dollars and where it came from. A Price
// whose Known is false has no value: it must be shown as unknown, not $0.
type Price struct {
	USD    float64   `json:"usd"`
	Known  bool      `json:"known"`
	Source string    `json:"source,omitempty"` // "pricing-api", "spot-price-history", "embedded"
	AsOf   time.Time `json:"as_of"`            // when the source says the price took effect or was read
}

// String formats the price as "$0.5260/h", or "unknown".
func (p Price) String() string {
	if !p.Known {
		return "unknown"
	}
	if p.USD < 0.001 {
		// Four decimals would round a tiny price to a $0.0000 that reads as
		// free; show every digit.
		return "$" + strconv.FormatFloat(p.USD, 'f', -1, 64) + "/h"
	}
	return fmt.Sprintf("$%.4f/h", p.USD)
}

// ZonePrice is the spot price in one availability zone.
type ZonePrice struct {
	Zone  string `json:"zone"`
	Price Price  `json:"price"`
}

// Quote is what runctl knows of an instance type's prices in a region.
type Quote struct {
	InstanceType string      `json:"instance_type"`
	Region       string      `json:"region"`
	OnDemand     Price       `json:"on_demand"`
	Spot         []ZonePrice `json:"spot"` // cheapest first
}

// CheapestSpot returns the lowest spot price, if any zone has one.
func (q Quote) CheapestSpot() (ZonePrice, bool) {
	if len(q.Spot) == 0 {
		return ZonePrice{}, false
	}
	return q.Spot[0], true
}

// SpotIn returns the spot price in zone, unknown when there is none.
func (q Quote) SpotIn(zone string) Price {
	for _, z := range q.Spot {
		if z.Zone == zone {
			return z.Price
		}
	}
	return Price{}
}

// Quote returns the on-demand and per-zone spot prices of instanceType in
// the client's region, live where AWS answers and from runctl's embedded
// table otherwise.
func (c *Client) Quote(ctx context.Context, instanceType string) (Quote, error) {
	return c.prices.quote(ctx, c.cfg.Region, instanceType)
}

// pricer answers price questions. On-demand prices change a few times a
// year, so they are kept in memory and on disk; spot prices move all the
// time, so they are read fresh for every decision and never cached.
type pricer struct {
	ec2     EC2API
	pricing PricingAPI
	clock   Clock
	disk    *pricecache.Cache // nil: no disk cache

	mu       sync.Mutex
	onDemand map[string]Price // region/type -> price
}

// cacheFresh is how long a cached on-demand price is used without asking
// the Price List API again.
const cacheFresh = 24 * time.Hour

func newPricer(e EC2API, p PricingAPI, clock Clock, disk *pricecache.Cache) *pricer {
	return &pricer{ec2: e, pricing: p, clock: clock, disk: disk, onDemand: map[string]Price{}}
}

func (p *pricer) quote(ctx context.Context, region, itype string) (Quote, error) {
	q := Quote{InstanceType: itype, Region: region}
	q.OnDemand = p.onDemandPrice(ctx, region, itype)
	spot, err := p.spotPrices(ctx, itype)
	if err != nil {
		return q, err
	}
	q.Spot = spot
	return q, nil
}

// onDemandPrice tries, in order: a fresh cached price, the Price List API,
// a stale cached price, the embedded table. It never fails, but the price
// may be unknown.
func (p *pricer) onDemandPrice(ctx context.Context, region, itype string) Price {
	key := region + "/" + itype
	p.mu.Lock()
	mem, ok := p.onDemand[key]
	p.mu.Unlock()
	if ok {
		return mem
	}

	cached, haveCached := p.cached(region, itype)
	price := cached
	if !haveCached || p.clock.Now().Sub(cached.AsOf) > cacheFresh {
		live, err := p.liveOnDemand(ctx, region, itype)
		switch {
		case err == nil && live.Known:
			price = live
			p.store(region, itype, live)
		case haveCached:
			price = cached // a failed refresh keeps the last good price
		default:
			price = embeddedOnDemand(region, itype)
		}
	}
	if price.Known {
		p.mu.Lock()
		p.onDemand[key] = price
		p.mu.Unlock()
	}
	return price
}

func (p *pricer) cached(region, itype string) (Price, bool) {
	if p.disk == nil {
		return Price{}, false
	}
	e, ok := p.disk.Get(region, itype)
	if !ok {
		return Price{}, false
	}
	return Price{USD: e.USD, Known: true, Source: "cache of " + e.Source, AsOf: e.Fetched}, true
}

func (p *pricer) store(region, itype string, price Price) {
	if p.disk == nil {
		return
	}
	// A cache that cannot be written costs a refresh next time, nothing more.
	_ = p.disk.Put(region, itype, pricecache.Entry{USD: price.USD, Source: price.Source, Fetched: price.AsOf})
}

func embeddedOnDemand(region, itype string) Price {
	usd, ok := prices.OnDemand(region, itype)
	if !ok {
		return Price{}
	}
	date, _ := prices.AsOf()
	asOf, _ := time.Parse("2006-01-02", date)
	return Price{USD: usd, Known: true, Source: "embedded", AsOf: asOf}
}

func (p *pricer) liveOnDemand(ctx context.Context, region, itype string) (Price, error) {
	if p.pricing == nil {
		return Price{}, nil
	}
	match := func(field, value string) pricingtypes.Filter {
		return pricingtypes.Filter{Type: pricingtypes.FilterTypeTermMatch,
			Field: aws.String(field), Value: aws.String(value)}
	}
	out, err := p.pricing.GetProducts(ctx, &pricing.GetProductsInput{
		ServiceCode: aws.String("AmazonEC2"),
		Filters: []pricingtypes.Filter{
			match("instanceType", itype),
			match("regionCode", region),
			match("operatingSystem", "Linux"),
			match("tenancy", "Shared"),
			match("preInstalledSw", "NA"),
			match("capacitystatus", "Used"),
		},
		MaxResults: aws.Int32(10),
	})
	if err != nil {
		return Price{}, fmt.Errorf("getting on-demand price of %s: %w", itype, err)
	}
	usd, ok, err := parsePriceList(out.PriceList)
	if err != nil || !ok {
		return Price{}, err
	}
	return Price{USD: usd, Known: true, Source: "pricing-api", AsOf: p.clock.Now()}, nil
}

// priceListItem is the part of a Price List document runctl reads.
type priceListItem struct {
	Terms struct {
		OnDemand map[string]struct {
			PriceDimensions map[string]struct {
				Unit         string            `json:"unit"`
				PricePerUnit map[string]string `json:"pricePerUnit"`
			} `json:"priceDimensions"`
		} `json:"OnDemand"`
	} `json:"terms"`
}

// parsePriceList returns the hourly USD price in GetProducts' PriceList,
// whose entries are JSON documents encoded as strings.
func parsePriceList(list []string) (float64, bool, error) {
	for _, doc := range list {
		var item priceListItem
		if err := json.Unmarshal([]byte(doc), &item); err != nil {
			return 0, false, fmt.Errorf("reading price list entry: %w", err)
		}
		for _, term := range item.Terms.OnDemand {
			for _, dim := range term.PriceDimensions {
				if dim.Unit != "Hrs" {
					continue
				}
				usd, err := strconv.ParseFloat(dim.PricePerUnit["USD"], 64)
				if err != nil {
					return 0, false, fmt.Errorf("reading price %q: %w", dim.PricePerUnit["USD"], err)
				}
				if usd > 0 {
					return usd, true, nil
				}
			}
		}
	}
	return 0, false, nil
}

// spotPrices returns the latest Linux spot price in each zone, cheapest
// first.
func (p *pricer) spotPrices(ctx context.Context, itype string) ([]ZonePrice, error) {
	out, err := p.ec2.DescribeSpotPriceHistory(ctx, &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes:       []ec2types.InstanceType{ec2types.InstanceType(itype)},
		ProductDescriptions: []string{"Linux/UNIX"},
		StartTime:           aws.Time(p.clock.Now()),
	})
	if err != nil {
		return nil, fmt.Errorf("reading spot prices of %s: %w", itype, err)
	}
	return latestPerZone(out.SpotPriceHistory), nil
}

func latestPerZone(history []ec2types.SpotPrice) []ZonePrice {
	latest := map[string]ec2types.SpotPrice{}
	for _, sp := range history {
		zone := aws.ToString(sp.AvailabilityZone)
		prev, ok := latest[zone]
		if !ok || aws.ToTime(sp.Timestamp).After(aws.ToTime(prev.Timestamp)) {
			latest[zone] = sp
		}
	}
	var out []ZonePrice
	for zone, sp := range latest {
		usd, err := strconv.ParseFloat(aws.ToString(sp.SpotPrice), 64)
		if err != nil || usd <= 0 {
			continue
		}
		out = append(out, ZonePrice{Zone: zone, Price: Price{USD: usd, Known: true,
			Source: "spot-price-history", AsOf: aws.ToTime(sp.Timestamp)}})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Price.USD != out[j].Price.USD {
			return out[i].Price.USD < out[j].Price.USD
		}
		return out[i].Zone < out[j].Zone
	})
	return out
}
