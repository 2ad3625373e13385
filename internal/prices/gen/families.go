package main

// family is what the generator knows about an instance family that the
// offer file does not say plainly.
type family struct {
	arch     string // the architecture the offer file must agree with
	gpuModel string // NVIDIA GPU model; the count comes from the offer file
	accel    string // AWS machine-learning chip; the count comes from neuronChips
}

// families lists the instance families kept in the table: the ones people
// commonly train on, from a burstable t3 for smoke tests to 8-GPU nodes.
var families = map[string]family{
	"t3":   {arch: "x86_64"},
	"m5":   {arch: "x86_64"},
	"m6i":  {arch: "x86_64"},
	"m7i":  {arch: "x86_64"},
	"c5":   {arch: "x86_64"},
	"c6i":  {arch: "x86_64"},
	"c7i":  {arch: "x86_64"},
	"m7g":  {arch: "arm64"},
	"c7g":  {arch: "arm64"},
	"g4dn": {arch: "x86_64", gpuModel: "T4"},
	"g5":   {arch: "x86_64", gpuModel: "A10G"},
	"g6":   {arch: "x86_64", gpuModel: "L4"},
	"p3":   {arch: "x86_64", gpuModel: "V100"},
	"p4d":  {arch: "x86_64", gpuModel: "A100"},
	"p5":   {arch: "x86_64", gpuModel: "H100"},
	"trn1": {arch: "x86_64", accel: "Trainium"},
	"inf2": {arch: "x86_64", accel: "Inferentia2"},
}

// neuronChips counts the Trainium or Inferentia chips of each size.
//
// TODO(runctl): read the count from the offer file once the attribute that
// carries it for Neuron devices is confirmed; until then a new trn1 or inf2
// size stops generation until it is listed here.
var neuronChips = map[string]int{
	"trn1.2xlarge":  1,
	"trn1.32xlarge": 16,
	"inf2.xlarge":   1,
	"inf2.8xlarge":  1,
	"inf2.24xlarge": 6,
	"inf2.48xlarge": 12,
}
