package sandbox

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Instance is a snapshot of one sandbox instance, for tests and for
// `runctl sandbox` listings. It is a copy: changing it changes nothing.
type Instance struct {
	ID           string
	State        string // pending, running, shutting-down or terminated
	StateReason  string // an EC2 state reason code, such as Client.UserInitiatedShutdown
	InstanceType string
	ImageID      string
	Zone         string
	SubnetID     string
	Spot         bool
	LaunchTime   time.Time
	// AgentOnline reports whether the simulated SSM agent has registered.
	AgentOnline bool
	// InterruptionNotice is when the spot interruption notice appears;
	// zero when none is scheduled.
	InterruptionNotice time.Time
	Tags               map[string]string
	// Dir is the instance's directory on this machine: its cwd, with
	// home/, runctl/ and .sandbox/ below it.
	Dir string
}

// Instances returns every instance in the state directory, oldest first,
// with its state brought up to date.
func (s *Server) Instances() ([]Instance, error) {
	if err := s.reconcile(); err != nil {
		return nil, err
	}
	var out []Instance
	now := time.Now()
	err := s.st.view(func(st *state) error {
		for _, in := range st.Instances {
			out = append(out, in.snapshot(now))
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Instance) int {
		if c := a.LaunchTime.Compare(b.LaunchTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, err
}

// Live returns the instances that are not terminated, oldest first: what
// a test checks to know nothing was left running.
func (s *Server) Live() ([]Instance, error) {
	all, err := s.Instances()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(in Instance) bool { return in.State == stateTerminated }), nil
}

// Instance returns one instance by ID.
func (s *Server) Instance(id string) (Instance, error) {
	if err := s.reconcile(); err != nil {
		return Instance{}, err
	}
	in, err := s.lookup(id)
	if err != nil {
		return Instance{}, fmt.Errorf("instance %s: %w", id, err)
	}
	return in.snapshot(time.Now()), nil
}

// Processes returns the pids of the live processes that belong to an
// instance: commands, the boot script and anything they started, detached
// jobs included.
func (s *Server) Processes(id string) []int {
	return instancePIDs(id)
}

func (in *instance) snapshot(now time.Time) Instance {
	tags := map[string]string{}
	for _, t := range in.Tags {
		tags[t.Key] = t.Value
	}
	return Instance{ID: in.ID, State: in.State, StateReason: in.ReasonCode,
		InstanceType: in.InstanceType, ImageID: in.ImageID, Zone: in.Zone, SubnetID: in.SubnetID,
		Spot: in.Lifecycle == "spot", LaunchTime: in.LaunchTime, AgentOnline: in.online(now),
		InterruptionNotice: in.NoticeAt, Tags: maps.Clone(tags), Dir: in.Dir}
}
