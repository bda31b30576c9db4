package s3

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func keysOf(r listBucketResult) (keys, prefixes []string) {
	for _, o := range r.Contents {
		keys = append(keys, o.Key)
	}
	for _, p := range r.CommonPrefixes {
		prefixes = append(prefixes, p.Prefix)
	}
	return keys, prefixes
}

func TestListObjects(t *testing.T) {
	t.Parallel()
	_, c := newTestStack(t)
	c.must(200, "PUT", "/list", nil)
	for _, k := range []string{"a.txt", "dir/one", "dir/two", "dir/sub/three", "z b", "zz%"} {
		c.must(200, "PUT", "/list/"+strings.ReplaceAll(strings.ReplaceAll(k, "%", "%25"), " ", "%20"), []byte(k))
	}
	list := func(query string) listBucketResult {
		t.Helper()
		_, data := c.must(200, "GET", "/list?"+query, nil)
		var r listBucketResult
		decodeXML(t, data, &r)
		return r
	}

	r := list("")
	keys, _ := keysOf(r)
	if strings.Join(keys, ",") != "a.txt,dir/one,dir/sub/three,dir/two,z b,zz%" || r.IsTruncated || r.MaxKeys != 1000 || r.Name != "list" {
		t.Fatalf("v1 all: %+v", r)
	}
	o := r.Contents[0]
	if o.ETag != `"`+md5Of([]byte("a.txt"))+`"` || o.Size != 5 || o.StorageClass != "STANDARD" || o.Owner == nil || o.Owner.ID != "demo:alice" ||
		!strings.HasSuffix(o.LastModified, ".000Z") {
		t.Errorf("entry = %+v", o)
	}
	if r.Marker == nil || r.KeyCount != nil {
		t.Errorf("v1 has Marker, no KeyCount: %+v", r)
	}

	r = list("delimiter=/")
	keys, prefixes := keysOf(r)
	if strings.Join(keys, ",") != "a.txt,z b,zz%" || strings.Join(prefixes, ",") != "dir/" || r.Delimiter != "/" {
		t.Errorf("delimiter: %v %v", keys, prefixes)
	}
	r = list("prefix=dir/&delimiter=/")
	keys, prefixes = keysOf(r)
	if strings.Join(keys, ",") != "dir/one,dir/two" || strings.Join(prefixes, ",") != "dir/sub/" || r.Prefix != "dir/" {
		t.Errorf("prefix+delimiter: %v %v", keys, prefixes)
	}

	// v1 paging: with a delimiter S3 gives NextMarker.
	r = list("max-keys=2&delimiter=/")
	keys, prefixes = keysOf(r)
	if !r.IsTruncated || r.NextMarker != "dir/" || len(keys)+len(prefixes) != 2 || r.MaxKeys != 2 {
		t.Errorf("page 1: %+v", r)
	}
	r = list("max-keys=2&delimiter=/&marker=dir/")
	keys, _ = keysOf(r)
	if strings.Join(keys, ",") != "z b,zz%" || r.IsTruncated {
		t.Errorf("page 2: %+v", r)
	}

	// v2 paging with continuation tokens.
	var all []string
	token := ""
	for page := 0; ; page++ {
		q := "list-type=2&max-keys=4"
		if token != "" {
			q += "&continuation-token=" + strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(token)
		}
		r = list(q)
		keys, _ = keysOf(r)
		all = append(all, keys...)
		if r.KeyCount == nil || *r.KeyCount != len(keys) || r.Marker != nil || r.Contents[0].Owner != nil {
			t.Errorf("v2 page %d: %+v", page, r)
		}
		if !r.IsTruncated {
			break
		}
		token = r.NextContinuationToken
		if page > 3 {
			t.Fatal("v2 paging does not end")
		}
	}
	if strings.Join(all, ",") != "a.txt,dir/one,dir/sub/three,dir/two,z b,zz%" {
		t.Errorf("v2 pages = %v", all)
	}
	r = list("list-type=2&start-after=dir/two&fetch-owner=true")
	keys, _ = keysOf(r)
	if strings.Join(keys, ",") != "z b,zz%" || r.StartAfter == nil || *r.StartAfter != "dir/two" || r.Contents[0].Owner == nil {
		t.Errorf("start-after: %+v", r)
	}
	r = list("list-type=2&encoding-type=url&prefix=z")
	keys, _ = keysOf(r)
	if strings.Join(keys, ",") != "z%20b,zz%25" || r.EncodingType != "url" {
		t.Errorf("encoding-type=url: %v", keys)
	}
	r = list("max-keys=0")
	if len(r.Contents) != 0 || r.IsTruncated {
		t.Errorf("max-keys=0: %+v", r)
	}
	c.fails(400, "InvalidArgument", "GET", "/list?max-keys=-1", nil)
	c.fails(400, "InvalidArgument", "GET", "/list?encoding-type=base64", nil)
	c.fails(400, "InvalidArgument", "GET", "/list?list-type=2&continuation-token=%21%21", nil)
}

