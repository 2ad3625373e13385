package sandbox

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Instance states and their EC2 codes.
const (
	statePending      = "pending"
	stateRunning      = "running"
	stateShuttingDown = "shutting-down"
	stateTerminated   = "terminated"
)

var stateCodes = map[string]int{
	statePending: 0, stateRunning: 16, stateShuttingDown: 32, stateTerminated: 48,
}

// State reasons the sandbox records, as EC2 words them.
const (
	reasonUser      = "Client.UserInitiatedShutdown"
	reasonInstance  = "Client.InstanceInitiatedShutdown"
	reasonSpot      = "Server.SpotInstanceTermination"
	reasonUserMsg   = "Client.UserInitiatedShutdown: User initiated shutdown"
	reasonInstMsg   = "Client.InstanceInitiatedShutdown: Instance initiated shutdown"
	reasonSpotMsg   = "Server.SpotInstanceTermination: Spot instance termination"
	defaultWindow   = 3 * time.Second
	terminatedKeep  = time.Hour
	userDataMaxSize = 16 * 1024
)

// instance is one sandbox EC2 instance as the state file holds it. Its
// lifecycle is a set of timestamps, so any process can tell its state.
type instance struct {
	ID               string          `json:"id"`
	ReservationID    string          `json:"reservation_id"`
	ImageID          string          `json:"image_id"`
	InstanceType     string          `json:"instance_type"`
	Arch             string          `json:"arch"`
	Zone             string          `json:"zone"`
	SubnetID         string          `json:"subnet_id"`
	PrivateIP        string          `json:"private_ip"`
	KeyName          string          `json:"key_name,omitempty"`
	ClientToken      string          `json:"client_token,omitempty"`
	State            string          `json:"state"`
	ReasonCode       string          `json:"reason_code,omitempty"`
	ReasonMessage    string          `json:"reason_message,omitempty"`
	TransitionReason string          `json:"transition_reason,omitempty"`
	LaunchTime       time.Time       `json:"launch_time"`
	RunningAt        time.Time       `json:"running_at"`
	OnlineAt         time.Time       `json:"online_at,omitzero"` // zero: never
	ShutdownAt       time.Time       `json:"shutdown_at,omitzero"`
	TerminateAt      time.Time       `json:"terminate_at,omitzero"`
	Lifecycle        string          `json:"lifecycle,omitempty"` // "spot" or ""
	SpotRequestID    string          `json:"spot_request_id,omitempty"`
	SpotMaxPrice     string          `json:"spot_max_price,omitempty"`
	Tags             []tag           `json:"tags,omitempty"`
	Volumes          []volume        `json:"volumes,omitempty"`
	ProfileArn       string          `json:"profile_arn,omitempty"`
	ProfileID        string          `json:"profile_id,omitempty"`
	Metadata         metadataOptions `json:"metadata"`
	ShutdownBehavior string          `json:"shutdown_behavior"`
	UserData         string          `json:"user_data,omitempty"` // base64, as sent
	Booted           bool            `json:"booted"`
	InterruptAfter   time.Duration   `json:"interrupt_after,omitempty"`
	InterruptWindow  time.Duration   `json:"interrupt_window,omitempty"`
	// Killed records that the instance's processes were killed after its
	// shutdown began; only then may it read as terminated.
	Killed   bool      `json:"killed,omitempty"`
	JobStart time.Time `json:"job_start,omitzero"`
	NoticeAt time.Time `json:"notice_at,omitzero"`
	Dir      string    `json:"dir"`
}

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// volume is one EBS volume attached at launch.
type volume struct {
	ID                  string `json:"id"`
	DeviceName          string `json:"device_name"`
	SizeGiB             int    `json:"size_gib"`
	Type                string `json:"type"`
	Encrypted           bool   `json:"encrypted"`
	DeleteOnTermination bool   `json:"delete_on_termination"`
	Iops                int    `json:"iops,omitempty"` // zero: the type's default
	Throughput          int    `json:"throughput,omitempty"`
	Tags                []tag  `json:"tags,omitempty"`
}

