package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLIs are the AWS CLIs to drive: Debian's, and any more named in
// NIMBUS_TEST_AWS (colon-separated), e.g. a newer botocore's.
func awsCLIs() []string {
	var out []string
	for _, p := range append([]string{"/usr/bin/aws"}, filepath.SplitList(os.Getenv("NIMBUS_TEST_AWS"))...) {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// awsRunner runs one AWS CLI against a stack with the example key pair.
type awsRunner struct {
	t    *testing.T
	bin  string
	url  string
	env  []string
	home string
}

func newAWSRunner(t *testing.T, bin, url, secret string) *awsRunner {
	home := t.TempDir()
	return &awsRunner{t: t, bin: bin, url: url, home: home, env: []string{
		"HOME=" + home, "PATH=/usr/bin:/bin",
		"AWS_ACCESS_KEY_ID=" + exampleAccess, "AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard",
	}}
}

// run runs the CLI with args; it returns stdout, stderr and whether it
// succeeded.
func (a *awsRunner) run(args ...string) (string, string, bool) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.bin, append([]string{"--endpoint-url", a.url}, args...)...)
	cmd.Env = a.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err == nil
}

func (a *awsRunner) must(args ...string) string {
	a.t.Helper()
	out, errs, ok := a.run(args...)
	if !ok {
		a.t.Fatalf("%s %s failed:\n%s\n%s", filepath.Base(a.bin), strings.Join(args, " "), out, errs)
	}
	return out
}

// TestAWSCLI drives the AWS CLI through what the end-to-end script does,
// on the parts of the pipeline this package's tests have.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the AWS CLI")
	}
	clis := awsCLIs()
	if len(clis) == 0 {
		t.Skip("no AWS CLI (/usr/bin/aws) here")
	}
	for _, bin := range clis {
		t.Run(strings.ReplaceAll(bin, "/", "_"), func(t *testing.T) {
			s, _ := newTestStack(t)
			a := newAWSRunner(t, bin, s.url, exampleSecret)
			dir := t.TempDir()
			small := filepath.Join(dir, "small.bin")
			data := make([]byte, 100<<10)
			_, _ = rand.Read(data)
			if err := os.WriteFile(small, data, 0o600); err != nil {
				t.Fatal(err)
			}

			a.must("s3", "mb", "s3://cli-bucket")
			if out := a.must("s3", "ls"); !strings.Contains(out, "cli-bucket") {
				t.Errorf("s3 ls: %q", out)
			}
			a.must("s3", "cp", small, "s3://cli-bucket/dir/small.bin")
			if out := a.must("s3", "ls", "s3://cli-bucket/dir/"); !strings.Contains(out, "small.bin") || !strings.Contains(out, "102400") {
				t.Errorf("s3 ls bucket: %q", out)
			}
			// Keys that need escaping, signed as botocore escapes them.
			a.must("s3", "cp", small, "s3://cli-bucket/odd/we ird+ké y?#=&.txt")
			if out := a.must("s3", "ls", "s3://cli-bucket/odd/"); !strings.Contains(out, "we ird+ké y?#=&.txt") {
				t.Errorf("odd key listing: %q", out)
			}
			back := filepath.Join(dir, "back.bin")
			a.must("s3", "cp", "s3://cli-bucket/dir/small.bin", back)
			if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
				t.Errorf("downloaded %d bytes, not what was uploaded", len(got))
			}
			if out := a.must("s3api", "head-object", "--bucket", "cli-bucket", "--key", "dir/small.bin"); !strings.Contains(out, md5Of(data)) {
				t.Errorf("head-object: %s", out)
			}
			if out := a.must("s3api", "list-objects-v2", "--bucket", "cli-bucket", "--prefix", "dir/"); !strings.Contains(out, `"Key": "dir/small.bin"`) {
				t.Errorf("list-objects-v2: %s", out)
			}
			rng := filepath.Join(dir, "range.bin")
			a.must("s3api", "get-object", "--bucket", "cli-bucket", "--key", "dir/small.bin", "--range", "bytes=0-9", rng)
			if got, _ := os.ReadFile(rng); !bytes.Equal(got, data[:10]) {
				t.Errorf("ranged get-object: %x", got)
			}
			// Debian's CLI presigns with SigV4, older ones with SigV2.
			u := strings.TrimSpace(a.must("s3", "presign", "s3://cli-bucket/dir/small.bin"))
			if resp, got := s.send(mustRequest(t, "GET", u)); resp.StatusCode != 200 || !bytes.Equal(got, data) {
				t.Errorf("GET of presigned %s = %d %.200s", u, resp.StatusCode, got)
			}

			{
				big := filepath.Join(dir, "big.bin")
				bigData := make([]byte, 20<<20)
				_, _ = rand.Read(bigData)
				if err := os.WriteFile(big, bigData, 0o600); err != nil {
					t.Fatal(err)
				}
				a.must("s3", "cp", big, "s3://cli-bucket/big.bin")
				if out := a.must("s3api", "head-object", "--bucket", "cli-bucket", "--key", "big.bin"); !strings.Contains(out, "-3") {
					t.Errorf("multipart head-object: %s", out)
				}
				bigBack := filepath.Join(dir, "big.back")
				a.must("s3", "cp", "s3://cli-bucket/big.bin", bigBack)
				if got, _ := os.ReadFile(bigBack); !bytes.Equal(got, bigData) {
					t.Errorf("multipart download differs (%d bytes)", len(got))
				}
			}
			{
				a.must("s3api", "copy-object", "--bucket", "cli-bucket", "--key", "copy.bin", "--copy-source", "cli-bucket/dir/small.bin")
				cp := filepath.Join(dir, "copy.bin")
				a.must("s3", "cp", "s3://cli-bucket/copy.bin", cp)
				if got, _ := os.ReadFile(cp); !bytes.Equal(got, data) {
					t.Errorf("copy differs")
				}
			}

			wrong := newAWSRunner(t, bin, s.url, "wrong-secret")
			if _, errs, ok := wrong.run("s3", "ls", "s3://cli-bucket"); ok || !strings.Contains(errs, "SignatureDoesNotMatch") {
				t.Errorf("wrong secret: ok=%v %s", ok, errs)
			}
			if _, _, ok := a.run("s3", "rb", "s3://cli-bucket"); ok {
				t.Error("rb of a full bucket succeeded")
			}
			a.must("s3", "rm", "--recursive", "s3://cli-bucket")
			a.must("s3", "rb", "s3://cli-bucket")
			if out := a.must("s3", "ls"); strings.Contains(out, "cli-bucket") {
				t.Errorf("after rb: %q", out)
			}
		})
	}
}
