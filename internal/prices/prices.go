// Package prices holds the embedded on-demand price and instance type table
// that runctl falls back on when no live price source answers, and that the
// sandbox serves as its Pricing API and instance type catalogue.
package prices

import "sort"

//go:generate go run ./gen

// Spec describes an instance type's hardware.
type Spec struct {
	Type      string
	Arch      string // "x86_64" or "arm64"
	VCPU      int
	MemoryMiB int
	GPUs      int    // NVIDIA GPUs
	GPUModel  string // "T4", "A10G", "L4", "V100", "A100", "H100"

	// Accelerators counts AWS's own machine-learning chips (Trainium,
	// Inferentia), which are not GPUs: they need the Neuron SDK, not CUDA.
	Accelerators     int
	AcceleratorModel string // "Trainium" or "Inferentia2"
}

// Family returns the instance family, the part of the type before the dot.
func (s Spec) Family() string {
	for i := 0; i < len(s.Type); i++ {
		if s.Type[i] == '.' {
			return s.Type[:i]
		}
	}
	return s.Type
}

// entry is one row of the generated table: a type's hourly on-demand
// Linux price in one region, in US dollars.
type entry struct {
	region   string
	itype    string
	onDemand float64
}

// OnDemand returns the embedded hourly on-demand Linux price of itype in
// region, and false when the table has no price for it.
func OnDemand(region, itype string) (float64, bool) {
	for _, e := range table {
		if e.region == region && e.itype == itype {
			return e.onDemand, true
		}
	}
	return 0, false
}

// Lookup returns the hardware spec of itype, and false when it is unknown.
func Lookup(itype string) (Spec, bool) {
	for _, s := range specs {
		if s.Type == itype {
			return s, true
		}
	}
	return Spec{}, false
}

// Specs returns a copy of every spec the table knows, sorted by type.
func Specs() []Spec {
	out := append([]Spec(nil), specs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// Types returns every instance type the table knows, sorted.
func Types() []string {
	out := make([]string, 0, len(specs))
	for _, s := range specs {
		out = append(out, s.Type)
	}
	sort.Strings(out)
	return out
}

// Regions returns every region the table has prices for, sorted.
func Regions() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range table {
		if !seen[e.region] {
			seen[e.region] = true
			out = append(out, e.region)
		}
	}
	sort.Strings(out)
	return out
}

// AsOf returns the date the embedded table was generated and its source.
func AsOf() (date, source string) { return generatedDate, generatedSource }
