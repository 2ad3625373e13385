package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/runctl/runctl/internal/prices"
)

// The Pricing API is served from the embedded price table. Each type and
// region gets the Linux product runctl asks for plus decoys (Windows,
// dedicated tenancy, reserved capacity, SQL Server), as the real API
// returns them, so a client that filters too little sees the wrong price.

// productVariant is one product the Pricing API lists for a type.
type productVariant struct {
	os, tenancy, preInstalled, capacity string
	factor                              float64
}

var productVariants = []productVariant{
	{"Linux", "Shared", "NA", "Used", 1},
	{"Windows", "Shared", "NA", "Used", 1.84},
	{"Linux", "Dedicated", "NA", "Used", 1.1},
	{"Linux", "Shared", "NA", "UnusedCapacityReservation", 1},
	{"Linux", "Shared", "SQL Std", "Used", 2.9},
}

type priceFilter struct {
	Type  string `json:"Type"`
	Field string `json:"Field"`
	Value string `json:"Value"`
}

type getProductsInput struct {
	ServiceCode   string        `json:"ServiceCode"`
	Filters       []priceFilter `json:"Filters"`
	FormatVersion string        `json:"FormatVersion"`
	MaxResults    int           `json:"MaxResults"`
	NextToken     string        `json:"NextToken"`
}

type getProductsOutput struct {
	FormatVersion string   `json:"FormatVersion"`
	PriceList     []string `json:"PriceList"`
	NextToken     string   `json:"NextToken,omitempty"`
}

// servePricing answers AWSPriceListService.GetProducts.
func (s *Server) servePricing(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSPriceListService.")
	var resp any
	var err error
	switch {
	case s.takeThrottle():
		err = errf(400, "ThrottlingException", "Rate exceeded")
	case action == "GetProducts":
		var in getProductsInput
		if err = json.NewDecoder(r.Body).Decode(&in); err != nil {
			err = errf(400, "SerializationException", "%v", err)
			break
		}
		resp, err = getProducts(in)
	default:
		err = errf(400, "UnknownOperationException", "unknown operation %s", action)
	}
	if err != nil {
		e := asAPIError(err, "InternalErrorException")
		s.log.Debug("sandbox pricing", "action", action, "code", e.Code)
		writeJSONError(w, id, e)
		return
	}
	s.log.Debug("sandbox pricing", "action", action, "status", 200)
	writeJSON(w, http.StatusOK, id, resp)
}

// getProducts filters the generated products and pages through them.
func getProducts(in getProductsInput) (getProductsOutput, error) {
	if in.ServiceCode == "" {
		return getProductsOutput{}, errf(400, "InvalidParameterException",
			"Input validation error: ServiceCode is required")
	}
	for _, f := range in.Filters {
		if !validFilterType(f.Type) {
			return getProductsOutput{}, errf(400, "InvalidParameterException",
				"Input validation error: invalid filter type %s", f.Type)
		}
	}
	out := getProductsOutput{FormatVersion: "aws_v1", PriceList: []string{}}
	if in.ServiceCode != "AmazonEC2" {
		return out, nil
	}
	var matched []product
	for _, p := range allProducts() {
		if productMatches(p, in.Filters) {
			matched = append(matched, p)
		}
	}
	start, _ := strconv.Atoi(in.NextToken)
	size := in.MaxResults
	if size <= 0 || size > 100 {
		size = 100
	}
	end := min(start+size, len(matched))
	for _, p := range matched[min(start, end):end] {
		out.PriceList = append(out.PriceList, p.json())
	}
	if end < len(matched) {
		out.NextToken = strconv.Itoa(end)
	}
	return out, nil
}

func validFilterType(t string) bool {
	switch t {
	case "TERM_MATCH", "EQUALS", "CONTAINS", "ANY_OF", "NONE_OF":
		return true
	}
	return false
}

// product is one priced product of the generated list.
type product struct {
	sku   string
	attrs map[string]string
	price float64
}

// allProducts builds every product of the embedded table.
func allProducts() []product {
	var out []product
	for _, region := range prices.Regions() {
		loc := location(region)
		for _, t := range prices.Types() {
			od, ok := prices.OnDemand(region, t)
			if !ok {
				continue
			}
			spec, _ := prices.Lookup(t)
			for _, v := range productVariants {
				out = append(out, newProduct(region, loc, spec, v, od))
			}
		}
	}
	return out
}

