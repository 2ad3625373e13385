package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// row is one instance type's hardware and its hourly on-demand Linux price
// in one region.
type row struct {
	region string
	spec   spec
	usd    float64
}

// spec mirrors prices.Spec; the generator cannot import the package it
// writes, since that package may not compile while it is being replaced.
type spec struct {
	Type             string
	Arch             string
	VCPU             int
	MemoryMiB        int
	GPUs             int
	GPUModel         string
	Accelerators     int
	AcceleratorModel string
}

// offer is what the generator takes from one region's offer file.
type offer struct {
	region    string
	published time.Time
	rows      []row
}

// product is the part of an offer file's product entry that is read.
type product struct {
	SKU           string     `json:"sku"`
	ProductFamily string     `json:"productFamily"`
	Attributes    attributes `json:"attributes"`
}

// attributes are a product's attributes; the offer file spells every value,
// numbers included, as a string.
type attributes struct {
	InstanceType          string `json:"instanceType"`
	VCPU                  string `json:"vcpu"`
	Memory                string `json:"memory"`
	GPU                   string `json:"gpu"`
	PhysicalProcessor     string `json:"physicalProcessor"`
	ProcessorArchitecture string `json:"processorArchitecture"`
	OperatingSystem       string `json:"operatingSystem"`
	Tenancy               string `json:"tenancy"`
	PreInstalledSw        string `json:"preInstalledSw"`
	CapacityStatus        string `json:"capacitystatus"`
	RegionCode            string `json:"regionCode"`
	LocationType          string `json:"locationType"`
	MarketOption          string `json:"marketoption"`
}

// term is one offer term of a SKU, keyed in the file by its offer term code.
type term struct {
	OfferTermCode   string                    `json:"offerTermCode"`
	PriceDimensions map[string]priceDimension `json:"priceDimensions"`
}

// priceDimension is one rate of a term; prices are decimal strings by
// currency code.
type priceDimension struct {
	Unit         string            `json:"unit"`
	PricePerUnit map[string]string `json:"pricePerUnit"`
}

// hourly is a SKU's resolved on-demand hourly price, or why there is none.
type hourly struct {
	usd float64
	err error
}

// offerParser walks an offer file as a stream: a large region's file runs
// to gigabytes, so only the products that pass the filters and their
// on-demand terms are ever held in memory.
type offerParser struct {
	dec          *json.Decoder
	region       string
	published    string
	productsSeen bool
	kept         map[string]spec   // SKU to spec, for products that pass
	prices       map[string]hourly // SKU to on-demand price
}

// parseOffer reads one region's offer file and returns the on-demand Linux
// price of every kept instance type in it.
func parseOffer(r io.Reader, region string) (*offer, error) {
	p := &offerParser{
		dec:    json.NewDecoder(r),
		region: region,
		kept:   map[string]spec{},
		prices: map[string]hourly{},
	}
	if err := p.object(p.topLevel); err != nil {
		return nil, fmt.Errorf("reading %s offer file: %w", region, err)
	}
	return p.join()
}

func (p *offerParser) topLevel(key string) error {
	switch key {
	case "publicationDate":
		return p.dec.Decode(&p.published)
	case "products":
		p.productsSeen = true
		return p.object(p.product)
	case "terms":
		return p.object(p.termType)
	default:
		return skipValue(p.dec)
	}
}

func (p *offerParser) product(sku string) error {
	var pr product
	if err := p.dec.Decode(&pr); err != nil {
		return fmt.Errorf("product %s: %w", sku, err)
	}
	if !p.wanted(pr) {
		return nil
	}
	s, err := specOf(pr.Attributes)
	if err != nil {
		return fmt.Errorf("product %s (%s): %w", sku, pr.Attributes.InstanceType, err)
	}
	p.kept[sku] = s
	return nil
}

// wanted reports whether a product is a plain on-demand Linux instance in
// the region itself, of a kept family.
func (p *offerParser) wanted(pr product) bool {
	a := pr.Attributes

	// Bare metal has its own product family and is no use for training jobs.
	if pr.ProductFamily != "Compute Instance" || strings.Contains(a.InstanceType, "metal") {
		return false
	}
	if a.OperatingSystem != "Linux" || a.Tenancy != "Shared" ||
		a.PreInstalledSw != "NA" || a.CapacityStatus != "Used" {
		return false
	}

	// A region's file also lists its Local Zones and Outposts.
	if a.RegionCode != "" && a.RegionCode != p.region {
		return false
	}
	if a.LocationType != "" && a.LocationType != "AWS Region" {
		return false
	}
	if a.MarketOption != "" && a.MarketOption != "OnDemand" {
		return false
	}
	_, ok := families[familyOf(a.InstanceType)]
	return ok
}

func (p *offerParser) termType(kind string) error {
	if kind != "OnDemand" {
		return skipValue(p.dec) // Reserved and any others
	}
	return p.object(p.onDemandTerms)
}

func (p *offerParser) onDemandTerms(sku string) error {
	// When products came first, terms of products not kept are skipped
	// undecoded; otherwise every price is kept until the join.
	if _, ok := p.kept[sku]; p.productsSeen && !ok {
		return skipValue(p.dec)
	}
	var terms map[string]term
	if err := p.dec.Decode(&terms); err != nil {
		return fmt.Errorf("on-demand terms of %s: %w", sku, err)
	}
	usd, err := hourlyUSD(terms)
	p.prices[sku] = hourly{usd: usd, err: err}
	return nil
}

