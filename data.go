package runctl

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/runctl/runctl/internal/remote"
)

// Limits on data brought in with WithDataS3: past them, a script is better
// off calling aws s3 sync itself with the instance role.
const (
	maxDataObjects = 20000
	dataURLLife    = 6 * time.Hour
	outputURLLife  = time.Hour
)

// WithDataS3 downloads every object under uri (s3://bucket/prefix) into the
// job's data directory before the script starts; the script finds it in
// $RUNCTL_DATA_DIR. The instance fetches each object through a presigned
// URL, so its role needs no S3 permission.
func WithDataS3(uri string) TrainOption { return func(o *trainOptions) { o.dataS3 = uri } }

// WithOutputS3 uploads the job's output directory ($RUNCTL_OUTPUT_DIR) as
// uri/JOB-ID/outputs.tar.gz when the job ends, however it ends: a script
// interrupted by a spot reclaim has its checkpoint uploaded too. The upload
// happens while the job is followed, by Train or by a later Follow.
func WithOutputS3(uri string) TrainOption { return func(o *trainOptions) { o.outputS3 = uri } }

// S3URI is a bucket and a key prefix.
type S3URI struct {
	Bucket string
	Prefix string // without a leading slash; may be empty
}

func (u S3URI) String() string { return "s3://" + u.Bucket + "/" + u.Prefix }

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ParseS3URI reads s3://bucket/prefix, rejecting what S3 would.
func ParseS3URI(uri string) (S3URI, error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return S3URI{}, &ConfigError{Problem: fmt.Sprintf("%q is not an S3 URI", uri),
			Fix: "write it as s3://bucket/prefix"}
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !bucketRE.MatchString(bucket) || strings.Contains(bucket, "..") {
		return S3URI{}, &ConfigError{Problem: fmt.Sprintf("%q is not a valid bucket name", bucket),
			Fix: "bucket names are 3-63 lower-case letters, digits, dots and hyphens"}
	}
	for _, part := range strings.Split(prefix, "/") {
		if part == ".." || part == "." {
			return S3URI{}, &ConfigError{Problem: fmt.Sprintf("%q has a %q path element", uri, part),
				Fix: "name the prefix without . or .. parts"}
		}
	}
	return S3URI{Bucket: bucket, Prefix: prefix}, nil
}

// prepareData lists the data objects, presigns each, and ships the list of
// (path, URL) pairs through the code bucket, so the start command stays
// small however many objects there are.
func (c *Client) prepareData(ctx context.Context, uri S3URI, job *remote.Job) error {
	if c.presign == nil {
		return &ConfigError{Problem: "no S3 presigner", Fix: "pass runctl.WithS3Presigner with a custom S3 client"}
	}
	// A prefix names a folder: data/mnist must not bring data/mnist-old.
	if uri.Prefix != "" && !strings.HasSuffix(uri.Prefix, "/") {
		uri.Prefix += "/"
	}
	var manifest strings.Builder
	var objects, skipped int
	p := s3.NewListObjectsV2Paginator(c.s3, &s3.ListObjectsV2Input{Bucket: aws.String(uri.Bucket),
		Prefix: aws.String(uri.Prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing %s: %w", uri, err)
		}
		for _, obj := range page.Contents {
			rel, ok := dataPath(uri.Prefix, aws.ToString(obj.Key))
			if !ok {
				if !strings.HasSuffix(aws.ToString(obj.Key), "/") {
					skipped++
				}
				continue
			}
			if objects++; objects > maxDataObjects {
				return &ConfigError{Problem: fmt.Sprintf("%s holds more than %d objects", uri, maxDataObjects),
					Fix: "have the script fetch it with aws s3 sync, giving the instance role read access"}
			}
			req, err := c.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(uri.Bucket),
				Key: obj.Key}, s3.WithPresignExpires(dataURLLife))
			if err != nil {
				return fmt.Errorf("presigning %s: %w", aws.ToString(obj.Key), err)
			}
			fmt.Fprintf(&manifest, "%s\t%s\n", rel, req.URL)
		}
	}
	if objects == 0 {
		return &ConfigError{Problem: fmt.Sprintf("no objects under %s", uri), Fix: "check the bucket and prefix"}
	}

	if skipped > 0 {
		c.emit(ctx, SyncNote{Message: fmt.Sprintf("left out %d objects under %s whose keys would not make a "+
			"safe file name (empty parts, '..', tabs or newlines)", skipped, uri)})
	}
	key := "runctl/data/" + job.ID + ".tsv"
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(c.opts.bucket), Key: aws.String(key),
		Body: strings.NewReader(manifest.String())}); err != nil {
		return fmt.Errorf("uploading the data list: %w", err)
	}
	req, err := c.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.opts.bucket),
		Key: aws.String(key)}, s3.WithPresignExpires(codeURLLifetime))
	if err != nil {
		return fmt.Errorf("presigning the data list: %w", err)
	}
	job.DataURL = req.URL
	c.log.Info("data listed", "uri", uri.String(), "objects", objects)
	return nil
}

// dataPath returns where an object lands under the data directory, and
// false for keys that name a folder or would escape it.
func dataPath(prefix, key string) (string, bool) {
	rel := strings.TrimPrefix(strings.TrimPrefix(key, prefix), "/")
	if rel == "" || strings.HasSuffix(rel, "/") || strings.ContainsAny(rel, "\t\n") {
		return "", false
	}
	clean := path.Clean(rel)
	if clean != rel || clean == ".." || strings.HasPrefix(clean, "../") || path.IsAbs(clean) {
		return "", false
	}
	return clean, true
}

// uploadOutputs sends the job's output directory to its S3 destination
// through a presigned PUT, once the job has ended.
func (c *Client) uploadOutputs(ctx context.Context, inst *Instance, res *Result, dest string) error {
	uri, err := ParseS3URI(dest)
	if err != nil {
		return err
	}
	key := strings.TrimSuffix(uri.Prefix, "/")
	if key != "" {
		key += "/"
	}
	key += res.Job.ID + "/outputs.tar.gz"
	req, err := c.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(uri.Bucket),
		Key: aws.String(key)}, s3.WithPresignExpires(outputURLLife))
	if err != nil {
		return fmt.Errorf("presigning the outputs upload: %w", err)
	}
	out, err := c.runCommand(ctx, inst.ID, remote.UploadOutputsCommand(res.Job.ID, req.URL), 30*time.Minute)
	if err != nil {
		return &PhaseError{Phase: PhaseOutputs, InstanceID: inst.ID,
			Err: fmt.Errorf("uploading outputs to s3://%s/%s: %w", uri.Bucket, key, c.explainGone(ctx, inst.ID, err))}
	}
	var size int64
	fmt.Sscanf(strings.TrimSpace(out), "uploaded %d", &size)
	res.OutputURI = "s3://" + uri.Bucket + "/" + key
	c.log.Info("outputs uploaded", "uri", res.OutputURI, "bytes", size)
	c.emit(ctx, OutputsUploaded{InstanceID: inst.ID, JobID: res.Job.ID, URI: res.OutputURI, Bytes: size})
	return nil
}
