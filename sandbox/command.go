package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SSM's limits on what GetCommandInvocation returns, as the agent applies
// them: it reads at most this many bytes and, when it read that many,
// replaces the tail with the suffix, so the content is exactly the limit.
const (
	maxStdout       = 24000
	maxStderr       = 8000
	truncatedSuffix = "--output truncated--"
	pluginName      = "aws:runShellScript"
	runShellScript  = "AWS-RunShellScript"
	// timedOutCode is the agent's exit code for a command it stopped.
	timedOutCode = 137
)

// invocation is one command on one instance, as GetCommandInvocation
// reports it. Live ones are held in memory by the server that runs them;
// every change is also written to the state directory so other processes
// can read it.
type invocation struct {
	CommandID     string    `json:"command_id"`
	InstanceID    string    `json:"instance_id"`
	DocumentName  string    `json:"document_name"`
	Comment       string    `json:"comment"`
	Commands      []string  `json:"commands"`
	WorkingDir    string    `json:"working_dir"`
	Timeout       int       `json:"timeout_seconds"`
	Requested     time.Time `json:"requested"`
	VisibleAt     time.Time `json:"visible_at"`
	StartAt       time.Time `json:"start_at"`
	Started       time.Time `json:"started,omitzero"`
	Ended         time.Time `json:"ended,omitzero"`
	Status        string    `json:"status"`
	StatusDetails string    `json:"status_details"`
	ResponseCode  int       `json:"response_code"`
	Stdout        string    `json:"stdout"`
	Stderr        string    `json:"stderr"`
	OwnerPID      int       `json:"owner_pid"`
}

func (inv *invocation) terminal() bool {
	switch inv.Status {
	case "Success", "Failed", "TimedOut", "Cancelled":
		return true
	}
	return false
}

// liveInvocation is an invocation this server runs.
type liveInvocation struct {
	inv  invocation // guarded by Server.mu
	proc *os.Process
	stop chan struct{} // closed by Close to cancel
}

type sendCommandInput struct {
	DocumentName string
	InstanceIds  []string
	Targets      []struct {
		Key    string
		Values []string
	}
	Parameters     map[string][]string
	Comment        string
	TimeoutSeconds int
}

type getInvocationInput struct {
	CommandID  string `json:"CommandId"`
	InstanceID string `json:"InstanceId"`
	PluginName string
}

// sendCommand starts AWS-RunShellScript on each instance.
func (s *Server) sendCommand(in sendCommandInput) (any, error) {
	ids, err := s.commandTargets(in)
	if err != nil {
		return nil, err
	}
	commands, workDir, timeout, err := runShellParams(in)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	cmdID := newRequestID()
	for _, iid := range ids {
		inv := invocation{CommandID: cmdID, InstanceID: iid, DocumentName: runShellScript,
			Comment: in.Comment, Commands: commands, WorkingDir: workDir, Timeout: timeout,
			Requested: now, VisibleAt: now.Add(s.t.hidden), StartAt: now.Add(s.t.hidden + s.t.pending),
			Status: "Pending", StatusDetails: "Pending", ResponseCode: -1, OwnerPID: os.Getpid()}
		s.startInvocation(inv)
	}
	return map[string]any{"Command": commandJSON(cmdID, in, ids, commands, now)}, nil
}

