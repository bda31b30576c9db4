package s3

import (
	"strings"
	"testing"
)

func TestBucketNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		strict, loose bool
	}{
		{"my-bucket", true, true},
		{"my.bucket.1", true, true},
		{"abc", true, true},
		{"ab", false, false},
		{strings.Repeat("a", 63), true, true},
		{strings.Repeat("a", 64), false, true},
		{strings.Repeat("a", 256), false, false},
		{"My_Container", false, true},
		{"-bucket", false, false},
		{"bucket-", false, true},
		{"bucket.", false, false},
		{"my..bucket", false, true},
		{"my.-bucket", false, true},
		{"192.168.5.4", false, false},
		{"a+segments", false, false},
		{"has space", false, false},
		{"slash/y", false, false},
	} {
		if got := validBucketName(tc.name, true); got != tc.strict {
			t.Errorf("validBucketName(%q, strict) = %v", tc.name, got)
		}
		if got := validBucketName(tc.name, false); got != tc.loose {
			t.Errorf("validBucketName(%q, legacy) = %v", tc.name, got)
		}
	}
}

func TestCopySource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, bucket, key string
		ok              bool
	}{
		{"bucket/key", "bucket", "key", true},
		{"/bucket/dir/key%20with%20space", "bucket", "dir/key with space", true},
		{"bucket/what%3Fwhy?versionId=null", "bucket", "what?why", true},
		{"bucket/k?versionId=3", "", "", false},
		{"bucket", "", "", false},
		{"bucket/", "", "", false},
		{"b/key", "", "", false},
		{"bucket/%zz", "", "", false},
	} {
		b, k, e := copySource(tc.in)
		if (e == nil) != tc.ok || b != tc.bucket || k != tc.key {
			t.Errorf("copySource(%q) = %q %q %v", tc.in, b, k, e)
		}
	}
	if got := copyFrom("bucket", "dir/a b?c"); got != "/bucket/dir/a%20b%3Fc" {
		t.Errorf("copyFrom = %q", got)
	}
	for _, tc := range []struct {
		in          string
		first, last int64
		ok          bool
	}{
		{"bytes=0-9", 0, 9, true}, {"bytes=5-5", 5, 5, true},
		{"bytes=9-0", 0, 0, false}, {"bytes=-5", 0, 0, false}, {"bytes=5-", 0, 0, false}, {"0-9", 0, 0, false},
	} {
		f, l, ok := parseCopyRange(tc.in)
		if ok != tc.ok || f != tc.first || l != tc.last {
			t.Errorf("parseCopyRange(%q) = %d %d %v", tc.in, f, l, ok)
		}
	}
}

func TestListingETag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    listEntry
		want string
	}{
		{listEntry{Hash: "abc"}, `"abc"`},
		{listEntry{Hash: `"abc"`}, `"abc"`},
		{listEntry{Hash: "abc; s3_etag=def-3"}, `"def-3"`},
		{listEntry{Hash: "abc; slo_etag=xyz; s3_etag=def-3"}, `"def-3"`},
		{listEntry{Hash: "abc; slo_etag=xyz"}, `"xyz-N"`},
		{listEntry{Hash: "abc", S3ETag: `"def-2"`}, `"def-2"`},
		{listEntry{Hash: "abc", SLOETag: `"xyz"`}, `"xyz-N"`},
	} {
		if got := listingETag(tc.e); got != tc.want {
			t.Errorf("listingETag(%+v) = %s, want %s", tc.e, got, tc.want)
		}
	}
	if got := uriEncode("a b/c~d+é", true); got != "a%20b/c~d%2B%C3%A9" {
		t.Errorf("uriEncode path = %q", got)
	}
	if got := uriEncode("a/b=c", false); got != "a%2Fb%3Dc" {
		t.Errorf("uriEncode query = %q", got)
	}
}
