package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// state is everything about the sandbox's EC2 side that must outlive the
// process that made it. It lives in one JSON file under the state directory
// and is changed only while holding an exclusive flock on a lock file, so
// several processes can each run a server over the same directory.
type state struct {
	Instances map[string]*instance `json:"instances"`
	// Tokens maps a RunInstances ClientToken to what that call launched.
	Tokens map[string]*launchRecord `json:"tokens"`
	// IAM holds the account's roles and instance profiles.
	IAM *iamState `json:"iam,omitempty"`
}

// launchRecord is what an idempotent RunInstances call returns again.
type launchRecord struct {
	ReservationID string    `json:"reservation_id"`
	InstanceIDs   []string  `json:"instance_ids"`
	ParamsHash    string    `json:"params_hash"`
	Created       time.Time `json:"created"`
}

// store reads and writes the state file.
type store struct {
	dir string
}

func (st *store) statePath() string { return filepath.Join(st.dir, "state.json") }
func (st *store) lockPath() string  { return filepath.Join(st.dir, "state.lock") }

// view runs fn on a snapshot of the state under a shared lock.
func (st *store) view(fn func(*state) error) error {
	return st.locked(syscall.LOCK_SH, func() error {
		s, err := st.load()
		if err != nil {
			return err
		}
		return fn(s)
	})
}

// update runs fn on the state under an exclusive lock and saves the result
// when fn reports a change. An error from fn discards its changes.
func (st *store) update(fn func(*state) (changed bool, err error)) error {
	return st.locked(syscall.LOCK_EX, func() error {
		s, err := st.load()
		if err != nil {
			return err
		}
		changed, err := fn(s)
		if err != nil || !changed {
			return err
		}
		return st.save(s)
	})
}

// locked holds an flock of the given kind on the lock file while fn runs.
// Each call opens its own descriptor, so goroutines of one process exclude
// each other as well as other processes.
func (st *store) locked(how int, fn func() error) error {
	f, err := os.OpenFile(st.lockPath(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("opening state lock: %w", err)
	}
	defer f.Close()
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("locking state: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}

func (st *store) load() (*state, error) {
	s := &state{}
	b, err := os.ReadFile(st.statePath())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading state: %w", err)
	default:
		if err := json.Unmarshal(b, s); err != nil {
			return nil, fmt.Errorf("decoding state %s: %w", st.statePath(), err)
		}
	}
	if s.Instances == nil {
		s.Instances = map[string]*instance{}
	}
	if s.Tokens == nil {
		s.Tokens = map[string]*launchRecord{}
	}
	if s.IAM == nil {
		s.IAM = defaultIAM()
	}
	return s, nil
}

func (st *store) save(s *state) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	return writeFileAtomic(st.statePath(), b, 0o600)
}

// writeFileAtomic writes through a temporary file and a rename, so readers
// in other processes never see half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
