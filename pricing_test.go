package runctl

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl/internal/pricecache"
)

// g4dnPriceList is shaped like a real GetProducts answer: each entry a JSON
// document encoded as a string, with on-demand and reserved terms.
var g4dnPriceList = []string{`{
  "product": {"productFamily": "Compute Instance", "sku": "SKU1",
    "attributes": {"instanceType": "g4dn.xlarge", "regionCode": "us-east-1", "operatingSystem": "Linux",
      "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used", "vcpu": "4"}},
  "serviceCode": "AmazonEC2",
  "terms": {
    "OnDemand": {"SKU1.JRTCKXETXF": {"offerTermCode": "JRTCKXETXF", "sku": "SKU1",
      "priceDimensions": {"SKU1.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "beginRange": "0", "endRange": "Inf",
        "description": "$0.526 per On Demand Linux g4dn.xlarge Instance Hour",
        "pricePerUnit": {"USD": "0.5260000000"}}}}},
    "Reserved": {"SKU1.4NA7Y494T4": {"priceDimensions": {"SKU1.4NA7Y494T4.6YS6EN2CT7": {"unit": "Hrs",
      "pricePerUnit": {"USD": "0.3310000000"}}}}}
  },
  "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z"
}`}

func TestParsePriceList(t *testing.T) {
	usd, ok, err := parsePriceList(g4dnPriceList)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 0.526, usd, "the on-demand hourly price, not the reserved one")

	_, ok, err = parsePriceList(nil)
	require.NoError(t, err)
	assert.False(t, ok, "no entry means unknown, not $0")

	_, _, err = parsePriceList([]string{`{"terms": {"OnDemand": {"x": {"priceDimensions": {"y": {"unit": "Hrs", "pricePerUnit": {"USD": "abc"}}}}}}}`})
	assert.Error(t, err)
	_, ok, err = parsePriceList([]string{`{"terms": {"OnDemand": {"x": {"priceDimensions": {"y": {"unit": "Quantity", "pricePerUnit": {"USD": "100"}}}}}}}`})
	require.NoError(t, err)
	assert.False(t, ok, "an upfront fee is not an hourly price")
}

func TestLatestSpotPricePerZone(t *testing.T) {
	at := func(h int) *time.Time { return aws.Time(time.Date(2026, 12, 4, h, 0, 0, 0, time.UTC)) }
	zp := latestPerZone([]ec2types.SpotPrice{
		{AvailabilityZone: aws.String("us-east-1a"), SpotPrice: aws.String("0.9000"), Timestamp: at(1)},
		{AvailabilityZone: aws.String("us-east-1a"), SpotPrice: aws.String("0.2000"), Timestamp: at(3)},
		{AvailabilityZone: aws.String("us-east-1b"), SpotPrice: aws.String("0.1500"), Timestamp: at(2)},
		{AvailabilityZone: aws.String("us-east-1c"), SpotPrice: aws.String("garbage"), Timestamp: at(2)},
	})
	require.Len(t, zp, 2)
	assert.Equal(t, "us-east-1b", zp[0].Zone, "cheapest first")
	assert.Equal(t, 0.15, zp[0].Price.USD)
	assert.Equal(t, "us-east-1a", zp[1].Zone)
	assert.Equal(t, 0.2, zp[1].Price.USD, "the latest price, not an old cheaper or dearer one")
}

// switchPricing answers with g4dnPriceList unless down.
type switchPricing struct {
	PricingAPI
	down  bool
	calls int
}

func (s *switchPricing) GetProducts(context.Context, *pricing.GetProductsInput,
	...func(*pricing.Options)) (*pricing.GetProductsOutput, error) {
	s.calls++
	if s.down {
		return nil, apiErr("ServiceUnavailableException")
	}
	return &pricing.GetProductsOutput{PriceList: g4dnPriceList}, nil
}

func TestOnDemandFallsBackLiveThenCacheThenEmbedded(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	live := &switchPricing{}
	p := newPricer(newFakeEC2(), live, clock, pricecache.Open(dir+"/prices.json"))
	ctx := context.Background()

	got := p.onDemandPrice(ctx, "us-east-1", "g4dn.xlarge")
	assert.Equal(t, Price{USD: 0.526, Known: true, Source: "pricing-api", AsOf: clock.Now()}, got)

	// A new process while the API is down gets the cached price, with its age.
	live.down = true
	clock.After(48 * time.Hour)
	p = newPricer(newFakeEC2(), live, clock, pricecache.Open(dir+"/prices.json"))
	got = p.onDemandPrice(ctx, "us-east-1", "g4dn.xlarge")
	assert.Equal(t, "cache of pricing-api", got.Source)
	assert.Equal(t, 48*time.Hour, clock.Now().Sub(got.AsOf))

	// No cache and no API: the embedded table.
	p = newPricer(newFakeEC2(), live, clock, pricecache.Open(t.TempDir()+"/prices.json"))
	got = p.onDemandPrice(ctx, "us-east-1", "g4dn.xlarge")
	assert.Equal(t, "embedded", got.Source)
	assert.True(t, got.Known)

	// A type nobody knows stays unknown.
	got = p.onDemandPrice(ctx, "us-east-1", "zz9.huge")
	assert.False(t, got.Known)
	assert.Equal(t, "unknown", got.String())
}

func TestFreshCacheSavesTheCall(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	live := &switchPricing{}
	newPricer(newFakeEC2(), live, clock, pricecache.Open(dir+"/p.json")).onDemandPrice(context.Background(), "us-east-1", "g4dn.xlarge")
	require.Equal(t, 1, live.calls)
	clock.After(time.Hour)
	newPricer(newFakeEC2(), live, clock, pricecache.Open(dir+"/p.json")).onDemandPrice(context.Background(), "us-east-1", "g4dn.xlarge")
	assert.Equal(t, 1, live.calls)
}

func TestInstanceCost(t *testing.T) {
	price := Price{USD: 3.6, Known: true}
	for _, tc := range []struct {
		d    time.Duration
		want float64
	}{
		{10 * time.Second, 0.06}, // one-minute minimum
		{time.Minute, 0.06},
		{90 * time.Second, 0.09}, // then per second
		{2 * time.Hour, 7.2},
	} {
		got, ok := instanceCost(tc.d, price)
		assert.True(t, ok)
		assert.InDelta(t, tc.want, got, 1e-9, tc.d.String())
	}
	_, ok := instanceCost(time.Hour, Price{})
	assert.False(t, ok, "an unknown price gives an unknown cost")
}

func TestSpotNearOnDemandWarns(t *testing.T) {
	env := newTestEnv(t)
	env.ec2.spot = map[string]string{"us-east-1a": "0.5000"}
	_, err := env.c.CreateInstance(context.Background(), "g4dn.xlarge", Spot())
	require.NoError(t, err)
	w := eventsOf[CostWarning](env.rec)
	require.Len(t, w, 1)
	assert.Contains(t, w[0].Message, "95% of on-demand")
}