// commandTargets resolves the instances of a SendCommand and checks that
// each one's agent is Online, as SSM requires.
func (s *Server) commandTargets(in sendCommandInput) ([]string, error) {
	doc := in.DocumentName[strings.LastIndexByte(in.DocumentName, '/')+1:]
	if doc != runShellScript {
		return nil, errf(400, "InvalidDocument", "Document with name %s does not exist.", in.DocumentName)
	}
	ids := in.InstanceIds
	for _, t := range in.Targets {
		if t.Key == "InstanceIds" {
			ids = append(ids, t.Values...)
		}
	}
	if len(ids) == 0 || len(ids) > 50 {
		return nil, errf(400, "InvalidParameters", "Specify between 1 and 50 instance IDs.")
	}
	now := time.Now()
	var bad []string
	err := s.st.view(func(st *state) error {
		for _, id := range ids {
			if inst, ok := st.Instances[id]; !ok || !inst.online(now) {
				bad = append(bad, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, errf(400, "InvalidInstanceId", "Instances [[%s]] not in a valid state for account %s",
			strings.Join(bad, ", "), accountID)
	}
	return ids, nil
}

// runShellParams validates the document parameters: commands are joined by
// newlines; executionTimeout is 1..172800 seconds, 3600 when absent.
func runShellParams(in sendCommandInput) ([]string, string, int, error) {
	commands := in.Parameters["commands"]
	if len(commands) == 0 {
		return nil, "", 0, errf(400, "InvalidParameters", "Parameter \"commands\" is required.")
	}
	timeout := 3600
	if v := in.Parameters["executionTimeout"]; len(v) > 0 && v[0] != "" {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > 172800 {
			return nil, "", 0, errf(400, "InvalidParameters", "Parameter \"executionTimeout\" "+
				"value %q does not match the allowed pattern.", v[0])
		}
		timeout = n
	}
	var wd string
	if v := in.Parameters["workingDirectory"]; len(v) > 0 {
		wd = v[0]
	}
	for k := range in.Parameters {
		if k != "commands" && k != "executionTimeout" && k != "workingDirectory" {
			return nil, "", 0, errf(400, "InvalidParameters", "Parameter \"%s\" is not defined "+
				"in the document.", k)
		}
	}
	return commands, wd, timeout, nil
}

func commandJSON(id string, in sendCommandInput, ids, commands []string, now time.Time) map[string]any {
	params := map[string][]string{"commands": commands}
	for k, v := range in.Parameters {
		params[k] = v
	}
	timeout := in.TimeoutSeconds
	if timeout == 0 {
		timeout = 3600
	}
	return map[string]any{
		"CommandId": id, "DocumentName": runShellScript, "DocumentVersion": "$DEFAULT",
		"Comment": in.Comment, "ExpiresAfter": epochSeconds(now.Add(time.Duration(timeout) * time.Second)),
		"Parameters": params, "InstanceIds": ids, "Targets": []any{},
		"RequestedDateTime": epochSeconds(now), "Status": "Pending", "StatusDetails": "Pending",
		"OutputS3Region": "", "OutputS3BucketName": "", "OutputS3KeyPrefix": "",
		"MaxConcurrency": "50", "MaxErrors": "0", "TargetCount": len(ids), "CompletedCount": 0,
		"ErrorCount": 0, "DeliveryTimedOutCount": 0, "ServiceRole": "", "TimeoutSeconds": timeout,
		"NotificationConfig": map[string]any{"NotificationArn": "", "NotificationEvents": []string{},
			"NotificationType": ""},
		"CloudWatchOutputConfig": map[string]any{"CloudWatchLogGroupName": "",
			"CloudWatchOutputEnabled": false},
	}
}

// startInvocation records an invocation and runs it in the background.
func (s *Server) startInvocation(inv invocation) {
	li := &liveInvocation{inv: inv, stop: make(chan struct{})}
	s.mu.Lock()
	s.live[inv.CommandID+"/"+inv.InstanceID] = li
	s.mu.Unlock()
	s.persist(inv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runInvocation(li)
	}()
}

// runInvocation waits out the Pending delay, runs the script with bash in
// its own process group, enforces executionTimeout and records the result.
func (s *Server) runInvocation(li *liveInvocation) {
	select {
	case <-time.After(time.Until(li.inv.StartAt)):
	case <-li.stop:
		s.finish(li, "Cancelled", "Cancelled", -1, "", "")
		return
	}
	// When both were ready the select may have chosen the timer.
	select {
	case <-li.stop:
		s.finish(li, "Cancelled", "Cancelled", -1, "", "")
		return
	default:
	}
	cmd, out, err := s.prepareCommand(li)
	if err != nil {
		s.finish(li, "Failed", "Failed", 1, "", err.Error())
		return
	}
	err = cmd.Start()
	out.closeFiles()
	if err != nil {
		s.finish(li, "Failed", "Failed", 1, "", fmt.Sprintf("failed to run commands: %v", err))
		return
	}
	s.mu.Lock()
	li.proc = cmd.Process
	li.inv.Started, li.inv.Status, li.inv.StatusDetails = time.Now(), "InProgress", "InProgress"
	snapshot := li.inv
	s.mu.Unlock()
	s.persist(snapshot)

	status, details, code := s.waitCommand(li, cmd)
	stdout, stderr := out.read()
	s.finish(li, status, details, code, stdout, stderr)
}

// waitCommand waits for the command, killing its process group when the
// execution timeout passes or the server closes.
func (s *Server) waitCommand(li *liveInvocation, cmd *exec.Cmd) (status, details string, code int) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(time.Duration(li.inv.Timeout) * time.Second)
	defer timer.Stop()
	select {
	case err := <-done:
		code = exitCode(cmd, err)
		if code == 0 {
			return "Success", "Success", 0
		}
		return "Failed", "Failed", code
	case <-timer.C:
		status, details = "TimedOut", "ExecutionTimedOut"
	case <-li.stop:
		status, details = "Cancelled", "Cancelled"
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	return status, details, timedOutCode
}

func exitCode(cmd *exec.Cmd, err error) int {
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 1
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// commandOutput names the files a command writes its output to. Files,
// not pipes: a job the command leaves running in the background would
// otherwise hold the pipe open and keep the command from ending.
type commandOutput struct {
	stdout, stderr string
	files          []*os.File
}

// closeFiles drops this process's copies once the child has its own.
func (o commandOutput) closeFiles() {
	for _, f := range o.files {
		if f != nil {
			f.Close()
		}
	}
}

func (o commandOutput) read() (string, string) {
	return readCapped(o.stdout, maxStdout), readCapped(o.stderr, maxStderr)
}

// readCapped reads up to max bytes and truncates as the SSM agent does.
func readCapped(path string, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, int64(max)))
	return truncateOutput(string(b), max)
}

// truncateOutput replaces the tail of output that reached the limit with
// the agent's suffix. Output of exactly max bytes counts as truncated,
// because the agent cannot tell it from longer output.
func truncateOutput(s string, max int) string {
	if len(s) < max {
		return s
	}
	return s[:max-len(truncatedSuffix)] + truncatedSuffix
}

// prepareCommand writes the script and opens the output files.
func (s *Server) prepareCommand(li *liveInvocation) (*exec.Cmd, commandOutput, error) {
	in, err := s.lookup(li.inv.InstanceID)
	if err != nil {
		return nil, commandOutput{}, err
	}
	dir := filepath.Join(in.sandboxDir(), "commands", li.inv.CommandID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, commandOutput{}, err
	}
	script := filepath.Join(dir, "_script.sh")
	body := strings.Join(li.inv.Commands, "\n") + "\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		return nil, commandOutput{}, err
	}
	wd, err := workingDir(in, li.inv.WorkingDir)
	if err != nil {
		return nil, commandOutput{}, err
	}
	out := commandOutput{stdout: filepath.Join(dir, "stdout"), stderr: filepath.Join(dir, "stderr")}
	stdout, err1 := os.Create(out.stdout)
	stderr, err2 := os.Create(out.stderr)
	out.files = []*os.File{stdout, stderr}
	if err := errors.Join(err1, err2); err != nil {
		out.closeFiles()
		return nil, out, err
	}
	cmd := exec.Command("/bin/bash", script)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = wd, s.instanceEnv(in), stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, out, nil
}

// workingDir maps a workingDirectory onto the instance: a path inside the
// instance directory as is, any other absolute path below it, as if the
// instance directory were the root.
func workingDir(in *instance, wd string) (string, error) {
	if wd == "" {
		return in.Dir, nil
	}
	p := filepath.Join(in.Dir, wd)
	if filepath.IsAbs(wd) && strings.HasPrefix(filepath.Clean(wd)+"/", in.Dir+"/") {
		p = filepath.Clean(wd)
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("Invalid working directory: %s does not exist", wd)
	}
	return p, nil
}

// finish records a terminal result and drops the invocation from memory.
func (s *Server) finish(li *liveInvocation, status, details string, code int, stdout, stderr string) {
	s.mu.Lock()
	inv := &li.inv
	if inv.Started.IsZero() && status != "Cancelled" {
		inv.Started = time.Now()
	}
	inv.Ended, inv.Status, inv.StatusDetails, inv.ResponseCode = time.Now(), status, details, code
	inv.Stdout, inv.Stderr = stdout, stderr
	snapshot := *inv
	s.mu.Unlock()

	s.persist(snapshot)
	s.mu.Lock()
	delete(s.live, inv.CommandID+"/"+inv.InstanceID)
	s.mu.Unlock()
	s.log.Debug("sandbox command finished", "command_id", inv.CommandID,
		"instance_id", inv.InstanceID, "status", status, "response_code", code)
}

// cancelLive cancels every command this server runs, for Close.
func (s *Server) cancelLive() {
	s.mu.Lock()
	for _, li := range s.live {
		select {
		case <-li.stop:
		default:
			close(li.stop)
		}
	}
	s.mu.Unlock()
}

func (s *Server) invocationPath(cmdID, instID string) string {
	return filepath.Join(s.opts.Dir, "commands", cmdID, instID+".json")
}

func (s *Server) persist(inv invocation) {
	path := s.invocationPath(inv.CommandID, inv.InstanceID)
	b, err := json.Marshal(inv)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o700)
	}
	if err == nil {
		err = writeFileAtomic(path, b, 0o600)
	}
	if err != nil {
		s.log.Warn("sandbox persisting command", "command_id", inv.CommandID, "err", err)
	}
}