type metadataOptions struct {
	HTTPTokens   string `json:"http_tokens"`
	HTTPEndpoint string `json:"http_endpoint"`
	HopLimit     int    `json:"hop_limit"`
	Tags         string `json:"instance_metadata_tags"`
}

// online reports whether the simulated SSM agent has registered.
func (in *instance) online(now time.Time) bool {
	return in.State == stateRunning && !in.OnlineAt.IsZero() && !now.Before(in.OnlineAt)
}

func (in *instance) sandboxDir() string   { return filepath.Join(in.Dir, ".sandbox") }
func (in *instance) poweroffPath() string { return filepath.Join(in.sandboxDir(), "poweroff") }
func (in *instance) endpointPath() string { return filepath.Join(in.sandboxDir(), "imds-endpoint") }

// noticeTime returns when the spot interruption notice appears, if one is
// scheduled.
func (in *instance) noticeTime() (time.Time, bool) {
	return in.NoticeAt, !in.NoticeAt.IsZero()
}

// interruptTime returns when a scheduled interruption terminates the instance.
func (in *instance) interruptTime() time.Time {
	w := in.InterruptWindow
	if w <= 0 {
		w = defaultWindow
	}
	return in.NoticeAt.Add(w)
}

// beginShutdown moves the instance to shutting-down for the given reason.
func (in *instance) beginShutdown(now time.Time, d time.Duration, code, msg string) {
	in.State = stateShuttingDown
	in.Killed = false
	in.ReasonCode, in.ReasonMessage = code, msg
	in.ShutdownAt = now
	in.TerminateAt = now.Add(d)
	who := "User"
	if code == reasonSpot {
		who = "Service"
	}
	in.TransitionReason = fmt.Sprintf("%s initiated (%s GMT)", who,
		now.UTC().Format("2006-01-02 15:04:05"))
}

// stepResult says what a reconcile step changed and what must follow it
// outside the state lock.
type stepResult struct {
	changed bool
	boot    bool
	kill    bool
}

// step advances one instance's lifecycle to now.
func (s *Server) step(in *instance, now time.Time) stepResult {
	var r stepResult
	for range 4 {
		before := in.State
		switch in.State {
		case statePending:
			if !now.Before(in.RunningAt) {
				in.State = stateRunning
				in.ReasonCode, in.ReasonMessage = "", ""
				r.boot = !in.Booted
				in.Booted = true
			}
		case stateRunning:
			r.kill = s.stepRunning(in, now) || r.kill
		case stateShuttingDown:
			if !now.Before(in.TerminateAt) && in.Killed {
				in.State = stateTerminated
			}
			// The process that began the shutdown died before killing.
			r.kill = r.kill || (!in.Killed && now.Sub(in.ShutdownAt) > 2*time.Second)
		}
		if in.State == before {
			break
		}
		r.changed = true
	}
	if in.State == stateRunning && in.InterruptAfter > 0 && in.JobStart.IsZero() {
		r.changed = s.detectJob(in) || r.changed
	}
	return r
}

// stepRunning ends a running instance that powered itself off or whose spot
// interruption window has passed. It reports whether processes must die.
//
// TODO(runctl): an on-demand instance launched with
// InstanceInitiatedShutdownBehavior=stop should go to stopped, not
// terminated, on poweroff; the sandbox terminates it either way, so it
// cannot show a client that forgot to ask for terminate.
func (s *Server) stepRunning(in *instance, now time.Time) bool {
	if _, err := os.Stat(in.poweroffPath()); err == nil {
		in.beginShutdown(now, s.t.shutdown, reasonInstance, reasonInstMsg)
		return true
	}
	if _, ok := in.noticeTime(); ok && !now.Before(in.interruptTime()) {
		in.beginShutdown(now, s.t.shutdown, reasonSpot, reasonSpotMsg)
		return true
	}
	return false
}