// join pairs kept products with their prices and checks that each instance
// type appears once.
func (p *offerParser) join() (*offer, error) {
	o := &offer{region: p.region}
	if p.published != "" {
		t, err := time.Parse(time.RFC3339, p.published)
		if err != nil {
			return nil, fmt.Errorf("%s publicationDate: %w", p.region, err)
		}
		o.published = t
	}
	seen := map[string]string{}
	for sku, s := range p.kept {
		price, ok := p.prices[sku]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s: %s (%s) has no on-demand term", p.region, sku, s.Type)
		case price.err != nil:
			return nil, fmt.Errorf("%s: %s (%s): %w", p.region, sku, s.Type, price.err)
		}
		if other, dup := seen[s.Type]; dup {
			return nil, fmt.Errorf("%s: %s matches two products, %s and %s",
				p.region, s.Type, other, sku)
		}
		seen[s.Type] = sku
		o.rows = append(o.rows, row{region: p.region, spec: s, usd: price.usd})
	}
	return o, nil
}

// object reads one JSON object, calling fn with each key while the decoder
// stands before that key's value; fn must consume the value.
func (p *offerParser) object(fn func(key string) error) error {
	if err := expectDelim(p.dec, '{'); err != nil {
		return err
	}
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("want an object key, got %v", tok)
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	return expectDelim(p.dec, '}')
}

// hourlyUSD returns the one hourly USD rate across a SKU's on-demand terms.
func hourlyUSD(terms map[string]term) (float64, error) {
	var rates []float64
	for code, t := range terms {
		for id, d := range t.PriceDimensions {
			if d.Unit != "Hrs" {
				continue
			}
			text, ok := d.PricePerUnit["USD"]
			if !ok {
				return 0, fmt.Errorf("rate %s of term %s has no USD price", id, code)
			}
			usd, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return 0, fmt.Errorf("rate %s of term %s: %w", id, code, err)
			}
			rates = append(rates, usd)
		}
	}
	switch {
	case len(rates) == 0:
		return 0, errors.New("no hourly (Hrs) on-demand rate")
	case len(rates) > 1:
		return 0, fmt.Errorf("%d hourly on-demand rates, want one", len(rates))
	case rates[0] <= 0:
		return 0, fmt.Errorf("hourly on-demand rate is %v", rates[0])
	}
	return rates[0], nil
}

// specOf turns a kept product's attributes into its hardware spec,
// refusing anything it cannot read exactly.
func specOf(a attributes) (spec, error) {
	fam := families[familyOf(a.InstanceType)]
	s := spec{Type: a.InstanceType, GPUModel: fam.gpuModel, AcceleratorModel: fam.accel}
	var err error
	if s.VCPU, err = strconv.Atoi(a.VCPU); err != nil || s.VCPU <= 0 {
		return spec{}, fmt.Errorf("vcpu %q is not a positive count", a.VCPU)
	}
	if s.MemoryMiB, err = memoryMiB(a.Memory); err != nil {
		return spec{}, err
	}
	if s.Arch, err = archOf(a, fam.arch); err != nil {
		return spec{}, err
	}
	if err := countDevices(&s, a.GPU, fam); err != nil {
		return spec{}, err
	}
	return s, nil
}

// countDevices fills in the GPU or Neuron chip count of s.
func countDevices(s *spec, gpu string, fam family) error {
	switch {
	case fam.accel != "":
		if s.Accelerators = neuronChips[s.Type]; s.Accelerators == 0 {
			return fmt.Errorf("no chip count for %s in neuronChips", s.Type)
		}
	case fam.gpuModel != "":
		n, err := strconv.Atoi(gpu)
		if err != nil || n <= 0 {
			return fmt.Errorf("gpu %q is not a positive count", gpu)
		}
		s.GPUs = n
	case gpu != "" && gpu != "NA" && gpu != "0":
		return fmt.Errorf("gpu %q on a family without GPUs", gpu)
	}
	return nil
}

// memoryMiB reads a memory attribute such as "8 GiB", "0.5 GiB" or
// "1,152 GiB".
func memoryMiB(text string) (int, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(text), " ")
	if !ok || unit != "GiB" {
		return 0, fmt.Errorf("memory %q is not in GiB", text)
	}
	gib, err := strconv.ParseFloat(strings.ReplaceAll(num, ",", ""), 64)
	if err != nil || gib <= 0 {
		return 0, fmt.Errorf("memory %q is not a positive size", text)
	}
	return int(gib * 1024), nil
}

// archOf reads the architecture and checks it against the family's. The
// offer file calls both x86 and Graviton processors "64-bit"; only the
// processor's name tells them apart.
func archOf(a attributes, want string) (string, error) {
	arch := "x86_64"
	if strings.Contains(a.PhysicalProcessor, "Graviton") ||
		strings.Contains(strings.ToLower(a.ProcessorArchitecture), "arm") {
		arch = "arm64"
	} else if a.ProcessorArchitecture != "64-bit" {
		return "", fmt.Errorf("processor architecture %q is unknown", a.ProcessorArchitecture)
	}
	if arch != want {
		return "", fmt.Errorf("processor %q reads as %s, but the family is %s",
			a.PhysicalProcessor, arch, want)
	}
	return arch, nil
}

// familyOf returns the part of an instance type before the dot.
func familyOf(itype string) string {
	fam, _, _ := strings.Cut(itype, ".")
	return fam
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("want %v, got %v", want, tok)
	}
	return nil
}

// skipValue consumes the next value token by token, so that a skipped
// section of any size is never held in memory.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
