package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	pricingtypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl/internal/prices"
)

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

func TestIdentityAndIAM(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	ctx := context.Background()

	id, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	assert.Equal(t, accountID, aws.ToString(id.Account))

	prof, err := c.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{
		InstanceProfileName: aws.String(DefaultInstanceProfile)})
	require.NoError(t, err)
	require.Len(t, prof.InstanceProfile.Roles, 1)
	role := aws.ToString(prof.InstanceProfile.Roles[0].RoleName)
	assert.Equal(t, "runctl-ssm", role)

	got, err := c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
	require.NoError(t, err)
	assert.Contains(t, aws.ToString(got.Role.AssumeRolePolicyDocument), "ec2.amazonaws.com")

	pol, err := c.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	require.NoError(t, err)
	require.Len(t, pol.AttachedPolicies, 1)
	assert.Equal(t, "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", aws.ToString(pol.AttachedPolicies[0].PolicyArn))

	_, err = c.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("nope")})
	code, status := apiCode(t, err)
	assert.Equal(t, "NoSuchEntity", code)
	assert.Equal(t, 404, status)
	_, err = c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nope")})
	code, _ = apiCode(t, err)
	assert.Equal(t, "NoSuchEntity", code)
}

// priceDoc is the part of a PriceList entry runctl reads.
type priceDoc struct {
	Product struct {
		Attributes map[string]string `json:"attributes"`
	} `json:"product"`
	Terms struct {
		OnDemand map[string]struct {
			PriceDimensions map[string]struct {
				PricePerUnit map[string]string `json:"pricePerUnit"`
			} `json:"priceDimensions"`
		} `json:"OnDemand"`
	} `json:"terms"`
}

func TestPricingGetProducts(t *testing.T) {
	srv := start(t, Options{Fast: true})
	c := newClients(srv, 1)
	term := func(field, value string) pricingtypes.Filter {
		return pricingtypes.Filter{Type: pricingtypes.FilterTypeTermMatch, Field: aws.String(field), Value: aws.String(value)}
	}
	base := []pricingtypes.Filter{term("instanceType", "g4dn.xlarge"), term("regionCode", "us-east-1")}
	exact := append(base, term("operatingSystem", "Linux"), term("tenancy", "Shared"),
		term("preInstalledSw", "NA"), term("capacitystatus", "Used"))
	tests := []struct {
		name    string
		filters []pricingtypes.Filter
		want    int
	}{
		{"fully filtered", exact, 1},
		{"by location name", append(exact[:1:1], term("location", "US East (N. Virginia)"),
			term("operatingSystem", "Linux"), term("tenancy", "Shared"), term("preInstalledSw", "NA"),
			term("capacitystatus", "Used")), 1},
		{"loosely filtered returns decoys", base, len(productVariants)},
		{"unknown type", []pricingtypes.Filter{term("instanceType", "x9.huge")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.pricing.GetProducts(context.Background(), &pricing.GetProductsInput{
				ServiceCode: aws.String("AmazonEC2"), Filters: tt.filters, FormatVersion: aws.String("aws_v1")})
			require.NoError(t, err)
			assert.Len(t, out.PriceList, tt.want)
		})
	}

	out, err := c.pricing.GetProducts(context.Background(), &pricing.GetProductsInput{
		ServiceCode: aws.String("AmazonEC2"), Filters: exact})
	require.NoError(t, err)
	require.Len(t, out.PriceList, 1)
	var doc priceDoc
	require.NoError(t, json.Unmarshal([]byte(out.PriceList[0]), &doc), "PriceList entries are JSON strings")
	attrs := doc.Product.Attributes
	assert.Equal(t, "g4dn.xlarge", attrs["instanceType"])
	assert.Equal(t, "US East (N. Virginia)", attrs["location"])
	assert.Equal(t, "us-east-1", attrs["regionCode"])
	want, _ := prices.OnDemand("us-east-1", "g4dn.xlarge")
	require.Len(t, doc.Terms.OnDemand, 1)
	for _, term := range doc.Terms.OnDemand {
		require.Len(t, term.PriceDimensions, 1)
		for _, dim := range term.PriceDimensions {
			assert.Equal(t, "0.5260000000", dim.PricePerUnit["USD"])
			assert.InDelta(t, want, 0.526, 1e-9)
		}
	}
}
