package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/runctl/runctl"
)

func (a *app) pricesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "prices TYPE",
		Short: "Show spot prices per zone and the on-demand price, with their sources and ages",
		Args:  exactArgs(1, "prices takes an instance type, such as g4dn.xlarge"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			q, err := c.Quote(cmd.Context(), args[0])
			if err != nil {
				fmt.Fprintf(a.stderr, "spot prices unavailable: %v\n", err)
			}
			if a.output == "json" {
				return a.writeJSON(q)
			}
			return a.printQuote(q)
		},
	}
}

func (a *app) printQuote(q runctl.Quote) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s in %s\n", q.InstanceType, q.Region)
	fmt.Fprintln(tw, "MARKET\tZONE\tPRICE\tVS ON-DEMAND\tSOURCE\tAGE")
	for _, z := range q.Spot {
		fmt.Fprintf(tw, "spot\t%s\t%s\t%s\t%s\t%s\n", z.Zone, z.Price, share(z.Price, q.OnDemand),
			z.Price.Source, age(z.Price.AsOf))
	}
	if len(q.Spot) == 0 {
		fmt.Fprintln(tw, "spot\t-\tunknown\t-\t-\t-")
	}
	fmt.Fprintf(tw, "on-demand\t-\t%s\t%s\t%s\t%s\n", q.OnDemand, share(q.OnDemand, q.OnDemand),
		orDash(q.OnDemand.Source), age(q.OnDemand.AsOf))
	return tw.Flush()
}

func share(p, od runctl.Price) string {
	if !p.Known || !od.Known || od.USD == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*p.USD/od.USD)
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "now"
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