// detectJob looks for the first job directory and schedules the spot
// interruption notice from its start.
func (s *Server) detectJob(in *instance) bool {
	start, ok := firstJobStart(filepath.Join(in.Dir, "runctl", "jobs"))
	if !ok {
		return false
	}
	in.JobStart = start
	in.NoticeAt = start.Add(in.InterruptAfter)
	s.log.Info("sandbox spot interruption scheduled", "instance_id", in.ID,
		"notice_at", in.NoticeAt, "terminate_at", in.interruptTime())
	return true
}

// firstJobStart returns the earliest creation (or modification) time among
// the job directories under dir.
func firstJobStart(dir string) (time.Time, bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return time.Time{}, false
	}
	var first time.Time
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t, ok := birthTime(filepath.Join(dir, e.Name()))
		if ok && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first, !first.IsZero()
}

// reconcile advances every instance to now, then boots, kills and prunes
// outside the lock what the step asked for.
func (s *Server) reconcile() error {
	now := time.Now()
	var boot []instance
	var kill []string
	var prune []string
	err := s.st.update(func(st *state) (bool, error) {
		changed := false
		for id, in := range st.Instances {
			r := s.step(in, now)
			changed = changed || r.changed
			if r.boot {
				boot = append(boot, *in)
			}
			if r.kill {
				kill = append(kill, id)
			}
			if in.State == stateTerminated && now.Sub(in.TerminateAt) > terminatedKeep {
				delete(st.Instances, id)
				prune = append(prune, in.Dir)
				changed = true
			}
		}
		return changed, nil
	})
	for _, in := range boot {
		s.boot(in)
	}
	for _, dir := range prune {
		os.RemoveAll(dir)
	}
	if len(kill) > 0 {
		err = errors.Join(err, s.killAndMark(kill))
	}
	return err
}

// killAndMark kills the processes of instances whose shutdown has begun and
// then records that, so "terminated" always means nothing of it runs.
func (s *Server) killAndMark(ids []string) error {
	for _, id := range ids {
		s.killInstance(id)
	}
	now := time.Now()
	return s.st.update(func(st *state) (bool, error) {
		for _, id := range ids {
			if in := st.Instances[id]; in != nil {
				in.Killed = true
				s.step(in, now)
			}
		}
		return true, nil
	})
}

// boot runs the instance's user data once, as cloud-init would: a script
// starting with #! runs under bash, detached, so it outlives this process.
func (s *Server) boot(in instance) {
	s.writeEndpoint(&in)
	script, err := base64.StdEncoding.DecodeString(in.UserData)
	if err != nil || !bytes.HasPrefix(script, []byte("#!")) {
		return
	}
	path := filepath.Join(in.sandboxDir(), "user-data")
	if err := os.WriteFile(path, script, 0o700); err != nil {
		s.log.Warn("sandbox user data", "instance_id", in.ID, "err", err)
		return
	}
	logf, err := os.OpenFile(filepath.Join(in.sandboxDir(), "user-data.log"),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.log.Warn("sandbox user data", "instance_id", in.ID, "err", err)
		return
	}
	defer logf.Close()
	cmd := exec.Command("/bin/bash", path)
	cmd.Dir, cmd.Env = in.Dir, s.instanceEnv(&in)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		s.log.Warn("sandbox user data", "instance_id", in.ID, "err", err)
		return
	}
	s.log.Info("sandbox user data started", "instance_id", in.ID, "pid", cmd.Process.Pid)
	go cmd.Wait()
	s.killIfEnded(in.ID)
}

// killIfEnded kills an instance's processes when its shutdown began while
// it was booting: the terminate's own kill may have scanned for processes
// before the boot script existed.
func (s *Server) killIfEnded(id string) {
	cur, err := s.lookup(id)
	if err == nil && cur.State != stateRunning {
		s.killInstance(id)
	}
}

