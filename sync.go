package runctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/runctl/runctl/internal/pack"
	"github.com/runctl/runctl/internal/remote"
)

// codeURLLifetime bounds how long the presigned code URL works; the
// instance fetches it within seconds.
const codeURLLifetime = 15 * time.Minute

// ShippedFile is one file that [Client.PlanSync] would ship.
type ShippedFile struct {
	Path string
	Size int64
}

// SyncPlan is what shipping a code directory would send.
type SyncPlan struct {
	Dir        string
	Files      []ShippedFile
	TotalBytes int64
	Hash       string
	LeftOut    []string // files left out by default, with the reason
}

// PlanSync lists what [Client.Train] would ship from dir, without uploading
// anything: the dry run.
func (c *Client) PlanSync(ctx context.Context, dir string) (*SyncPlan, error) {
	m, err := scan(ctx, dir)
	if err != nil {
		return nil, err
	}
	p := &SyncPlan{Dir: dir, TotalBytes: m.TotalBytes, Hash: m.Hash}
	for _, e := range m.Entries {
		if e.Type == pack.TypeFile {
			p.Files = append(p.Files, ShippedFile{Path: e.Path, Size: e.Size})
		}
	}
	for _, s := range m.Skipped {
		p.LeftOut = append(p.LeftOut, s.String())
	}
	return p, nil
}

// shipCode packs dir, uploads it under its content hash unless the same
// code is already there, and presigns the URL the instance fetches it from.
func (c *Client) shipCode(ctx context.Context, instanceID, dir, script string, job *remote.Job) error {
	if c.opts.bucket == "" {
		return &ConfigError{Problem: "no S3 bucket is set for shipping code",
			Fix: "pass --bucket NAME (runctl.WithBucket); runctl aws doctor suggests one"}
	}
	c.emit(ctx, PhaseStarted{Phase: PhaseSync, InstanceID: instanceID, Detail: dir})
	start := c.opts.clock.Now()

	m, key, err := c.packAndUpload(ctx, dir, script)
	if err != nil {
		return err
	}
	url, err := c.presignCode(ctx, key)
	if err != nil {
		return err
	}
	job.CodeURL, job.CodeHash = url, m.Hash[:16]
	c.emit(ctx, PhaseFinished{Phase: PhaseSync, InstanceID: instanceID, Elapsed: c.opts.clock.Now().Sub(start)})
	return nil
}

// packAndUpload scans and uploads the code directory, scanning again once
// when a file changes while it is packed (an editor saving, a notebook
// writing), so the object always matches its name.
func (c *Client) packAndUpload(ctx context.Context, dir, script string) (*pack.Manifest, string, error) {
	for attempt := 0; ; attempt++ {
		m, err := scan(ctx, dir)
		if err != nil {
			return nil, "", err
		}
		if err := checkScript(m, dir, script); err != nil {
			return nil, "", err
		}
		if attempt == 0 {
			for _, s := range m.Skipped {
				c.emit(ctx, SyncNote{Message: s.String()})
			}
		}
		key := "runctl/code/" + m.Hash + ".tar.gz"
		err = c.upload(ctx, m, key)
		if errors.Is(err, pack.ErrChanged) && attempt == 0 {
			c.log.Info("code changed while packing; packing again", "dir", dir)
			continue
		}
		return m, key, err
	}
}

// scan reads the code directory. A cancelled scan is not the directory's
// fault, so only other failures become a ConfigError.
func scan(ctx context.Context, dir string) (*pack.Manifest, error) {
	m, err := pack.Scan(ctx, dir)
	switch {
	case err == nil:
		return m, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, &ConfigError{Problem: fmt.Sprintf("reading code directory %s: %v", dir, err),
		Fix: "pass an existing directory with --code-dir"}
}

// checkScript makes sure the script will be in the shipped code.
func checkScript(m *pack.Manifest, dir, script string) error {
	want := filepath.ToSlash(filepath.Clean(script))
	for _, e := range m.Entries {
		if e.Path == want && e.Type != pack.TypeDir {
			return nil
		}
	}
	if _, err := os.Stat(filepath.Join(dir, script)); err == nil {
		return &ConfigError{Problem: fmt.Sprintf("script %s is left out of the shipped code by an ignore rule", script),
			Fix: "add !" + want + " to .runctlignore"}
	}
	return &ConfigError{Problem: fmt.Sprintf("script %s does not exist in %s", script, dir),
		Fix: "pass the script's path relative to --code-dir"}
}

// upload writes the archive to a temporary file, so memory stays bounded
// and S3 gets a known length, then puts it unless it is already there.
func (c *Client) upload(ctx context.Context, m *pack.Manifest, key string) error {
	bucket := aws.String(c.opts.bucket)
	if _, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String(key)}); err == nil {
		c.emit(ctx, SyncProgress{Files: m.Files, Bytes: m.TotalBytes, TotalBytes: m.TotalBytes,
			Uploaded: true, Skipped: true})
		return nil
	}
	// Only a missing object costs the bucket check, which turns a missing
	// or foreign bucket into advice rather than a failed upload.
	if _, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &ConfigError{Problem: fmt.Sprintf("bucket %s: %s", c.opts.bucket, explainBucket(err)),
			Fix: fmt.Sprintf("run 'runctl aws setup --bucket %s', or pass another with --bucket", c.opts.bucket)}
	}

	tmp, err := os.CreateTemp("", "runctl-code-*.tar.gz")
	if err != nil {
		return fmt.Errorf("creating the archive file: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := m.WriteArchive(ctx, tmp, func(p pack.Progress) {
		c.emit(ctx, SyncProgress{Files: p.Files, Bytes: p.Bytes, TotalBytes: m.TotalBytes})
	})
	if err != nil {
		return fmt.Errorf("packing the code: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}

	_, err = c.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: bucket, Key: aws.String(key), Body: tmp, ContentLength: aws.Int64(size),
		ContentType: aws.String("application/gzip"),
	})
	if err != nil {
		return fmt.Errorf("uploading the code to s3://%s/%s: %w", c.opts.bucket, key, err)
	}
	c.log.Info("code uploaded", "bucket", c.opts.bucket, "key", key, "bytes", size)
	c.emit(ctx, SyncProgress{Files: m.Files, Bytes: m.TotalBytes, TotalBytes: m.TotalBytes, Uploaded: true})
	return nil
}

func (c *Client) presignCode(ctx context.Context, key string) (string, error) {
	if c.presign == nil {
		return "", &ConfigError{Problem: "no S3 presigner", Fix: "pass runctl.WithS3Presigner with a custom S3 client"}
	}
	req, err := c.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(c.opts.bucket), Key: aws.String(key),
	}, s3.WithPresignExpires(codeURLLifetime))
	if err != nil {
		return "", fmt.Errorf("presigning the code URL: %w", err)
	}
	return req.URL, nil
}