func TestDeleteObjects(t *testing.T) {
	t.Parallel()
	_, c := newTestStack(t)
	c.must(200, "PUT", "/bulk", nil)
	for _, k := range []string{"one", "two", "three"} {
		c.must(200, "PUT", "/bulk/"+k, []byte(k))
	}
	body := []byte(`<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<Object><Key>one</Key></Object><Object><Key>two</Key></Object><Object><Key>never-was</Key></Object>` +
		`<Object><Key>three</Key><VersionId>v9</VersionId></Object></Delete>`)
	sum := md5.Sum(body)
	_, data := c.must(200, "POST", "/bulk?delete", body, "Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	var res deleteResult
	decodeXML(t, data, &res)
	var deleted []string
	for _, d := range res.Deleted {
		deleted = append(deleted, d.Key)
	}
	if strings.Join(deleted, ",") != "one,two,never-was" || len(res.Errors) != 1 || res.Errors[0].Key != "three" ||
		res.Errors[0].Code != "NoSuchVersion" {
		t.Errorf("result: %s", data)
	}
	c.fails(404, "NoSuchKey", "GET", "/bulk/one", nil)
	c.must(200, "GET", "/bulk/three", nil)

	quiet := []byte(`<Delete><Quiet>true</Quiet><Object><Key>three</Key></Object></Delete>`)
	sum = md5.Sum(quiet)
	_, data = c.must(200, "POST", "/bulk?delete", quiet, "Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	res = deleteResult{}
	decodeXML(t, data, &res)
	if len(res.Deleted) != 0 || len(res.Errors) != 0 {
		t.Errorf("quiet result: %s", data)
	}
	c.fails(404, "NoSuchKey", "GET", "/bulk/three", nil)

	c.fails(400, "InvalidRequest", "POST", "/bulk?delete", quiet)
	c.fails(400, "BadDigest", "POST", "/bulk?delete", quiet, "Content-MD5", base64.StdEncoding.EncodeToString(make([]byte, 16)))
	junk := []byte("<Delete><Object>")
	sum = md5.Sum(junk)
	c.fails(400, "MalformedXML", "POST", "/bulk?delete", junk, "Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	many := "<Delete>" + strings.Repeat("<Object><Key>k</Key></Object>", 1001) + "</Delete>"
	sum = md5.Sum([]byte(many))
	c.fails(400, "MalformedXML", "POST", "/bulk?delete", []byte(many), "Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	sum = md5.Sum(quiet)
	c.fails(404, "NoSuchBucket", "POST", "/nobulk?delete", quiet, "Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
}

// A completed upload's manifest asks the container to list its S3 ETag in
// the hash: S3 listings show it, Swift listings keep the plain hash.
func TestListingETagOfMultipartObjects(t *testing.T) {
	t.Parallel()
	s, c := newTestStack(t)
	c.must(200, "PUT", "/etags", nil)
	resp, _ := s.swiftDo("PUT", "/etags/mpu", []byte("manifest"),
		"X-Object-Sysmeta-Container-Update-Override-Etag", "0123456789abcdef0123456789abcdef; s3_etag=fedcba9876543210fedcba9876543210-2")
	if resp.StatusCode != 201 {
		t.Fatalf("Swift PUT = %d", resp.StatusCode)
	}
	c.must(200, "PUT", "/etags/plain", []byte("plain"))

	_, data := c.must(200, "GET", "/etags?list-type=2", nil)
	var r listBucketResult
	decodeXML(t, data, &r)
	if len(r.Contents) != 2 || r.Contents[0].ETag != `"fedcba9876543210fedcba9876543210-2"` || r.Contents[1].ETag != `"`+md5Of([]byte("plain"))+`"` {
		t.Errorf("S3 listing: %s", data)
	}

	_, data = s.swiftDo("GET", "/etags?format=json", nil)
	var items []map[string]any
	if err := json.Unmarshal(data, &items); err != nil || len(items) != 2 {
		t.Fatalf("Swift JSON listing: %s", data)
	}
	if items[0]["hash"] != "0123456789abcdef0123456789abcdef" || items[0]["s3_etag"] != `"fedcba9876543210fedcba9876543210-2"` ||
		items[0]["bytes"] != float64(8) {
		t.Errorf("Swift JSON listing: %s", data)
	}
	_, data = s.swiftDo("GET", "/etags?format=xml", nil)
	if !strings.Contains(string(data), "<hash>0123456789abcdef0123456789abcdef</hash>") || strings.Contains(string(data), "s3_etag") {
		t.Errorf("Swift XML listing: %s", data)
	}
	_, data = s.swiftDo("GET", "/etags", nil)
	if string(data) != "mpu\nplain\n" {
		t.Errorf("Swift plain listing: %q", data)
	}
}