// instanceEnv is the environment of every command and of the boot script.
func (s *Server) instanceEnv(in *instance) []string {
	sb := in.sandboxDir()
	return []string{
		"HOME=" + filepath.Join(in.Dir, "home"),
		"PATH=" + filepath.Join(sb, "bin") + ":/usr/local/bin:/usr/bin:/bin",
		"RUNCTL_HOME=" + filepath.Join(in.Dir, "runctl"),
		"RUNCTL_DETACH=setsid",
		"RUNCTL_IMDS_ENDPOINT=" + s.imdsURL(in.ID),
		"RUNCTL_IMDS_ENDPOINT_FILE=" + in.endpointPath(),
		"RUNCTL_POWEROFF=touch " + in.poweroffPath(),
		"RUNCTL_SANDBOX_INSTANCE=" + in.ID,
		// The watchdog must see a notice well within the sandbox's short
		// interruption window.
		"RUNCTL_WATCHDOG_INTERVAL=0.2",
		// A requirements.txt must not send pip or uv to the internet from
		// this machine: both work offline here, from what is installed.
		"PIP_NO_INDEX=1", "UV_OFFLINE=1",
		"AWS_EC2_METADATA_DISABLED=true",
		"LANG=C.UTF-8",
	}
}

// createInstanceDir lays out a new instance's directory: home, runctl and
// .sandbox with the shims that keep the instance from touching this machine.
func (s *Server) createInstanceDir(in *instance) error {
	for _, d := range []string{"home", "runctl", ".sandbox/bin", ".sandbox/commands"} {
		if err := os.MkdirAll(filepath.Join(in.Dir, d), 0o755); err != nil {
			return fmt.Errorf("creating instance dir: %w", err)
		}
	}
	for name, body := range shims(in.poweroffPath()) {
		path := filepath.Join(in.sandboxDir(), "bin", name)
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			return fmt.Errorf("writing shim %s: %w", name, err)
		}
	}
	s.writeEndpoint(in)
	return nil
}

// shims returns the scripts put first on an instance's PATH: whatever would
// power off, reboot or escape to the real init system only touches the
// instance's poweroff file or fails.
func shims(poweroff string) map[string]string {
	touch := "#!/bin/sh\n# sandbox: powers off the instance, not this machine\ntouch '" +
		poweroff + "'\n"
	return map[string]string{
		"shutdown": touch, "poweroff": touch, "halt": touch, "reboot": touch,
		"init": touch, "telinit": touch,
		"systemd-run": "#!/bin/sh\necho 'systemd-run: not available in the sandbox' >&2\nexit 1\n",
		"systemctl": "#!/bin/sh\ncase \"$*\" in\n*poweroff*|*halt*|*reboot*|*kexec*)\n  touch '" +
			poweroff + "';;\n*) echo 'systemctl: not available in the sandbox' >&2; exit 1;;\nesac\n",
		// sudo would reset PATH and reach the real shutdown; run the
		// command as is instead, dropping sudo's options.
		"sudo": "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in\n" +
			"  -u|-g|-C|-D|-h|-p|-r|-t|-U) shift 2;;\n  --) shift; break;;\n" +
			"  -*) shift;;\n  *) break;;\n  esac\ndone\nexec \"$@\"\n",
	}
}

// terminateLaunched terminates every instance this server launched, for
// Close with KillOnClose.
func (s *Server) terminateLaunched() error {
	s.mu.Lock()
	ids := append([]string(nil), s.launched...)
	s.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	now := time.Now()
	err := s.st.update(func(st *state) (bool, error) {
		for _, id := range ids {
			in := st.Instances[id]
			if in == nil || in.State == stateTerminated {
				continue
			}
			in.beginShutdown(now, 0, reasonUser, "Client.UserInitiatedShutdown: sandbox server closed")
		}
		return true, nil
	})
	err = errors.Join(err, s.killAndMark(ids))
	if err != nil {
		return fmt.Errorf("terminating sandbox instances: %w", err)
	}
	return nil
}

// errNoInstance is returned by lookups of an unknown instance.
var errNoInstance = errors.New("no such sandbox instance")