func newProduct(region string, loc regionLocation, spec prices.Spec, v productVariant,
	od float64) product {
	attrs := map[string]string{
		"servicecode": "AmazonEC2", "servicename": "Amazon Elastic Compute Cloud",
		"instanceType": spec.Type, "instanceFamily": family(spec), "location": loc.Name,
		"locationType": "AWS Region", "regionCode": region, "operatingSystem": v.os,
		"tenancy": v.tenancy, "preInstalledSw": v.preInstalled, "capacitystatus": v.capacity,
		"licenseModel": "No License required", "marketoption": "OnDemand",
		"operation": "RunInstances", "vcpu": strconv.Itoa(spec.VCPU),
		"memory":                strconv.FormatFloat(float64(spec.MemoryMiB)/1024, 'f', -1, 64) + " GiB",
		"processorArchitecture": map[string]string{"arm64": "64-bit", "x86_64": "64-bit"}[spec.Arch],
		"usagetype":             loc.UsagePrefix + usagePrefix(v) + spec.Type,
	}
	if spec.GPUs > 0 {
		attrs["gpu"] = strconv.Itoa(spec.GPUs)
	}
	if v.os == "Windows" {
		attrs["licenseModel"] = "License Included"
		attrs["operation"] = "RunInstances:0002"
	}
	return product{sku: strings.ToUpper(hashHex(fmt.Sprint(attrs), 16)), attrs: attrs,
		price: math.Round(od*v.factor*1e6) / 1e6}
}

func usagePrefix(v productVariant) string {
	switch {
	case v.tenancy == "Dedicated":
		return "DedicatedUsage:"
	case v.capacity == "UnusedCapacityReservation":
		return "UnusedBox:"
	}
	return "BoxUsage:"
}

func family(spec prices.Spec) string {
	switch {
	case spec.GPUs > 0:
		return "GPU instance"
	case strings.HasPrefix(spec.Type, "t"):
		return "General purpose"
	case strings.HasPrefix(spec.Type, "c"):
		return "Compute optimized"
	case strings.HasPrefix(spec.Type, "r") || strings.HasPrefix(spec.Type, "x"):
		return "Memory optimized"
	}
	return "General purpose"
}

// productMatches applies GetProducts filters to a product's attributes.
func productMatches(p product, filters []priceFilter) bool {
	for _, f := range filters {
		v, ok := p.attrs[f.Field]
		if f.Field == "ServiceCode" {
			v, ok = "AmazonEC2", true
		}
		var hit bool
		switch f.Type {
		case "TERM_MATCH", "EQUALS":
			hit = ok && strings.EqualFold(v, f.Value)
		case "CONTAINS":
			hit = ok && strings.Contains(strings.ToLower(v), strings.ToLower(f.Value))
		case "ANY_OF":
			hit = ok && containsFold(strings.Split(f.Value, ","), v)
		case "NONE_OF":
			hit = !ok || !containsFold(strings.Split(f.Value, ","), v)
		}
		if !hit {
			return false
		}
	}
	return true
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), v) {
			return true
		}
	}
	return false
}

// json renders a product as the Pricing API's PriceList string.
func (p product) json() string {
	const termCode, rateCode = "JRTCKXETXF", "6YS6EN2CT7"
	termID := p.sku + "." + termCode
	dimID := termID + "." + rateCode
	doc := map[string]any{
		"product": map[string]any{
			"productFamily": "Compute Instance", "attributes": p.attrs, "sku": p.sku,
		},
		"serviceCode": "AmazonEC2",
		"terms": map[string]any{"OnDemand": map[string]any{termID: map[string]any{
			"priceDimensions": map[string]any{dimID: map[string]any{
				"unit": "Hrs", "endRange": "Inf", "beginRange": "0", "appliesTo": []string{},
				"rateCode": dimID,
				"description": fmt.Sprintf("$%s per On Demand %s %s Instance Hour",
					strconv.FormatFloat(p.price, 'f', -1, 64), p.attrs["operatingSystem"],
					p.attrs["instanceType"]),
				"pricePerUnit": map[string]string{"USD": strconv.FormatFloat(p.price, 'f', 10, 64)},
			}},
			"sku": p.sku, "effectiveDate": "2025-11-01T00:00:00Z", "offerTermCode": termCode,
			"termAttributes": map[string]string{},
		}}},
		"version":         "20251101000000",
		"publicationDate": "2025-11-01T00:00:00Z",
	}
	b, _ := json.Marshal(doc)
	return string(b)
}
