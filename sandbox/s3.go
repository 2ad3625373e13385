package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// newS3Handler serves S3 of region, path style, from files under root,
// with the default bucket in place.
func newS3Handler(root, region string, log *slog.Logger) (http.Handler, error) {
	backend := &diskBackend{root: root}
	buckets := bucketCalls{d: backend, region: region}
	if err := backend.CreateBucket(DefaultBucket); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
		return nil, fmt.Errorf("creating default bucket: %w", err)
	}
	fake := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	inner := fake.Server()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if presignExpired(r, time.Now()) {
			writeS3Error(w, http.StatusForbidden, "AccessDenied", "Request has expired")
			return
		}
		if err := unchunk(r); err != nil {
			writeS3Error(w, http.StatusBadRequest, "InvalidRequest", err.Error())
			return
		}
		log.Debug("sandbox s3", "method", r.Method, "path", r.URL.Path)
		if !buckets.serve(w, r) {
			inner.ServeHTTP(w, r)
		}
	}), nil
}

func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"+
		"<Message>%s</Message><RequestId>%s</RequestId></Error>", code, msg, newRequestID())
}

// presignExpired reports whether a presigned URL's X-Amz-Date plus
// X-Amz-Expires has passed, so short-lived URLs behave as they do in AWS.
// Signatures themselves are not checked: the credentials are fake.
func presignExpired(r *http.Request, now time.Time) bool {
	q := r.URL.Query()
	date, expires := q.Get("X-Amz-Date"), q.Get("X-Amz-Expires")
	if date == "" || expires == "" {
		return false
	}
	t, err1 := time.Parse("20060102T150405Z", date)
	secs, err2 := strconv.Atoi(expires)
	if err1 != nil || err2 != nil {
		return false
	}
	return now.After(t.Add(time.Duration(secs) * time.Second))
}

// unchunk decodes an aws-chunked request body (signed, unsigned, with or
// without checksum trailers) before gofakes3 sees it; gofakes3 handles only
// the signed form and would otherwise store the framing as content.
func unchunk(r *http.Request) error {
	sha := r.Header.Get("X-Amz-Content-Sha256")
	if !strings.HasPrefix(sha, "STREAMING-") && !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		return nil
	}
	size, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
	if err != nil {
		return errors.New("aws-chunked body without X-Amz-Decoded-Content-Length")
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{&chunkedReader{r: bufio.NewReader(r.Body)}, r.Body}
	r.ContentLength = size
	r.Header.Set("Content-Length", strconv.FormatInt(size, 10))
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	r.Header.Del("X-Amz-Decoded-Content-Length")
	enc := strings.Trim(strings.ReplaceAll(r.Header.Get("Content-Encoding"), "aws-chunked", ""), ", ")
	if enc == "" {
		r.Header.Del("Content-Encoding")
	} else {
		r.Header.Set("Content-Encoding", enc)
	}
	return nil
}

// chunkedReader reads the data of an aws-chunked stream: hex size lines
// with optional ;chunk-signature, data, CRLF, a zero chunk and trailers.
type chunkedReader struct {
	r    *bufio.Reader
	left int64
	seen bool
	done bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	for c.left == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err == io.EOF && c.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// next reads the next chunk header, and at the last chunk the trailers.
func (c *chunkedReader) next() error {
	if c.seen {
		if _, err := c.r.ReadString('\n'); err != nil {
			return fmt.Errorf("aws-chunked: %w", err)
		}
	}
	c.seen = true
	line, err := c.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("aws-chunked: %w", err)
	}
	hexSize, _, _ := strings.Cut(strings.TrimSpace(line), ";")
	n, err := strconv.ParseInt(hexSize, 16, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("aws-chunked: bad chunk size %q", hexSize)
	}
	if n == 0 {
		c.done = true
		io.Copy(io.Discard, c.r)
	}
	c.left = n
	return nil
}
