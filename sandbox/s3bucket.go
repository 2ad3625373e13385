package sandbox

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The bucket calls gofakes3 does not serve are answered here before it sees
// them: creating a bucket the caller already owns, and the bucket
// configuration runctl's setup writes (public access block, default
// encryption, lifecycle). A configuration is stored as the XML it was put
// with, in a dot file of the bucket's directory, so every process sees it.

// bucketSubresources maps each configuration served to the error S3 gives
// when a bucket has none; empty means S3 has a default to show instead.
var bucketSubresources = map[string]struct{ missingCode, missingMsg string }{
	"publicAccessBlock": {"NoSuchPublicAccessBlockConfiguration",
		"The public access block configuration was not found"},
	"encryption": {},
	"lifecycle":  {"NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"},
}

// defaultEncryption is what GetBucketEncryption shows for a bucket nobody
// configured: S3 encrypts every new bucket with SSE-S3.
const defaultEncryption = `<?xml version="1.0" encoding="UTF-8"?>
<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>` +
	`<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>` +
	`</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule>` +
	`</ServerSideEncryptionConfiguration>`

// bucketCalls answers bucket-level requests gofakes3 gets wrong.
type bucketCalls struct {
	d      *diskBackend
	region string
}

// serve handles r and reports true when r is a bucket request it answers.
func (b bucketCalls) serve(w http.ResponseWriter, r *http.Request) bool {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" || key != "" {
		return false
	}
	q := r.URL.Query()
	for sub := range bucketSubresources {
		if q.Has(sub) {
			b.serveConfig(w, r, bucket, sub)
			return true
		}
	}
	if r.Method == http.MethodPut && len(q) == 0 {
		return b.createBucket(w, r, bucket)
	}
	return false
}

// createBucket checks the location constraint against the region, as S3
// does, and answers for a bucket that exists already: 200 in us-east-1,
// for legacy reasons, BucketAlreadyOwnedByYou elsewhere. A new bucket is
// left to gofakes3.
func (b bucketCalls) createBucket(w http.ResponseWriter, r *http.Request, bucket string) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeS3Error(w, http.StatusBadRequest, "IncompleteBody", err.Error())
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if e := b.checkLocation(body); e != nil {
		writeS3Error(w, e.Status, e.Code, e.Message)
		return true
	}
	if ok, _ := b.d.BucketExists(bucket); !ok {
		return false
	}
	if b.region != "us-east-1" {
		writeS3Error(w, http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request "+
			"to create the named bucket succeeded and you already own it.")
		return true
	}
	w.Header().Set("Location", "/"+bucket)
	w.WriteHeader(http.StatusOK)
	return true
}

// checkLocation validates CreateBucketConfiguration: us-east-1 takes no
// constraint (naming it is an error), every other region its own name.
func (b bucketCalls) checkLocation(body []byte) *apiError {
	var cfg struct {
		XMLName            xml.Name `xml:"CreateBucketConfiguration"`
		LocationConstraint string
	}
	if len(bytes.TrimSpace(body)) > 0 && xml.Unmarshal(body, &cfg) != nil {
		return malformedXML()
	}
	lc := cfg.LocationConstraint
	switch {
	case b.region == "us-east-1" && lc == "us-east-1":
		return errf(400, "InvalidLocationConstraint", "The specified location-constraint is not valid")
	case b.region == "us-east-1" || lc == b.region:
		return nil
	case lc == "":
		return errf(400, "IllegalLocationConstraintException", "The unspecified location "+
			"constraint is incompatible for the region specific endpoint this request was sent to.")
	}
	return errf(400, "IllegalLocationConstraintException", "The %s location constraint is "+
		"incompatible for the region specific endpoint this request was sent to.", lc)
}

