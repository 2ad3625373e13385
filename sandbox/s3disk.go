package sandbox

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// diskBackend is a gofakes3 backend that keeps objects in files, so objects
// put by one sandbox process can be read by another. Each bucket is a
// directory; each object one file named by the hash of its key, holding
// the content followed by a JSON trailer and the trailer's length. Writes go
// through a rename, so a reader sees the old object or the new one.
type diskBackend struct {
	root string
}

var _ gofakes3.Backend = (*diskBackend)(nil)

// objectMeta is the trailer of an object file.
type objectMeta struct {
	Key      string            `json:"key"`
	Metadata map[string]string `json:"metadata"`
	Size     int64             `json:"size"`
	MD5      []byte            `json:"md5"`
	Modified time.Time         `json:"modified"`
}

type bucketMeta struct {
	Created time.Time `json:"created"`
}

func (d *diskBackend) bucketDir(name string) string { return filepath.Join(d.root, name) }

func (d *diskBackend) objectPath(bucket, key string) string {
	return filepath.Join(d.bucketDir(bucket), hashHex("key/"+key, 40))
}

// ListBuckets lists every bucket directory.
func (d *diskBackend) ListBuckets() ([]gofakes3.BucketInfo, error) {
	entries, err := os.ReadDir(d.root)
	if err != nil {
		return nil, fmt.Errorf("listing buckets: %w", err)
	}
	var out []gofakes3.BucketInfo
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(d.root, e.Name(), ".bucket.json"))
		var m bucketMeta
		if err != nil || json.Unmarshal(b, &m) != nil {
			continue
		}
		out = append(out, gofakes3.BucketInfo{Name: e.Name(), CreationDate: gofakes3.NewContentTime(m.Created)})
	}
	return out, nil
}

// ListBucket lists a bucket's objects in key order, with prefix, delimiter
// and marker paging.
func (d *diskBackend) ListBucket(name string, prefix *gofakes3.Prefix,
	page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	metas, err := d.allObjects(name)
	if err != nil {
		return nil, err
	}
	if prefix == nil {
		prefix = &gofakes3.Prefix{}
	}
	resp := gofakes3.NewObjectList()
	var match gofakes3.PrefixMatch
	var count int64
	lastPrefix := ""
	for i, m := range metas {
		if page.Marker != "" && m.Key <= page.Marker {
			continue
		}
		if !prefix.Match(m.Key, &match) {
			continue
		}
		if match.CommonPrefix {
			if match.MatchedPart == lastPrefix {
				continue
			}
			resp.AddPrefix(match.MatchedPart)
			lastPrefix = match.MatchedPart
		} else {
			resp.Add(&gofakes3.Content{Key: m.Key, LastModified: gofakes3.NewContentTime(m.Modified),
				ETag: gofakes3.FormatETag(m.MD5), Size: m.Size, StorageClass: "STANDARD"})
		}
		count++
		if page.MaxKeys > 0 && count >= page.MaxKeys {
			resp.NextMarker = m.Key
			resp.IsTruncated = i < len(metas)-1
			break
		}
	}
	return resp, nil
}

// allObjects reads every object trailer of a bucket, sorted by key.
func (d *diskBackend) allObjects(bucket string) ([]objectMeta, error) {
	if ok, _ := d.BucketExists(bucket); !ok {
		return nil, gofakes3.BucketNotFound(bucket)
	}
	entries, err := os.ReadDir(d.bucketDir(bucket))
	if err != nil {
		return nil, fmt.Errorf("listing bucket %s: %w", bucket, err)
	}
	var out []objectMeta
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		f, m, err := openObject(filepath.Join(d.bucketDir(bucket), e.Name()))
		if err != nil {
			continue
		}
		f.Close()
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// CreateBucket makes a bucket directory.
func (d *diskBackend) CreateBucket(name string) error {
	if ok, _ := d.BucketExists(name); ok {
		return gofakes3.ResourceError(gofakes3.ErrBucketAlreadyExists, name)
	}
	if err := os.MkdirAll(d.bucketDir(name), 0o700); err != nil {
		return fmt.Errorf("creating bucket %s: %w", name, err)
	}
	b, _ := json.Marshal(bucketMeta{Created: time.Now().UTC()})
	return writeFileAtomic(filepath.Join(d.bucketDir(name), ".bucket.json"), b, 0o600)
}

// BucketExists reports whether the bucket directory is there.
func (d *diskBackend) BucketExists(name string) (bool, error) {
	if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		return false, nil
	}
	_, err := os.Stat(filepath.Join(d.bucketDir(name), ".bucket.json"))
	return err == nil, nil
}

// DeleteBucket removes an empty bucket.
func (d *diskBackend) DeleteBucket(name string) error {
	metas, err := d.allObjects(name)
	if err != nil {
		return err
	}
	if len(metas) > 0 {
		return gofakes3.ResourceError(gofakes3.ErrBucketNotEmpty, name)
	}
	return os.RemoveAll(d.bucketDir(name))
}

// ForceDeleteBucket removes a bucket and its objects.
func (d *diskBackend) ForceDeleteBucket(name string) error {
	if ok, _ := d.BucketExists(name); !ok {
		return gofakes3.ErrNoSuchBucket
	}
	return os.RemoveAll(d.bucketDir(name))
}

