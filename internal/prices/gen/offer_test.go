package main

import (
	"bytes"
	"encoding/json"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fixture testdata/us-east-1.json is laid out like the real offer file.
// Beside the rows that must be kept it holds the look-alikes that must not
// be: m5.large as Windows, RHEL, dedicated, with SQL Web, as unused and as
// allocated capacity reservations; m5.metal; a c5.large in a Local Zone; an
// r5.large (family not kept); an EBS volume; and reserved terms for m5.large
// and g4dn.xlarge that are cheaper than on-demand.
const fixturePath = "testdata/us-east-1.json"

// SKUs of fixture products that the tests change.
const (
	skuM5Linux     = "WK3DEGZDPCF54ERF"
	skuM5Windows   = "5DHQD3DQCJU4KHVM"
	skuM7g         = "33G83DNEP6LHXDGA"
	skuG4dnLinux   = "88VFKGXS8LBPZKBV"
	skuC5LocalZone = "4JKB6MAKMK8HDW8G"
)

// fixtureRows is what the fixture must yield, ordered by type.
var fixtureRows = []row{
	{"us-east-1", spec{Type: "c5.large", Arch: "x86_64", VCPU: 2, MemoryMiB: 4096}, 0.085},
	{"us-east-1", spec{Type: "c7g.xlarge", Arch: "arm64", VCPU: 4, MemoryMiB: 8192}, 0.145},
	{"us-east-1", spec{Type: "g4dn.xlarge", Arch: "x86_64", VCPU: 4, MemoryMiB: 16384,
		GPUs: 1, GPUModel: "T4"}, 0.526},
	{"us-east-1", spec{Type: "m5.large", Arch: "x86_64", VCPU: 2, MemoryMiB: 8192}, 0.096},
	{"us-east-1", spec{Type: "m7g.large", Arch: "arm64", VCPU: 2, MemoryMiB: 8192}, 0.0816},
	{"us-east-1", spec{Type: "p4d.24xlarge", Arch: "x86_64", VCPU: 96, MemoryMiB: 1179648,
		GPUs: 8, GPUModel: "A100"}, 21.957642},
	{"us-east-1", spec{Type: "t3.nano", Arch: "x86_64", VCPU: 2, MemoryMiB: 512}, 0.0052},
	{"us-east-1", spec{Type: "trn1.2xlarge", Arch: "x86_64", VCPU: 8, MemoryMiB: 32768,
		Accelerators: 1, AcceleratorModel: "Trainium"}, 1.34375},
}

func TestParseOfferFixture(t *testing.T) {
	f, err := os.Open(fixturePath)
	require.NoError(t, err)
	defer f.Close()

	o, err := parseOffer(f, "us-east-1")

	require.NoError(t, err)
	assert.Equal(t, fixtureRows, sortedRows(o.rows))
	assert.Equal(t, time.Date(2026, 11, 20, 21, 45, 30, 0, time.UTC), o.published)
}

func TestParseOfferTermsBeforeProducts(t *testing.T) {
	doc := loadFixture(t)
	var buf bytes.Buffer
	buf.WriteString(`{"terms":`)
	buf.Write(mustJSON(t, doc["terms"]))
	buf.WriteString(`,"publicationDate":"2026-11-20T21:45:30Z","products":`)
	buf.Write(mustJSON(t, doc["products"]))
	buf.WriteString(`}`)

	o, err := parseOffer(&buf, "us-east-1")

	require.NoError(t, err)
	assert.Equal(t, fixtureRows, sortedRows(o.rows))
}

// TestParseOfferFilters turns the kept m5.large into each kind of product
// that must be left out, and checks that it is.
func TestParseOfferFilters(t *testing.T) {
	tests := []struct {
		name  string
		field string // attribute, or "productFamily"
		value string
	}{
		{"windows", "operatingSystem", "Windows"},
		{"rhel", "operatingSystem", "RHEL"},
		{"dedicated tenancy", "tenancy", "Dedicated"},
		{"sql server pre-installed", "preInstalledSw", "SQL Web"},
		{"unused capacity reservation", "capacitystatus", "UnusedCapacityReservation"},
		{"allocated capacity reservation", "capacitystatus", "AllocatedCapacityReservation"},
		{"another region", "regionCode", "us-west-2"},
		{"local zone", "locationType", "AWS Local Zone"},
		{"not on-demand", "marketoption", "CapacityBlock"},
		{"bare metal", "productFamily", "Compute Instance (bare metal)"},
		{"family not kept", "instanceType", "r5.large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := loadFixture(t)
			if tt.field == "productFamily" {
				productOf(doc, skuM5Linux)["productFamily"] = tt.value
			} else {
				attrs(doc, skuM5Linux)[tt.field] = tt.value
			}

			o, err := parseOffer(bytes.NewReader(mustJSON(t, doc)), "us-east-1")

			require.NoError(t, err)
			for _, r := range o.rows {
				assert.NotEqual(t, "m5.large", r.spec.Type, "kept %s", tt.name)
			}
			assert.Len(t, o.rows, len(fixtureRows)-1)
		})
	}
}