// serveConfig puts, gets or deletes one configuration of a bucket.
func (b bucketCalls) serveConfig(w http.ResponseWriter, r *http.Request, bucket, sub string) {
	if ok, _ := b.d.BucketExists(bucket); !ok {
		writeS3Error(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	path := filepath.Join(b.d.bucketDir(bucket), ".config-"+sub+".xml")
	var err error
	switch r.Method {
	case http.MethodPut:
		err = b.putConfig(w, r, path, sub)
	case http.MethodGet:
		err = b.getConfig(w, path, sub)
	case http.MethodDelete:
		if err = os.Remove(path); errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		if err == nil {
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		writeS3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed",
			"The specified method is not allowed against this resource.")
	}
	if err != nil {
		writeS3Error(w, http.StatusInternalServerError, "InternalError", err.Error())
	}
}

func (b bucketCalls) putConfig(w http.ResponseWriter, r *http.Request, path, sub string) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeS3Error(w, http.StatusBadRequest, "IncompleteBody", err.Error())
		return nil
	}
	if e := validateConfig(sub, body); e != nil {
		writeS3Error(w, e.Status, e.Code, e.Message)
		return nil
	}
	if err := writeFileAtomic(path, body, 0o600); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (b bucketCalls) getConfig(w http.ResponseWriter, path, sub string) error {
	body, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && sub == "encryption":
		body = []byte(defaultEncryption)
	case errors.Is(err, os.ErrNotExist):
		m := bucketSubresources[sub]
		writeS3Error(w, http.StatusNotFound, m.missingCode, m.missingMsg)
		return nil
	case err != nil:
		return err
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

// validateConfig checks a configuration against the parts of S3's schema
// that a client is likely to get wrong.
func validateConfig(sub string, body []byte) *apiError {
	switch sub {
	case "publicAccessBlock":
		var c struct {
			XMLName xml.Name `xml:"PublicAccessBlockConfiguration"`
			BlockPublicAcls, IgnorePublicAcls,
			BlockPublicPolicy, RestrictPublicBuckets bool
		}
		if xml.Unmarshal(body, &c) != nil {
			return malformedXML()
		}
		return nil
	case "encryption":
		return validateEncryption(body)
	}
	return validateLifecycle(body)
}

func validateEncryption(body []byte) *apiError {
	var c struct {
		XMLName xml.Name `xml:"ServerSideEncryptionConfiguration"`
		Rules   []struct {
			Default *struct {
				SSEAlgorithm   string
				KMSMasterKeyID string
			} `xml:"ApplyServerSideEncryptionByDefault"`
		} `xml:"Rule"`
	}
	if xml.Unmarshal(body, &c) != nil || len(c.Rules) == 0 {
		return malformedXML()
	}
	for _, rule := range c.Rules {
		d := rule.Default
		if d == nil || !slices.Contains([]string{"AES256", "aws:kms", "aws:kms:dsse"}, d.SSEAlgorithm) {
			return malformedXML()
		}
		if d.KMSMasterKeyID != "" && d.SSEAlgorithm == "AES256" {
			return errf(400, "InvalidArgument", "a KMSMasterKeyID is not applicable if the "+
				"default sse algorithm is not aws:kms or aws:kms:dsse")
		}
	}
	return nil
}

// lifecycleRule holds the parts of a lifecycle rule that are checked.
type lifecycleRule struct {
	ID         string
	Status     string
	Expiration *struct {
		Days                      int
		Date                      string
		ExpiredObjectDeleteMarker bool
	}
	Transitions      []struct{} `xml:"Transition"`
	AbortIncomplete  *struct{}  `xml:"AbortIncompleteMultipartUpload"`
	NoncurrentExpiry *struct{}  `xml:"NoncurrentVersionExpiration"`
	NoncurrentMoves  []struct{} `xml:"NoncurrentVersionTransition"`
}

func (r lifecycleRule) hasAction() bool {
	return r.Expiration != nil || len(r.Transitions) > 0 || r.AbortIncomplete != nil ||
		r.NoncurrentExpiry != nil || len(r.NoncurrentMoves) > 0
}

func validateLifecycle(body []byte) *apiError {
	var c struct {
		XMLName xml.Name        `xml:"LifecycleConfiguration"`
		Rules   []lifecycleRule `xml:"Rule"`
	}
	if xml.Unmarshal(body, &c) != nil || len(c.Rules) == 0 || len(c.Rules) > 1000 {
		return malformedXML()
	}
	ids := map[string]bool{}
	for _, r := range c.Rules {
		switch {
		case r.Status != "Enabled" && r.Status != "Disabled":
			return malformedXML()
		case !r.hasAction():
			return errf(400, "InvalidRequest", "At least one action needs to be specified in a rule")
		case r.Expiration != nil && r.Expiration.Date == "" && r.Expiration.Days <= 0 &&
			!r.Expiration.ExpiredObjectDeleteMarker:
			return errf(400, "InvalidArgument", "'Days' for Expiration action must be a positive integer")
		case r.ID != "" && ids[r.ID]:
			return errf(400, "InvalidArgument", "Rule ID must be unique. Found same ID for more "+
				"than one rule")
		}
		ids[r.ID] = true
	}
	return nil
}

func malformedXML() *apiError {
	return errf(400, "MalformedXML", "The XML you provided was not well-formed or did not "+
		"validate against our published schema")
}
