package sandbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// killGrace is how long processes get between SIGTERM and SIGKILL.
const killGrace = 300 * time.Millisecond

// instancePIDs returns the live processes that belong to an instance: every
// process whose environment carries RUNCTL_SANDBOX_INSTANCE=<id>. Commands,
// the boot script and whatever they start inherit it, detached or not.
func instancePIDs(id string) []int {
	want := []byte("RUNCTL_SANDBOX_INSTANCE=" + id)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !processAlive(pid) {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if slices.ContainsFunc(bytes.Split(env, []byte{0}), func(kv []byte) bool {
			return bytes.Equal(kv, want)
		}) {
			out = append(out, pid)
		}
	}
	return out
}

// processAlive reports whether pid exists and is not a zombie: a killed
// detached job that init has not reaped yet counts as gone.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

// killInstance ends every process of an instance: SIGTERM, a short grace,
// then SIGKILL, rescanning so children forked meanwhile die too. Only those
// processes are signalled, each by its own pid.
func (s *Server) killInstance(id string) {
	for round := 0; round < 3; round++ {
		pids := instancePIDs(id)
		if len(pids) == 0 {
			return
		}
		sig := syscall.SIGTERM
		if round > 0 {
			sig = syscall.SIGKILL
		}
		for _, pid := range pids {
			syscall.Kill(pid, sig)
		}
		waitGone(pids, killGrace)
	}
	if left := instancePIDs(id); len(left) > 0 {
		s.log.Warn("sandbox processes survived terminate", "instance_id", id, "pids", left)
	}
}

// waitGone polls until all pids are gone or max passes.
func waitGone(pids []int, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		if !slices.ContainsFunc(pids, processAlive) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pidAlive reports whether a process exists, for owners of persisted
// command records.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return (err == nil || errors.Is(err, syscall.EPERM)) && processAlive(pid)
}

// birthTime returns a directory's creation time where the file system
// records one, else the earlier of its modification and change times.
func birthTime(path string) (time.Time, bool) {
	var sx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BTIME|unix.STATX_MTIME, &sx)
	if err != nil {
		return time.Time{}, false
	}
	t := time.Unix(sx.Mtime.Sec, int64(sx.Mtime.Nsec))
	if sx.Mask&unix.STATX_BTIME != 0 && sx.Btime.Sec > 0 {
		if b := time.Unix(sx.Btime.Sec, int64(sx.Btime.Nsec)); b.Before(t) {
			t = b
		}
	}
	return t, true
}