// findInvocation returns an invocation from memory or, failing that, from
// the state directory. A record left unfinished by a process that is gone
// reads as Cancelled.
func (s *Server) findInvocation(cmdID, instID string) (invocation, bool) {
	s.mu.Lock()
	li, ok := s.live[cmdID+"/"+instID]
	var inv invocation
	if ok {
		inv = li.inv
	}
	s.mu.Unlock()
	if ok {
		return inv, true
	}
	b, err := os.ReadFile(s.invocationPath(cmdID, instID))
	if err != nil || json.Unmarshal(b, &inv) != nil {
		return invocation{}, false
	}
	if !inv.terminal() && inv.OwnerPID != os.Getpid() && !pidAlive(inv.OwnerPID) {
		inv.Status, inv.StatusDetails, inv.ResponseCode = "Cancelled", "Cancelled", timedOutCode
	}
	return inv, true
}

// getInvocation answers GetCommandInvocation: InvocationDoesNotExist until
// the invocation is visible, output only once it has ended.
func (s *Server) getInvocation(in getInvocationInput) (any, error) {
	if len(in.CommandID) != 36 {
		return nil, errf(400, "InvalidCommandId", "")
	}
	if in.PluginName != "" && in.PluginName != pluginName {
		return nil, &apiError{Status: 400, Code: "InvalidPluginName"}
	}
	inv, ok := s.findInvocation(in.CommandID, in.InstanceID)
	if !ok || time.Now().Before(inv.VisibleAt) {
		return nil, &apiError{Status: 400, Code: "InvocationDoesNotExist"}
	}
	return invocationJSON(inv), nil
}

