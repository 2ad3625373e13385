package sandbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// imdsPrefix starts every IMDS path: /_imds/<instance-id>/latest/...
const imdsPrefix = "/_imds/"

// imdsURL is the metadata endpoint of one instance on this server.
func (s *Server) imdsURL(id string) string { return s.url + imdsPrefix + id }

// serveIMDS answers the IMDSv2 subset the on-instance watchdog uses.
// Tokens are signed with a key kept in the state directory, so a token from
// one sandbox process stays valid on another.
func (s *Server) serveIMDS(w http.ResponseWriter, r *http.Request) {
	if err := s.reconcile(); err != nil {
		s.log.Warn("sandbox reconcile", "err", err)
	}
	rest := strings.TrimPrefix(r.URL.Path, imdsPrefix)
	id, path, _ := strings.Cut(rest, "/")
	in, err := s.lookup(id)
	if err != nil || in.State == stateTerminated {
		http.NotFound(w, r)
		return
	}
	s.log.Debug("sandbox imds", "instance_id", id, "method", r.Method, "path", path)
	if path == "latest/api/token" {
		s.imdsToken(w, r, id)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if in.Metadata.HTTPTokens != "optional" && !s.validToken(r.Header.Get("X-aws-ec2-metadata-token"), id) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, ok := imdsValue(in, strings.TrimPrefix(path, "latest/meta-data/"), time.Now())
	if !ok || !strings.HasPrefix(path, "latest/meta-data/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(body))
}

// imdsToken issues a session token for PUT latest/api/token.
func (s *Server) imdsToken(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodPut {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
	if err != nil || ttl < 1 || ttl > 21600 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", strconv.Itoa(ttl))
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(s.signToken(id, time.Now().Add(time.Duration(ttl)*time.Second))))
}

// imdsValue returns the metadata at path for an instance.
func imdsValue(in *instance, path string, now time.Time) (string, bool) {
	lifecycle := "on-demand"
	if in.Lifecycle == "spot" {
		lifecycle = "spot"
	}
	switch path {
	case "", "/":
		return "ami-id\ninstance-id\ninstance-life-cycle\ninstance-type\nlocal-ipv4\nplacement/\nspot/", true
	case "instance-id":
		return in.ID, true
	case "instance-life-cycle":
		return lifecycle, true
	case "instance-type":
		return in.InstanceType, true
	case "ami-id":
		return in.ImageID, true
	case "local-ipv4":
		return in.PrivateIP, true
	case "placement/availability-zone":
		return in.Zone, true
	case "spot/instance-action", "spot/termination-time":
		return spotNotice(in, path, now)
	}
	return "", false
}

// spotNotice answers the spot paths: 404 until the notice is due, then the
// action and the time the instance will be terminated.
func spotNotice(in *instance, path string, now time.Time) (string, bool) {
	notice, ok := in.noticeTime()
	if !ok || now.Before(notice) {
		return "", false
	}
	at := in.interruptTime().UTC().Format("2006-01-02T15:04:05Z")
	if path == "spot/termination-time" {
		return at, true
	}
	b, _ := json.Marshal(map[string]string{"action": "terminate", "time": at})
	return string(b), true
}

// signToken makes a token naming the instance and its expiry.
func (s *Server) signToken(id string, exp time.Time) string {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(exp.Unix()))
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id))
	mac.Write(buf[:])
	return base64.RawURLEncoding.EncodeToString(append(buf[:], mac.Sum(nil)...))
}

func (s *Server) validToken(tok, id string) bool {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 8+sha256.Size {
		return false
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	if time.Now().After(exp) {
		return false
	}
	want := s.signToken(id, exp)
	return hmac.Equal([]byte(want), []byte(tok))
}

// loadKey reads the IMDS token key of the state directory, creating it on
// first use.
func (s *Server) loadKey() ([]byte, error) {
	path := filepath.Join(s.opts.Dir, "imds.key")
	var key []byte
	err := s.st.locked(syscall.LOCK_EX, func() error {
		b, err := os.ReadFile(path)
		if err == nil && len(b) == 32 {
			key = b
			return nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		key = make([]byte, 32)
		rand.Read(key)
		return writeFileAtomic(path, key, 0o600)
	})
	if err != nil {
		return nil, fmt.Errorf("loading imds key: %w", err)
	}
	return key, nil
}

// writeEndpoint points the instance's endpoint file at this server.
func (s *Server) writeEndpoint(in *instance) {
	if err := writeFileAtomic(in.endpointPath(), []byte(s.imdsURL(in.ID)+"\n"), 0o644); err != nil {
		s.log.Warn("sandbox imds endpoint file", "instance_id", in.ID, "err", err)
	}
}

// touchEndpoints keeps live instances' endpoint files pointing at a server
// that answers. At start every file is claimed; afterwards a file is taken
// over only when the server it names has gone, so two live servers do not
// fight over it.
func (s *Server) touchEndpoints(force bool) {
	var live []instance
	s.st.view(func(st *state) error {
		for _, in := range st.Instances {
			if in.State != stateTerminated {
				live = append(live, *in)
			}
		}
		return nil
	})
	for i := range live {
		in := &live[i]
		cur, err := os.ReadFile(in.endpointPath())
		mine := s.imdsURL(in.ID)
		if force || err != nil || (strings.TrimSpace(string(cur)) != mine && !s.answering(string(cur))) {
			s.writeEndpoint(in)
		}
	}
}

// answering reports whether the server named by an endpoint URL accepts
// connections, remembering a yes for a second.
func (s *Server) answering(endpoint string) bool {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || u.Host == "" {
		return false
	}
	s.mu.Lock()
	seen, ok := s.alive[u.Host]
	s.mu.Unlock()
	if ok && time.Since(seen) < time.Second {
		return true
	}
	c, err := net.DialTimeout("tcp", u.Host, 100*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	s.mu.Lock()
	s.alive[u.Host] = time.Now()
	s.mu.Unlock()
	return true
}

// lookup returns a copy of one instance's record.
func (s *Server) lookup(id string) (*instance, error) {
	var out *instance
	err := s.st.view(func(st *state) error {
		in, ok := st.Instances[id]
		if !ok {
			return errNoInstance
		}
		cp := *in
		out = &cp
		return nil
	})
	return out, err
}
