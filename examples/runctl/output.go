package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/runctl/runctl"
)

// instanceView is an instance as --output json shows it.
type instanceView struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	Region      string            `json:"region"`
	Zone        string            `json:"zone"`
	Market      string            `json:"market"`
	State       string            `json:"state"`
	StateReason string            `json:"state_reason,omitempty"`
	HourlyPrice *float64          `json:"hourly_price_usd"`
	PriceSource string            `json:"price_source,omitempty"`
	LaunchTime  time.Time         `json:"launch_time"`
	RunID       string            `json:"run_id,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

func viewInstance(i *runctl.Instance) instanceView {
	v := instanceView{ID: i.ID, Type: i.Type, Region: i.Region, Zone: i.Zone, Market: string(i.Market),
		State: i.State, StateReason: i.StateReason, LaunchTime: i.LaunchTime, RunID: i.RunID, Tags: i.Tags}
	if i.HourlyPrice.Known {
		usd := i.HourlyPrice.USD
		v.HourlyPrice, v.PriceSource = &usd, i.HourlyPrice.Source
	}
	return v
}

// resultView is a job's result as --output json shows it. Unknown costs are
// null, never zero.
type resultView struct {
	JobID          string   `json:"job_id"`
	InstanceID     string   `json:"instance_id"`
	Script         string   `json:"script"`
	Args           []string `json:"args"`
	ExitCode       *int     `json:"exit_code"`
	Running        bool     `json:"running"`
	Interrupted    bool     `json:"interrupted"`
	DurationSec    float64  `json:"duration_seconds"`
	InstanceSec    float64  `json:"instance_seconds"`
	Market         string   `json:"market"`
	HourlyPrice    *float64 `json:"hourly_price_usd"`
	CostUSD        *float64 `json:"cost_usd"`
	OnDemandCost   *float64 `json:"on_demand_cost_usd,omitempty"`
	LogBytes       int64    `json:"log_bytes"`
	StartedAt      string   `json:"started_at,omitempty"`
	FinishedAt     string   `json:"finished_at,omitempty"`
	InterruptNotes string   `json:"interruption_notice,omitempty"`
	OutputURI      string   `json:"output_uri,omitempty"`
}

func viewResult(r *runctl.Result) resultView {
	v := resultView{JobID: r.Job.ID, InstanceID: r.Job.InstanceID, Script: r.Job.Script, Args: r.Job.Args,
		Running: r.ExitCode < 0 && !r.Interrupted, Interrupted: r.Interrupted,
		DurationSec: r.Duration.Seconds(), InstanceSec: r.InstanceTime.Seconds(), Market: string(r.Market),
		LogBytes: r.LogBytes, InterruptNotes: r.Notice, OutputURI: r.OutputURI}
	if v.Args == nil {
		v.Args = []string{}
	}
	if r.ExitCode >= 0 {
		code := r.ExitCode
		v.ExitCode = &code
	}
	if r.HourlyPrice.Known {
		p := r.HourlyPrice.USD
		v.HourlyPrice = &p
	}
	if r.CostKnown {
		c := r.Cost
		v.CostUSD = &c
		if r.OnDemandCost > 0 {
			od := r.OnDemandCost
			v.OnDemandCost = &od
		}
	}
	if !r.StartedAt.IsZero() {
		v.StartedAt = r.StartedAt.UTC().Format(time.RFC3339)
	}
	if !r.FinishedAt.IsZero() {
		v.FinishedAt = r.FinishedAt.UTC().Format(time.RFC3339)
	}
	return v
}

func (a *app) printInstance(i *runctl.Instance) error {
	switch a.output {
	case "instance-id":
		_, err := fmt.Fprintln(a.stdout, i.ID)
		return err
	case "json":
		return a.writeJSON(viewInstance(i))
	}
	_, err := fmt.Fprintf(a.stdout, "%s\t%s %s in %s, %s, %s\n", i.ID, i.Market, i.Type, i.Zone, i.State, i.HourlyPrice)
	return err
}

func (a *app) printResult(r *runctl.Result) error {
	if a.output == "json" {
		return a.writeJSON(viewResult(r))
	}
	if r.ExitCode < 0 && !r.Interrupted {
		_, err := fmt.Fprintf(a.stdout, "job %s started on %s; follow it with: runctl aws logs %s --follow\n",
			r.Job.ID, r.Job.InstanceID, r.Job.InstanceID)
		return err
	}
	status := fmt.Sprintf("exit code %d", r.ExitCode)
	if r.Interrupted {
		status = "interrupted by a spot reclaim (" + r.Notice + ")"
	}
	fmt.Fprintf(a.stdout, "result: job %s %s after %s\n", r.Job.ID, status, r.Duration.Round(100*time.Millisecond))
	_, err := fmt.Fprintf(a.stdout, "cost: %s\n", costLine(r))
	return err
}

// costLine says what the instance time cost, and what on-demand would have.
func costLine(r *runctl.Result) string {
	if !r.CostKnown {
		return fmt.Sprintf("unknown (the %s price of this instance is unknown); instance time %s",
			r.Market, r.InstanceTime.Round(time.Second))
	}
	s := fmt.Sprintf("$%.4f for %s of %s instance time at %s", r.Cost, r.InstanceTime.Round(time.Second),
		r.Market, r.HourlyPrice)
	if r.InstanceTime < time.Minute {
		s += ", billed as EC2's one-minute minimum"
	}
	if r.Market == runctl.MarketSpot && r.OnDemandCost > r.Cost {
		s += fmt.Sprintf(" (on-demand: $%.4f; saved %.0f%%)", r.OnDemandCost, 100*(1-r.Cost/r.OnDemandCost))
	}
	return s + " (estimate)"
}

func (a *app) printStatus(i *runctl.Instance, r *runctl.Result) error {
	if a.output == "json" {
		out := map[string]any{"instance": viewInstance(i)}
		if r != nil {
			out["job"] = viewResult(r)
		}
		return a.writeJSON(out)
	}
	fmt.Fprintf(a.stdout, "instance %s: %s, %s %s in %s at %s, launched %s ago\n", i.ID, i.State, i.Market,
		i.Type, i.Zone, i.HourlyPrice, time.Since(i.LaunchTime).Round(time.Second))
	if i.StateReason != "" && i.StateReason != ": " {
		fmt.Fprintf(a.stdout, "reason: %s\n", i.StateReason)
	}
	if r == nil || r.Job.ID == "latest" {
		_, err := fmt.Fprintln(a.stdout, "job: none")
		return err
	}
	state := "running"
	switch {
	case r.Interrupted:
		state = "interrupted"
	case r.ExitCode >= 0:
		state = fmt.Sprintf("exited with code %d", r.ExitCode)
	}
	_, err := fmt.Fprintf(a.stdout, "job %s: %s, %s, %s of output\n", r.Job.ID, state,
		r.Duration.Round(time.Second), humanBytes(r.LogBytes))
	return err
}

func (a *app) printList(insts []runctl.Instance) error {
	if a.output == "json" {
		views := make([]instanceView, 0, len(insts))
		for i := range insts {
			views = append(views, viewInstance(&insts[i]))
		}
		return a.writeJSON(views)
	}
	if len(insts) == 0 {
		_, err := fmt.Fprintln(a.stdout, "no runctl instances are running")
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tMARKET\tSTATE\tZONE\tPRICE\tAGE\tRUN")
	for _, i := range insts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Type, i.Market, i.State, i.Zone,
			i.HourlyPrice, time.Since(i.LaunchTime).Round(time.Second), i.RunID)
	}
	return tw.Flush()
}

// orphanView is an instance gc found, as --output json shows it.
type orphanView struct {
	instanceView
	Reason string `json:"reason"`
}

func (a *app) printOrphans(orphans []runctl.Orphan, yes bool) error {
	if a.output == "json" {
		views := make([]orphanView, 0, len(orphans))
		for i := range orphans {
			views = append(views, orphanView{viewInstance(&orphans[i].Instance), orphans[i].Reason})
		}
		return a.writeJSON(views)
	}
	if len(orphans) == 0 {
		_, err := fmt.Fprintln(a.stdout, "nothing to clean up")
		return err
	}
	for _, o := range orphans {
		fmt.Fprintf(a.stdout, "%s  %s %s, launched %s ago: %s\n", o.Instance.ID, o.Instance.Market,
			o.Instance.Type, time.Since(o.Instance.LaunchTime).Round(time.Second), o.Reason)
	}
	if !yes {
		_, err := fmt.Fprintln(a.stdout, "pass --yes to terminate them")
		return err
	}
	return nil
}
