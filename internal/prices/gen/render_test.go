package main

import (
	"flag"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const goldenPath = "testdata/zz_generated_prices.go.golden"

var fixtureHeader = header{
	Date:    "2026-11-20",
	Source:  "AWS EC2 price list offer files (local copies of current/<region>/index.json)",
	Regions: []string{"us-east-1"},
}

func TestRenderGolden(t *testing.T) {
	src, err := render(fixtureHeader, fixtureRows)
	require.NoError(t, err)

	if *update {
		require.NoError(t, os.WriteFile(goldenPath, src, 0o644))
	}
	want, err := os.ReadFile(goldenPath)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(src))
}

func TestRenderHeader(t *testing.T) {
	src, err := render(fixtureHeader, fixtureRows)
	require.NoError(t, err)

	// The form that go vet, gopls and code review tools look for.
	generated := regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)
	first, _, _ := strings.Cut(string(src), "\n")
	assert.Regexp(t, generated, first)
	assert.Contains(t, string(src), `generatedDate   = "2026-11-20"`)
	assert.Contains(t, string(src), "published on 2026-11-20")
}

func TestRenderOrdersByFamilyThenSize(t *testing.T) {
	rows := []row{
		{"us-west-2", spec{Type: "m5.xlarge", Arch: "x86_64", VCPU: 4, MemoryMiB: 16384}, 0.192},
		{"us-east-1", spec{Type: "m5.xlarge", Arch: "x86_64", VCPU: 4, MemoryMiB: 16384}, 0.192},
		{"us-east-1", spec{Type: "m5.large", Arch: "x86_64", VCPU: 2, MemoryMiB: 8192}, 0.096},
		{"us-east-1", spec{Type: "c5.large", Arch: "x86_64", VCPU: 2, MemoryMiB: 4096}, 0.085},
	}

	specs, ordered := sortRows(rows)

	var types, order []string
	for _, s := range specs {
		types = append(types, s.Type)
	}
	for _, r := range ordered {
		order = append(order, r.region+" "+r.spec.Type)
	}
	assert.Equal(t, []string{"c5.large", "m5.large", "m5.xlarge"}, types)
	assert.Equal(t, []string{"us-east-1 c5.large", "us-east-1 m5.large",
		"us-east-1 m5.xlarge", "us-west-2 m5.xlarge"}, order)
}

// TestRenderTypeChecks compiles the rendered table together with the real
// prices.go, so a field the generator writes but Spec lacks fails here and
// not at the next go generate.
func TestRenderTypeChecks(t *testing.T) {
	src, err := render(fixtureHeader, fixtureRows)
	require.NoError(t, err)

	fset := token.NewFileSet()
	api, err := parser.ParseFile(fset, "../prices.go", nil, 0)
	require.NoError(t, err)
	table, err := parser.ParseFile(fset, "zz_generated_prices.go", src, 0)
	require.NoError(t, err)

	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	_, err = conf.Check("prices", fset, []*ast.File{api, table}, nil)
	assert.NoError(t, err)
}