// GetObject opens an object, or the requested range of it. The caller
// closes Contents.
func (d *diskBackend) GetObject(bucket, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	f, m, err := d.open(bucket, key)
	if err != nil {
		return nil, err
	}
	r, err := rng.Range(m.Size)
	if err != nil {
		f.Close()
		return nil, err
	}
	start, length := int64(0), m.Size
	if r != nil {
		start, length = r.Start, r.Length
	}
	body := struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, start, length), f}
	return &gofakes3.Object{Name: key, Metadata: m.Metadata, Size: m.Size, Contents: body,
		Hash: m.MD5, Range: r}, nil
}

// HeadObject returns an object's metadata without its content.
func (d *diskBackend) HeadObject(bucket, key string) (*gofakes3.Object, error) {
	f, m, err := d.open(bucket, key)
	if err != nil {
		return nil, err
	}
	f.Close()
	return &gofakes3.Object{Name: key, Metadata: m.Metadata, Size: m.Size,
		Contents: io.NopCloser(bytes.NewReader(nil)), Hash: m.MD5}, nil
}

func (d *diskBackend) open(bucket, key string) (*os.File, objectMeta, error) {
	if ok, _ := d.BucketExists(bucket); !ok {
		return nil, objectMeta{}, gofakes3.BucketNotFound(bucket)
	}
	f, m, err := openObject(d.objectPath(bucket, key))
	if err != nil || m.Key != key {
		if f != nil {
			f.Close()
		}
		return nil, objectMeta{}, gofakes3.KeyNotFound(key)
	}
	return f, m, nil
}

// openObject opens an object file and reads its trailer.
func openObject(path string) (*os.File, objectMeta, error) {
	var m objectMeta
	f, err := os.Open(path)
	if err != nil {
		return nil, m, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < 8 {
		err = errors.New("object file too short")
	}
	var lenBuf [8]byte
	if err == nil {
		_, err = f.ReadAt(lenBuf[:], fi.Size()-8)
	}
	n := int64(binary.BigEndian.Uint64(lenBuf[:]))
	if err == nil && (n <= 0 || n > fi.Size()-8) {
		err = errors.New("bad object trailer")
	}
	if err == nil {
		trailer := make([]byte, n)
		if _, err = f.ReadAt(trailer, fi.Size()-8-n); err == nil {
			err = json.Unmarshal(trailer, &m)
		}
	}
	if err != nil {
		f.Close()
		return nil, m, err
	}
	return f, m, nil
}

// PutObject streams the content to a temporary file, appends the trailer
// and renames it into place.
func (d *diskBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader,
	size int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	var res gofakes3.PutObjectResult
	if ok, _ := d.BucketExists(bucket); !ok {
		return res, gofakes3.BucketNotFound(bucket)
	}
	if conditions != nil {
		if err := gofakes3.CheckPutConditions(conditions, d.objectInfo(bucket, key)); err != nil {
			return res, err
		}
	}
	tmp, err := os.CreateTemp(d.bucketDir(bucket), ".put-*")
	if err != nil {
		return res, fmt.Errorf("storing object: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), input)
	if err != nil {
		return res, fmt.Errorf("storing object: %w", err)
	}
	if size >= 0 && n != size {
		return res, gofakes3.ErrIncompleteBody
	}
	trailer, _ := json.Marshal(objectMeta{Key: key, Metadata: meta, Size: n, MD5: h.Sum(nil),
		Modified: time.Now().UTC()})
	var lenBuf [8]byte
	binary.BigEndian.PutUint64(lenBuf[:], uint64(len(trailer)))
	if _, err := tmp.Write(append(trailer, lenBuf[:]...)); err != nil {
		return res, fmt.Errorf("storing object: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("storing object: %w", err)
	}
	if err := os.Rename(tmp.Name(), d.objectPath(bucket, key)); err != nil {
		return res, fmt.Errorf("storing object: %w", err)
	}
	return res, nil
}

func (d *diskBackend) objectInfo(bucket, key string) *gofakes3.ObjectInfo {
	f, m, err := d.open(bucket, key)
	if err != nil {
		return &gofakes3.ObjectInfo{}
	}
	f.Close()
	return &gofakes3.ObjectInfo{Exists: true, Hash: m.MD5}
}

// DeleteObject removes an object; deleting a missing one succeeds, as in S3.
func (d *diskBackend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	if ok, _ := d.BucketExists(bucket); !ok {
		return gofakes3.ObjectDeleteResult{}, gofakes3.BucketNotFound(bucket)
	}
	if err := os.Remove(d.objectPath(bucket, key)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return gofakes3.ObjectDeleteResult{}, fmt.Errorf("deleting object: %w", err)
	}
	return gofakes3.ObjectDeleteResult{}, nil
}

// DeleteMulti deletes several objects.
func (d *diskBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var res gofakes3.MultiDeleteResult
	for _, k := range keys {
		if _, err := d.DeleteObject(bucket, k); err != nil {
			res.Error = append(res.Error, gofakes3.ErrorResultFromError(err))
			continue
		}
		res.Deleted = append(res.Deleted, gofakes3.ObjectID{Key: k})
	}
	return res, nil
}

// CopyObject copies through Get and Put.
func (d *diskBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string,
	meta map[string]string) (gofakes3.CopyObjectResult, error) {
	return gofakes3.CopyObject(d, srcBucket, srcKey, dstBucket, dstKey, meta)
}
