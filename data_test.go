package runctl

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/runctl/runctl/internal/remote"
)

func TestParseS3URI(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    S3URI
		wantErr string
	}{
		{in: "s3://my-bucket/data/mnist", want: S3URI{"my-bucket", "data/mnist"}},
		{in: "s3://my-bucket", want: S3URI{"my-bucket", ""}},
		{in: "s3://my.bucket-1/", want: S3URI{"my.bucket-1", ""}},
		{in: "my-bucket/data", wantErr: "not an S3 URI"},
		{in: "s3://My_Bucket/x", wantErr: "not a valid bucket"},
		{in: "s3://ab/x", wantErr: "not a valid bucket"},
		{in: "s3://bucket/a/../b", wantErr: `".."`},
	} {
		got, err := ParseS3URI(tc.in)
		if tc.wantErr != "" {
			assert.ErrorContains(t, err, tc.wantErr, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
	}
}

func TestDataPathNeverEscapes(t *testing.T) {
	for key, want := range map[string]string{
		"data/a.csv": "a.csv", "data/sub/b.bin": "sub/b.bin", "data/": "", "data/dir/": "",
		"data/../etc/passwd": "", "data//x": "x", "data/a\tb": "",
	} {
		got, ok := dataPath("data/", key)
		assert.Equal(t, want, got, key)
		assert.Equal(t, want != "", ok, key)
	}
}

func TestTrainBringsDataInAndOutputsOut(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	s3f := newFileS3(t)
	e := newTrainEnv(t, WithS3(s3f), WithS3Presigner(s3f), WithBucket("code-bucket"))
	for key, body := range map[string]string{"datasets/d1/train.csv": "1,2,3\n", "datasets/d1/sub/x.bin": "xx"} {
		p := s3f.path("data-bucket", key)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	dir := t.TempDir()
	script := "cat \"$RUNCTL_DATA_DIR/train.csv\"; ls \"$RUNCTL_DATA_DIR/sub\"\n" +
		"echo model > \"$RUNCTL_OUTPUT_DIR/model.txt\"\nexit 3\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "train.sh"), []byte(script), 0o755))

	res, err := e.c.Train(context.Background(), trainID, "train.sh", WithCodeDir(dir),
		WithDataS3("s3://data-bucket/datasets/d1"), WithOutputS3("s3://out-bucket/runs"))
	var je *JobError
	require.ErrorAs(t, err, &je, "the script's failure is still the result")
	assert.Equal(t, "runctl: fetching 2 data objects into $RUNCTL_DATA_DIR\n1,2,3\nx.bin\n", e.logText(t, 0))

	require.Equal(t, "s3://out-bucket/runs/"+res.Job.ID+"/outputs.tar.gz", res.OutputURI,
		"outputs are uploaded even when the script fails")
	files := untar(t, s3f.path("out-bucket", "runs/"+res.Job.ID+"/outputs.tar.gz"))
	assert.Equal(t, "model\n", files["model.txt"])
	assert.Len(t, eventsOf[OutputsUploaded](e.rec), 1)
}

func TestBadDataURIsAreRefusedBeforeAnything(t *testing.T) {
	e := newTrainEnv(t)
	_, err := e.c.Train(context.Background(), trainID, "train.sh", WithDataS3("http://x"))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Empty(t, e.sh.Scripts(""), "no command was sent")
}

// untar reads a gzip'd tar file into a map of regular files.
func untar(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			out[filepath.Clean(h.Name)] = string(b)
		}
	}
}

func TestBreakTestRegressions(t *testing.T) {
	t.Run("long arguments are refused before any call", func(t *testing.T) {
		e := newTrainEnv(t)
		big := strings.Repeat("a", remote.MaxArgsBytes+1)
		_, err := e.c.Train(context.Background(), trainID, "train.sh", WithArgs(big))
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Contains(t, err.Error(), "file in the code directory")
		assert.Empty(t, e.sh.Scripts(""))
	})
	t.Run("Run refuses bad training options before launching", func(t *testing.T) {
		env := newTestEnv(t)
		for _, opt := range []TrainOption{WithJobID("../x"), WithOutputS3("http://x/y"), WithDataS3("s3://UPPER/x")} {
			_, err := env.c.Run(context.Background(), "t3.micro", "train.py", RunOptions{Train: []TrainOption{opt}})
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
		}
		assert.Empty(t, env.ec2.Calls("RunInstances"), "nothing is paid for a typo")
	})
	t.Run("a data prefix is a folder", func(t *testing.T) {
		s3f := newFileS3(t)
		e := newTrainEnv(t, WithS3(s3f), WithS3Presigner(s3f), WithBucket("code-bucket"))
		for _, key := range []string{"d/evil/a.txt", "d/evil-sibling/b.txt", "d/evilness.txt"} {
			p := s3f.path("data-bucket", key)
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
		}
		job := &remote.Job{ID: "j9"}
		uri, err := ParseS3URI("s3://data-bucket/d/evil")
		require.NoError(t, err)
		require.NoError(t, e.c.prepareData(context.Background(), uri, job))
		list, err := os.ReadFile(s3f.path("code-bucket", "runctl/data/j9.tsv"))
		require.NoError(t, err)
		assert.Equal(t, 1, strings.Count(string(list), "\n"), "only evil/ itself: %s", list)
		assert.True(t, strings.HasPrefix(string(list), "a.txt\t"))
	})
}
