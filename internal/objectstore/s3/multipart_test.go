package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
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

func TestMultipartComplete(t *testing.T) {
	t.Parallel()
	s, c := newTestStack(t)
	c.must(200, "PUT", "/mpu", nil)
	id := createUpload(t, c, "mpu", "video.bin", "Content-Type", "video/x-test", "X-Amz-Meta-Take", "two")
	p1 := bytes.Repeat([]byte("1"), minPartSize)
	p2 := bytes.Repeat([]byte("2"), minPartSize+7)
	p3 := []byte("the end")
	e1 := uploadPart(t, c, "mpu", "video.bin", id, 1, p1)
	uploadPart(t, c, "mpu", "video.bin", id, 2, []byte("left out"))
	e3 := uploadPart(t, c, "mpu", "video.bin", id, 3, p2)
	e4 := uploadPart(t, c, "mpu", "video.bin", id, 4, p3)
	body := []byte(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<Part><PartNumber>1</PartNumber><ETag>` + e1 + `</ETag></Part>` +
		`<Part><PartNumber>3</PartNumber><ETag>` + e3 + `</ETag></Part>` +
		`<Part><PartNumber>4</PartNumber><ETag>` + e4 + `</ETag></Part></CompleteMultipartUpload>`)
	_, data := c.must(200, "POST", "/mpu/video.bin?uploadId="+id, body)
	var done completeMultipartUploadResult
	decodeXML(t, data, &done)
	sums := md5.New()
	for _, p := range [][]byte{p1, p2, p3} {
		s := md5.Sum(p)
		sums.Write(s[:])
	}
	wantETag := `"` + hex.EncodeToString(sums.Sum(nil)) + `-3"`
	if done.ETag != wantETag || done.Bucket != "mpu" || done.Key != "video.bin" || !strings.HasSuffix(done.Location, "/mpu/video.bin") {
		t.Fatalf("complete = %s, want ETag %s", data, wantETag)
	}
	// Completing again (a client retrying) answers the same.
	_, data = c.must(200, "POST", "/mpu/video.bin?uploadId="+id, body)
	done = completeMultipartUploadResult{}
	decodeXML(t, data, &done)
	if done.ETag != wantETag {
		t.Errorf("second complete = %s", data)
	}

	whole := append(append(append([]byte(nil), p1...), p2...), p3...)
	resp, got := c.must(200, "GET", "/mpu/video.bin", nil)
	if !bytes.Equal(got, whole) || resp.Header.Get("ETag") != wantETag || resp.Header.Get("Content-Type") != "video/x-test" ||
		resp.Header.Get("X-Amz-Meta-Take") != "two" {
		t.Errorf("GET: %d bytes, %v", len(got), resp.Header)
	}
	resp, _ = c.must(200, "HEAD", "/mpu/video.bin", nil)
	if resp.Header.Get("ETag") != wantETag || resp.Header.Get("Content-Length") != strconv.Itoa(len(whole)) {
		t.Errorf("HEAD: %v", resp.Header)
	}
	// A range across two parts, and conditions on the S3 ETag.
	_, got = c.must(206, "GET", "/mpu/video.bin", nil, "Range", fmt.Sprintf("bytes=%d-%d", minPartSize-2, minPartSize+1))
	if string(got) != "1122" {
		t.Errorf("range across parts = %q", got)
	}
	c.must(304, "GET", "/mpu/video.bin", nil, "If-None-Match", wantETag)
	c.must(200, "HEAD", "/mpu/video.bin", nil, "If-Match", wantETag)

	var list listBucketResult
	_, data = c.must(200, "GET", "/mpu?list-type=2", nil)
	decodeXML(t, data, &list)
	if len(list.Contents) != 1 || list.Contents[0].ETag != wantETag || list.Contents[0].Size != int64(len(whole)) {
		t.Errorf("listing: %s", data)
	}
	// The upload is closed; the part left out went, the others are the
	// object's segments.
	c.fails(404, "NoSuchUpload", "GET", "/mpu/video.bin?uploadId="+id, nil)
	_, data = s.swiftDo("GET", "/mpu+segments?format=json", nil)
	var segs []struct{ Name string }
	_ = json.Unmarshal(data, &segs)
	if len(segs) != 3 || !strings.HasSuffix(segs[0].Name, "/1") {
		t.Errorf("segments after complete: %s", data)
	}

	// Writing over it drops its segments; so does deleting an object.
	c.must(200, "PUT", "/mpu/video.bin", []byte("small now"))
	_, data = s.swiftDo("GET", "/mpu+segments?format=json", nil)
	if segs = nil; json.Unmarshal(data, &segs) == nil && len(segs) != 0 {
		t.Errorf("segments after overwrite: %s", data)
	}
	id = createUpload(t, c, "mpu", "again.bin")
	e1 = uploadPart(t, c, "mpu", "again.bin", id, 1, p3)
	c.must(200, "POST", "/mpu/again.bin?uploadId="+id, completeBody(e1))
	c.must(204, "DELETE", "/mpu/again.bin", nil)
	_, data = s.swiftDo("GET", "/mpu+segments?format=json", nil)
	if segs = nil; json.Unmarshal(data, &segs) == nil && len(segs) != 0 {
		t.Errorf("segments after DeleteObject: %s", data)
	}
	c.fails(404, "NoSuchKey", "GET", "/mpu/again.bin", nil)
}

func TestCopy(t *testing.T) {
	t.Parallel()
	_, c := newTestStack(t)
	c.must(200, "PUT", "/src", nil)
	c.must(200, "PUT", "/dst", nil)
	body := []byte("copy me please")
	resp, _ := c.must(200, "PUT", "/src/orig.txt", body, "Content-Type", "text/plain", "X-Amz-Meta-From", "orig")
	etag := resp.Header.Get("ETag")

	_, data := c.must(200, "PUT", "/dst/copy.txt", nil, "X-Amz-Copy-Source", "/src/orig.txt")
	var res copyObjectResult
	decodeXML(t, data, &res)
	if res.ETag != etag || !strings.HasSuffix(res.LastModified, ".000Z") {
		t.Errorf("copy result %s", data)
	}
	resp, got := c.must(200, "GET", "/dst/copy.txt", nil)
	if string(got) != string(body) || resp.Header.Get("X-Amz-Meta-From") != "orig" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("copy = %q %v", got, resp.Header)
	}
	// REPLACE takes the request's metadata instead.
	c.must(200, "PUT", "/dst/replaced.txt", nil, "X-Amz-Copy-Source", "src/orig.txt", "X-Amz-Metadata-Directive", "REPLACE",
		"X-Amz-Meta-New", "yes", "Content-Type", "text/x-new")
	resp, _ = c.must(200, "HEAD", "/dst/replaced.txt", nil)
	if resp.Header.Get("X-Amz-Meta-New") != "yes" || resp.Header.Get("X-Amz-Meta-From") != "" || resp.Header.Get("Content-Type") != "text/x-new" {
		t.Errorf("REPLACE copy: %v", resp.Header)
	}
	c.fails(400, "InvalidRequest", "PUT", "/src/orig.txt", nil, "X-Amz-Copy-Source", "src/orig.txt")
	c.must(200, "PUT", "/src/orig.txt", nil, "X-Amz-Copy-Source", "src/orig.txt", "X-Amz-Metadata-Directive", "REPLACE")
	c.fails(404, "NoSuchKey", "PUT", "/dst/x", nil, "X-Amz-Copy-Source", "src/missing")
	c.fails(404, "NoSuchBucket", "PUT", "/dst/x", nil, "X-Amz-Copy-Source", "nosrc/missing")
	c.fails(404, "NoSuchBucket", "PUT", "/nodst/x", nil, "X-Amz-Copy-Source", "src/orig.txt")
	c.fails(412, "PreconditionFailed", "PUT", "/dst/x", nil, "X-Amz-Copy-Source", "src/orig.txt", "X-Amz-Copy-Source-If-Match", `"nope"`)
	c.must(200, "PUT", "/dst/x", nil, "X-Amz-Copy-Source", "src/orig.txt", "X-Amz-Copy-Source-If-None-Match", `"nope"`)
	c.fails(400, "InvalidArgument", "PUT", "/dst/x", nil, "X-Amz-Copy-Source", "src/orig.txt", "X-Amz-Metadata-Directive", "MERGE")

	// Copying a multipart object makes a plain one with its own ETag.
	id := createUpload(t, c, "src", "multi")
	e1 := uploadPart(t, c, "src", "multi", id, 1, bytes.Repeat([]byte("m"), minPartSize))
	e2 := uploadPart(t, c, "src", "multi", id, 2, []byte("tail"))
	c.must(200, "POST", "/src/multi?uploadId="+id, completeBody(e1, e2))
	_, data = c.must(200, "PUT", "/dst/flat", nil, "X-Amz-Copy-Source", "src/multi")
	whole := append(bytes.Repeat([]byte("m"), minPartSize), "tail"...)
	res = copyObjectResult{}
	decodeXML(t, data, &res)
	resp, got = c.must(200, "GET", "/dst/flat", nil)
	if !bytes.Equal(got, whole) || resp.Header.Get("ETag") != `"`+md5Of(whole)+`"` || res.ETag != resp.Header.Get("ETag") {
		t.Errorf("copy of a multipart object: %d bytes, ETag %s, result %s", len(got), resp.Header.Get("ETag"), data)
	}

	// UploadPartCopy, whole and a range.
	id = createUpload(t, c, "dst", "assembled")
	_, data = c.must(200, "PUT", "/dst/assembled?partNumber=1&uploadId="+id, nil, "X-Amz-Copy-Source", "src/multi")
	var pr copyPartResult
	decodeXML(t, data, &pr)
	_, data = c.must(200, "PUT", "/dst/assembled?partNumber=2&uploadId="+id, nil, "X-Amz-Copy-Source", "src/orig.txt",
		"X-Amz-Copy-Source-Range", "bytes=5-6")
	var pr2 copyPartResult
	decodeXML(t, data, &pr2)
	if pr2.ETag != `"`+md5Of([]byte("me"))+`"` {
		t.Errorf("ranged part copy: %s", data)
	}
	c.fails(416, "InvalidRange", "PUT", "/dst/assembled?partNumber=3&uploadId="+id, nil, "X-Amz-Copy-Source", "src/orig.txt",
		"X-Amz-Copy-Source-Range", "bytes=5-600")
	c.must(200, "POST", "/dst/assembled?uploadId="+id, completeBody(pr.ETag, pr2.ETag))
	if _, got := c.must(200, "GET", "/dst/assembled", nil); !bytes.Equal(got, append(append([]byte(nil), whole...), "me"...)) {
		t.Errorf("assembled = %d bytes", len(got))
	}
}