func invocationJSON(inv invocation) map[string]any {
	var start, end, elapsed string
	if !inv.Started.IsZero() {
		start = awsTime(inv.Started)
	}
	if inv.terminal() && !inv.Ended.IsZero() {
		end = awsTime(inv.Ended)
		if !inv.Started.IsZero() {
			elapsed = fmt.Sprintf("PT%.3fS", inv.Ended.Sub(inv.Started).Seconds())
		}
	}
	stdout, stderr := "", ""
	if inv.terminal() {
		stdout, stderr = inv.Stdout, inv.Stderr
	}
	return map[string]any{
		"CommandId": inv.CommandID, "InstanceId": inv.InstanceID, "Comment": inv.Comment,
		"DocumentName": inv.DocumentName, "DocumentVersion": "1", "PluginName": pluginName,
		"ResponseCode": inv.ResponseCode, "ExecutionStartDateTime": start,
		"ExecutionElapsedTime": elapsed, "ExecutionEndDateTime": end,
		"Status": inv.Status, "StatusDetails": inv.StatusDetails,
		"StandardOutputContent": stdout, "StandardOutputUrl": "",
		"StandardErrorContent": stderr, "StandardErrorUrl": "",
		"CloudWatchOutputConfig": map[string]any{"CloudWatchLogGroupName": "",
			"CloudWatchOutputEnabled": false},
	}
}
