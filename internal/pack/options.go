package pack

import (
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/klauspost/compress/flate"
)

// defaultLevel is spelled out because klauspost/compress maps
// DefaultCompression to its level 5, which comes out 5-8% larger than gzip -6
// on source code; level 6 stays within about 4% at a small cost in speed.
const defaultLevel = 6

// Option configures Scan and the archive its Manifest writes.
type Option func(*options)

type options struct {
	cacheDir string // "" disables the stat cache
	secrets  []string
	level    int
	workers  int
	blocks   int
	now      func() time.Time
}

// defaultSecretPatterns are left out unless a .runctlignore re-includes
// them. They rank below .runctlignore and above .gitignore, so a .gitignore
// negation cannot ship a secret by accident.
var defaultSecretPatterns = []string{
	".env", ".env.*", ".envrc",
	"*.pem", "*.key", "*.p12", "*.pfx", "*.keystore", "*.jks",
	"id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
	".aws/", ".ssh/", ".gnupg/", ".docker/config.json", ".kube/config",
	".netrc", ".pypirc", ".npmrc", ".git-credentials",
	"credentials.json", "service-account*.json", "*.tfstate", "*.tfstate.*",
	"kaggle.json", "application_default_credentials.json", ".htpasswd", "secrets.yaml", "secrets.yml",
}

// DefaultSecretPatterns returns the .gitignore-syntax patterns Scan leaves
// out by default because they usually hold credentials.
func DefaultSecretPatterns() []string {
	return append([]string(nil), defaultSecretPatterns...)
}

// WithCacheDir keeps the stat cache, which lets Scan skip re-reading files
// whose size, times and inode are unchanged, in dir; "" turns it off. The
// default is runctl/pack under os.UserCacheDir.
func WithCacheDir(dir string) Option {
	return func(o *options) { o.cacheDir = dir }
}

// WithSecretPatterns replaces DefaultSecretPatterns; no patterns turns the
// secret check off.
func WithSecretPatterns(patterns ...string) Option {
	return func(o *options) { o.secrets = append([]string(nil), patterns...) }
}

// WithLevel sets the gzip level, from 1 (fastest) to 9 (smallest); the
// default, 6, matches gzip's own default in size while running faster.
func WithLevel(level int) Option {
	return func(o *options) { o.level = level }
}

// WithConcurrency sets how many files are hashed at once and how many gzip
// blocks of 1 MiB are compressed at once. The default follows GOMAXPROCS.
func WithConcurrency(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.workers, o.blocks = n, n
		}
	}
}

func resolveOptions(opts []Option) options {
	o := options{
		secrets: defaultSecretPatterns,
		level:   defaultLevel,
		workers: max(2, runtime.GOMAXPROCS(0)),
		blocks:  max(2, runtime.GOMAXPROCS(0)),
		now:     time.Now,
	}
	if dir, err := os.UserCacheDir(); err == nil {
		o.cacheDir = filepath.Join(dir, "runctl", "pack")
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.level < flate.BestSpeed || o.level > flate.BestCompression {
		o.level = defaultLevel
	}
	return o
}
