package s3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func createUpload(t *testing.T, c *client, bucket, key string, hdr ...string) string {
	t.Helper()
	_, data := c.must(200, "POST", "/"+bucket+"/"+key+"?uploads", nil, hdr...)
	var r initiateMultipartUploadResult
	decodeXML(t, data, &r)
	if r.Bucket != bucket || r.Key != key || !validUploadID(r.UploadID) {
		t.Fatalf("initiate = %s", data)
	}
	return r.UploadID
}

func uploadPart(t *testing.T, c *client, bucket, key, id string, n int, body []byte) string {
	t.Helper()
	resp, _ := c.must(200, "PUT", fmt.Sprintf("/%s/%s?partNumber=%d&uploadId=%s", bucket, key, n, id), body)
	if resp.Header.Get("ETag") != `"`+md5Of(body)+`"` {
		t.Fatalf("part %d ETag %q", n, resp.Header.Get("ETag"))
	}
	return resp.Header.Get("ETag")
}

func completeBody(etags ...string) []byte {
	var b strings.Builder
	b.WriteString("<CompleteMultipartUpload>")
	for i, e := range etags {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, e)
	}
	b.WriteString("</CompleteMultipartUpload>")
	return []byte(b.String())
}

func TestMultipartUploadsAndParts(t *testing.T) {
	t.Parallel()
	s, c := newTestStack(t)
	c.must(200, "PUT", "/mpu", nil)
	id := createUpload(t, c, "mpu", "dir/big.bin", "Content-Type", "application/x-big", "X-Amz-Meta-Origin", "test")
	id2 := createUpload(t, c, "mpu", "dir/big.bin")
	other := createUpload(t, c, "mpu", "other.bin")

	p1 := bytes.Repeat([]byte("a"), 1000)
	p2 := bytes.Repeat([]byte("b"), 10)
	uploadPart(t, c, "mpu", "dir/big.bin", id, 1, p1)
	uploadPart(t, c, "mpu", "dir/big.bin", id, 2, p2)
	uploadPart(t, c, "mpu", "dir/big.bin", id, 10, p2)
	uploadPart(t, c, "mpu", "dir/big.bin", id, 2, p1) // a part uploaded again replaces it

	var parts listPartsResult
	_, data := c.must(200, "GET", "/mpu/dir/big.bin?uploadId="+id, nil)
	decodeXML(t, data, &parts)
	if len(parts.Parts) != 3 || parts.Parts[0].PartNumber != 1 || parts.Parts[1].PartNumber != 2 || parts.Parts[2].PartNumber != 10 ||
		parts.Parts[1].Size != 1000 || parts.Parts[1].ETag != `"`+md5Of(p1)+`"` || parts.IsTruncated || parts.UploadID != id {
		t.Fatalf("parts = %s", data)
	}
	_, data = c.must(200, "GET", "/mpu/dir/big.bin?uploadId="+id+"&max-parts=1&part-number-marker=1", nil)
	parts = listPartsResult{}
	decodeXML(t, data, &parts)
	if len(parts.Parts) != 1 || parts.Parts[0].PartNumber != 2 || !parts.IsTruncated || parts.NextPartNumberMarker != 2 {
		t.Errorf("parts page = %s", data)
	}

	var ups listMultipartUploadsResult
	_, data = c.must(200, "GET", "/mpu?uploads", nil)
	decodeXML(t, data, &ups)
	var got []string
	for _, u := range ups.Uploads {
		got = append(got, u.Key+"="+u.UploadID)
	}
	want := []string{"dir/big.bin=" + min(id, id2), "dir/big.bin=" + max(id, id2), "other.bin=" + other}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("uploads = %v, want %v", got, want)
	}
	_, data = c.must(200, "GET", "/mpu?uploads&delimiter=/", nil)
	ups = listMultipartUploadsResult{}
	decodeXML(t, data, &ups)
	if len(ups.Uploads) != 1 || ups.Uploads[0].Key != "other.bin" || len(ups.CommonPrefixes) != 1 || ups.CommonPrefixes[0].Prefix != "dir/" {
		t.Errorf("uploads by delimiter = %s", data)
	}
	_, data = c.must(200, "GET", "/mpu?uploads&max-uploads=1", nil)
	ups = listMultipartUploadsResult{}
	decodeXML(t, data, &ups)
	if len(ups.Uploads) != 1 || !ups.IsTruncated || ups.NextKeyMarker != "dir/big.bin" {
		t.Errorf("uploads page 1 = %s", data)
	}
	_, data = c.must(200, "GET", "/mpu?uploads&key-marker=dir/big.bin&upload-id-marker="+url.QueryEscape(ups.NextUploadIDMarker), nil)
	ups = listMultipartUploadsResult{}
	decodeXML(t, data, &ups)
	if len(ups.Uploads) != 2 || ups.Uploads[1].Key != "other.bin" {
		t.Errorf("uploads page 2 = %s", data)
	}

	// Refusals.
	c.fails(404, "NoSuchUpload", "PUT", "/mpu/dir/big.bin?partNumber=1&uploadId=Mnope", p1)
	c.fails(404, "NoSuchUpload", "PUT", "/mpu/other.bin?partNumber=1&uploadId="+id, p1)
	c.fails(404, "NoSuchUpload", "GET", "/mpu/dir/big.bin?uploadId=../../x", nil)
	c.fails(400, "InvalidArgument", "PUT", "/mpu/dir/big.bin?partNumber=0&uploadId="+id, p1)
	c.fails(400, "InvalidArgument", "PUT", "/mpu/dir/big.bin?partNumber=1001&uploadId="+id, p1)
	c.fails(404, "NoSuchBucket", "POST", "/nompu/k?uploads", nil)
	c.fails(404, "NoSuchBucket", "GET", "/nompu?uploads", nil)
	c.fails(400, "InvalidPartOrder", "POST", "/mpu/dir/big.bin?uploadId="+id,
		[]byte(`<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>"x"</ETag></Part><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>`))
	c.fails(400, "InvalidPart", "POST", "/mpu/dir/big.bin?uploadId="+id, completeBody(`"`+md5Of(p1)+`"`, `"0123"`))
	c.fails(400, "InvalidPart", "POST", "/mpu/dir/big.bin?uploadId="+id,
		[]byte(`<CompleteMultipartUpload><Part><PartNumber>3</PartNumber><ETag>"`+md5Of(p1)+`"</ETag></Part></CompleteMultipartUpload>`))
	// Part 1 (1000 bytes) may not come before another part: 5 MiB at least.
	c.fails(400, "EntityTooSmall", "POST", "/mpu/dir/big.bin?uploadId="+id, completeBody(`"`+md5Of(p1)+`"`, `"`+md5Of(p1)+`"`))
	c.fails(400, "MalformedXML", "POST", "/mpu/dir/big.bin?uploadId="+id, []byte(`<CompleteMultipartUpload></CompleteMultipartUpload>`))
	c.fails(400, "MalformedXML", "POST", "/mpu/dir/big.bin?uploadId="+id, []byte(`not xml`))

	// Abort takes the parts and the upload.
	c.must(204, "DELETE", "/mpu/dir/big.bin?uploadId="+id, nil)
	c.fails(404, "NoSuchUpload", "GET", "/mpu/dir/big.bin?uploadId="+id, nil)
	c.fails(404, "NoSuchUpload", "DELETE", "/mpu/dir/big.bin?uploadId="+id, nil)
	_, data = s.swiftDo("GET", "/mpu+segments?format=json", nil)
	var left []struct{ Name string }
	_ = json.Unmarshal(data, &left)
	for _, o := range left {
		if strings.Contains(o.Name, id) {
			t.Errorf("left after abort: %s", o.Name)
		}
	}

	// DeleteBucket of an empty bucket takes its segments container too.
	c.must(204, "DELETE", "/mpu/dir/big.bin?uploadId="+id2, nil)
	c.must(204, "DELETE", "/mpu", nil)
	if resp, _ := s.swiftDo("HEAD", "/mpu+segments", nil); resp.StatusCode != 404 {
		t.Errorf("segments container after DeleteBucket: %d", resp.StatusCode)
	}
}
