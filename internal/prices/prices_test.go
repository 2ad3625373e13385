package prices

import (
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests below check the embedded table itself, whether it was
// transcribed or generated, so that a typo or a misread offer file fails
// here rather than in a cost estimate.

var (
	armFamilies    = map[string]bool{"m7g": true, "c7g": true}
	gpuFamilies    = map[string]string{"g4dn": "T4", "g5": "A10G", "g6": "L4", "p3": "V100", "p4d": "A100", "p5": "H100"}
	neuronFamilies = map[string]string{"trn1": "Trainium", "inf2": "Inferentia2"}
)

func TestEverySpecHasAUSEast1Price(t *testing.T) {
	for _, s := range specs {
		_, ok := OnDemand("us-east-1", s.Type)
		assert.True(t, ok, "%s has no us-east-1 price", s.Type)
	}
}

func TestEveryRowHasASpec(t *testing.T) {
	for _, e := range table {
		_, ok := Lookup(e.itype)
		assert.True(t, ok, "%s %s has a price but no spec", e.region, e.itype)
	}
}

func TestNoDuplicates(t *testing.T) {
	seenSpec := map[string]bool{}
	for _, s := range specs {
		assert.False(t, seenSpec[s.Type], "spec %s listed twice", s.Type)
		seenSpec[s.Type] = true
	}
	seenRow := map[string]bool{}
	for _, e := range table {
		key := e.region + " " + e.itype
		assert.False(t, seenRow[key], "price %s listed twice", key)
		seenRow[key] = true
	}
}

func TestPricesArePositive(t *testing.T) {
	for _, e := range table {
		assert.Greater(t, e.onDemand, 0.0, "%s %s", e.region, e.itype)
		assert.False(t, math.IsInf(e.onDemand, 0) || math.IsNaN(e.onDemand))
	}
}

func TestArchitectures(t *testing.T) {
	for _, s := range specs {
		want := "x86_64"
		if armFamilies[s.Family()] {
			want = "arm64"
		}
		assert.Equal(t, want, s.Arch, s.Type)
	}
}

func TestDevices(t *testing.T) {
	for _, s := range specs {
		gpuModel, gpu := gpuFamilies[s.Family()]
		chip, neuron := neuronFamilies[s.Family()]
		switch {
		case gpu:
			assert.Positive(t, s.GPUs, s.Type)
			assert.Equal(t, gpuModel, s.GPUModel, s.Type)
			assert.Zero(t, s.Accelerators, s.Type)
		case neuron:
			assert.Positive(t, s.Accelerators, s.Type)
			assert.Equal(t, chip, s.AcceleratorModel, s.Type)
			assert.Zero(t, s.GPUs, s.Type)
		default:
			assert.Zero(t, s.GPUs+s.Accelerators, s.Type)
			assert.Empty(t, s.GPUModel+s.AcceleratorModel, s.Type)
		}
		assert.Positive(t, s.VCPU, s.Type)
		assert.GreaterOrEqual(t, s.MemoryMiB, 512, s.Type)
	}
}

// TestCPUFamiliesPriceLinearly relies on AWS pricing every size of these
// families in proportion to its vCPUs (t3: its memory), so a mistyped
// price stands out from its siblings. The tolerance allows for the rounding
// of the smallest sizes (c7g.medium is 0.0363, not 0.03625).
func TestCPUFamiliesPriceLinearly(t *testing.T) {
	perUnit := map[string]float64{} // region and family to price per unit
	for _, e := range table {
		s, _ := Lookup(e.itype)
		if gpuFamilies[s.Family()] != "" || neuronFamilies[s.Family()] != "" {
			continue
		}
		unit := float64(s.VCPU)
		if s.Family() == "t3" {
			unit = float64(s.MemoryMiB)
		}
		key := e.region + " " + s.Family()
		got := e.onDemand / unit
		if want, ok := perUnit[key]; ok {
			assert.InEpsilon(t, want, got, 0.005, "%s %s out of line", e.region, e.itype)
			continue
		}
		perUnit[key] = got
	}
	assert.NotEmpty(t, perUnit)
}

// TestUSEast1IsCheapest holds for every type in these regions, so a price
// below us-east-1's is a misplaced row.
func TestUSEast1IsCheapest(t *testing.T) {
	for _, e := range table {
		base, ok := OnDemand("us-east-1", e.itype)
		require.True(t, ok, e.itype)
		assert.GreaterOrEqual(t, e.onDemand, base, "%s %s", e.region, e.itype)
	}
}

func TestKnownValues(t *testing.T) {
	tests := []struct {
		region, itype string
		want          float64
		wantOK        bool
	}{
		{"us-east-1", "m5.large", 0.096, true},
		{"us-east-1", "t3.micro", 0.0104, true},
		{"us-east-1", "g4dn.xlarge", 0.526, true},
		{"us-east-1", "m7g.large", 0.0816, true},
		{"us-west-2", "g5.xlarge", 1.006, true},
		{"eu-west-1", "m5.large", 0.107, true},
		{"eu-west-1", "m7g.large", 0, false}, // left out, not guessed
		{"us-east-1", "m5.metal", 0, false},
		{"mars-north-1", "m5.large", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.region+"/"+tt.itype, func(t *testing.T) {
			got, ok := OnDemand(tt.region, tt.itype)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		itype  string
		want   Spec
		wantOK bool
	}{
		{"t3.nano", Spec{Type: "t3.nano", Arch: "x86_64", VCPU: 2, MemoryMiB: 512}, true},
		{"p3.2xlarge", Spec{Type: "p3.2xlarge", Arch: "x86_64", VCPU: 8, MemoryMiB: 62464,
			GPUs: 1, GPUModel: "V100"}, true},
		{"c7g.large", Spec{Type: "c7g.large", Arch: "arm64", VCPU: 2, MemoryMiB: 4096}, true},
		{"inf2.24xlarge", Spec{Type: "inf2.24xlarge", Arch: "x86_64", VCPU: 96,
			MemoryMiB: 393216, Accelerators: 6, AcceleratorModel: "Inferentia2"}, true},
		{"x9.huge", Spec{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.itype, func(t *testing.T) {
			got, ok := Lookup(tt.itype)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFamily(t *testing.T) {
	tests := map[string]string{
		"g4dn.xlarge":    "g4dn",
		"m7i.metal-24xl": "m7i",
		"p5.48xlarge":    "p5",
		"nodot":          "nodot",
	}
	for itype, want := range tests {
		assert.Equal(t, want, Spec{Type: itype}.Family(), itype)
	}
}

func TestTypesAndSpecsAreSortedCopies(t *testing.T) {
	types := Types()
	all := Specs()

	assert.True(t, sort.StringsAreSorted(types))
	require.Len(t, all, len(types))
	for i, s := range all {
		assert.Equal(t, types[i], s.Type)
	}
	all[0].VCPU = -1
	again, _ := Lookup(all[0].Type)
	assert.Positive(t, again.VCPU, "Specs must return a copy")
}

func TestRegions(t *testing.T) {
	assert.Equal(t, []string{"ap-northeast-1", "eu-central-1", "eu-west-1",
		"us-east-1", "us-east-2", "us-west-2"}, Regions())
}

func TestAsOf(t *testing.T) {
	date, source := AsOf()

	_, err := time.Parse(time.DateOnly, date)
	assert.NoError(t, err, "pricing.go parses the date as YYYY-MM-DD")
	assert.True(t, strings.Contains(source, "AWS"), source)
}