// TestParseOfferRejectsMisreads changes one field the way a misreading
// parser or a changed file format would, and expects a loud failure rather
// than a wrong table.
func TestParseOfferRejectsMisreads(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(doc map[string]any)
		wantErr string
	}{
		{
			name:    "on-demand rate not hourly",
			mutate:  func(doc map[string]any) { onDemandDim(doc, skuM5Linux)["unit"] = "Quantity" },
			wantErr: "no hourly (Hrs) on-demand rate",
		},
		{
			name: "no USD price",
			mutate: func(doc map[string]any) {
				onDemandDim(doc, skuM5Linux)["pricePerUnit"] = map[string]any{"CNY": "0.6"}
			},
			wantErr: "has no USD price",
		},
		{
			name: "zero price",
			mutate: func(doc map[string]any) {
				onDemandDim(doc, skuM5Linux)["pricePerUnit"] = map[string]any{"USD": "0.0000000000"}
			},
			wantErr: "hourly on-demand rate is 0",
		},
		{
			name:    "reserved terms taken for on-demand",
			mutate:  mergeReservedIntoOnDemand,
			wantErr: "hourly on-demand rates, want one",
		},
		{
			name:    "no on-demand term",
			mutate:  func(doc map[string]any) { delete(section(doc, "OnDemand"), skuM5Linux) },
			wantErr: "has no on-demand term",
		},
		{
			name:    "windows row passes as linux",
			mutate:  func(doc map[string]any) { attrs(doc, skuM5Windows)["operatingSystem"] = "Linux" },
			wantErr: "m5.large matches two products",
		},
		{
			name:    "local zone passes as the region",
			mutate:  func(doc map[string]any) { attrs(doc, skuC5LocalZone)["locationType"] = "AWS Region" },
			wantErr: "c5.large matches two products",
		},
		{
			name:    "memory not in GiB",
			mutate:  func(doc map[string]any) { attrs(doc, skuM5Linux)["memory"] = "8 GB" },
			wantErr: `memory "8 GB" is not in GiB`,
		},
		{
			name:    "vcpu not a number",
			mutate:  func(doc map[string]any) { attrs(doc, skuM5Linux)["vcpu"] = "two" },
			wantErr: `vcpu "two"`,
		},
		{
			name: "graviton family on an intel processor",
			mutate: func(doc map[string]any) {
				attrs(doc, skuM7g)["physicalProcessor"] = "Intel Xeon Platinum 8175"
			},
			wantErr: "reads as x86_64, but the family is arm64",
		},
		{
			name: "intel family on a graviton processor",
			mutate: func(doc map[string]any) {
				attrs(doc, skuM5Linux)["physicalProcessor"] = "AWS Graviton2 Processor"
			},
			wantErr: "reads as arm64, but the family is x86_64",
		},
		{
			name:    "gpu count missing",
			mutate:  func(doc map[string]any) { delete(attrs(doc, skuG4dnLinux), "gpu") },
			wantErr: `gpu "" is not a positive count`,
		},
		{
			name:    "gpu on a cpu family",
			mutate:  func(doc map[string]any) { attrs(doc, skuM5Linux)["gpu"] = "1" },
			wantErr: "family without GPUs",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := loadFixture(t)
			tt.mutate(doc)

			_, err := parseOffer(bytes.NewReader(mustJSON(t, doc)), "us-east-1")

			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestParseOfferRejectsBrokenJSON(t *testing.T) {
	b, err := os.ReadFile(fixturePath)
	require.NoError(t, err)

	_, err = parseOffer(bytes.NewReader(b[:len(b)/2]), "us-east-1")

	assert.Error(t, err)
}

func TestMemoryMiB(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{in: "8 GiB", want: 8192},
		{in: "0.5 GiB", want: 512},
		{in: "61 GiB", want: 62464},
		{in: "1,152 GiB", want: 1179648},
		{in: "8 GB", wantErr: true},
		{in: "8GiB", wantErr: true},
		{in: "NA", wantErr: true},
		{in: "", wantErr: true},
		{in: "0 GiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := memoryMiB(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func loadFixture(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(fixturePath)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func sortedRows(rows []row) []row {
	out := append([]row(nil), rows...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].region != out[j].region {
			return out[i].region < out[j].region
		}
		return out[i].spec.Type < out[j].spec.Type
	})
	return out
}

func productOf(doc map[string]any, sku string) map[string]any {
	return doc["products"].(map[string]any)[sku].(map[string]any)
}

func attrs(doc map[string]any, sku string) map[string]any {
	return productOf(doc, sku)["attributes"].(map[string]any)
}

func section(doc map[string]any, kind string) map[string]any {
	return doc["terms"].(map[string]any)[kind].(map[string]any)
}

// onDemandDim returns the single price dimension of sku's on-demand term.
func onDemandDim(doc map[string]any, sku string) map[string]any {
	for _, term := range section(doc, "OnDemand")[sku].(map[string]any) {
		for _, dim := range term.(map[string]any)["priceDimensions"].(map[string]any) {
			return dim.(map[string]any)
		}
	}
	panic("no on-demand dimension for " + sku)
}

func mergeReservedIntoOnDemand(doc map[string]any) {
	od := section(doc, "OnDemand")[skuM5Linux].(map[string]any)
	for code, term := range section(doc, "Reserved")[skuM5Linux].(map[string]any) {
		od[code] = term
	}
}
