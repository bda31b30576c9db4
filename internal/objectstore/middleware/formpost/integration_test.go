package formpost_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/formpost"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/quota"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

const tok = proxytest.Alice

// tempestForm builds the form of Tempest's test_object_formpost.
func tempestForm(key, path string, expires int64, file string) (string, string) {
	const boundary = "--boundary--"
	fields := []string{"redirect", "", "max_file_size", "104857600", "max_file_count", "10",
		"expires", strconv.FormatInt(expires, 10)}
	m := hmac.New(sha1.New, []byte(key))
	m.Write([]byte(path + "\n\n104857600\n10\n" + strconv.FormatInt(expires, 10)))
	fields = append(fields, "signature", hex.EncodeToString(m.Sum(nil)))
	var data []string
	for i := 0; i < len(fields); i += 2 {
		data = append(data, "--"+boundary, `Content-Disposition: form-data; name="`+fields[i]+`"`, "", fields[i+1])
	}
	data = append(data, "--"+boundary, `Content-Disposition: form-data; name="file1"; filename="testfile"`,
		"Content-Type: application/octet-stream", "", file, "--"+boundary+"--", "")
	return strings.Join(data, "\r\n"), "multipart/form-data; boundary=" + boundary
}

func TestFormPostThroughTheCore(t *testing.T) {
	c := proxytest.Start(t, proxytest.Options{
		Front: func(auth http.Handler) http.Handler { return formpost.New(auth) },
		Middle: func(core http.Handler) http.Handler {
			return quota.NewContainer(core)
		},
	})
	acct := "/v1/" + c.Account(tok)
	c.Must(http.StatusNoContent, "POST", acct, tok, nil, "X-Account-Meta-Temp-URL-Key", "Meta")
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	exp := time.Now().Unix() + 600

	body, ctype := tempestForm("Meta", acct+"/c/ObjectTemp", exp, "hello world")
	resp, got := c.Do("POST", acct+"/c/ObjectTemp", tok, []byte(body), "Content-Type", ctype)
	if resp.StatusCode != 201 || string(got) != "201 Created" {
		t.Fatalf("POST = %d %q", resp.StatusCode, got)
	}
	// What Tempest's assertHeaders(resp, "Object", "POST") looks for.
	for _, h := range []string{"Content-Length", "Content-Type", "X-Trans-Id", "Date"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s in %v", h, resp.Header)
		}
	}
	if data := c.Must(http.StatusOK, "GET", acct+"/c/ObjectTemptestfile", tok, nil); string(data) != "hello world" {
		t.Errorf("uploaded = %q", data)
	}

	// Tempest's negative tests, anonymous here.
	body, ctype = tempestForm("Wrong", acct+"/c/ObjectTemp", exp, "x")
	resp, got = c.Do("POST", acct+"/c/ObjectTemp", "", []byte(body), "Content-Type", ctype)
	if resp.StatusCode != 401 || !strings.Contains(string(got), "FormPost: Invalid Signature") {
		t.Errorf("wrong key = %d %q", resp.StatusCode, got)
	}
	body, ctype = tempestForm("Meta", acct+"/c/ObjectTemp", time.Now().Unix()-1, "x")
	resp, got = c.Do("POST", acct+"/c/ObjectTemp", "", []byte(body), "Content-Type", ctype)
	if resp.StatusCode != 401 || !strings.Contains(string(got), "FormPost: Form Expired") {
		t.Errorf("expired = %d %q", resp.StatusCode, got)
	}

	// A form cannot get past the container's quota; the core's answer is
	// shown.
	c.Must(http.StatusNoContent, "POST", acct+"/c", tok, nil, "X-Container-Meta-Quota-Bytes", "5")
	body, ctype = tempestForm("Meta", acct+"/c/big", exp, "more than five bytes")
	resp, got = c.Do("POST", acct+"/c/big", "", []byte(body), "Content-Type", ctype)
	if resp.StatusCode != 413 || string(got) != "Upload exceeds quota." {
		t.Errorf("over quota = %d %q", resp.StatusCode, got)
	}
	c.Must(http.StatusNotFound, "GET", acct+"/c/bigtestfile", tok, nil)
}

func TestFileTooBigStoresNothing(t *testing.T) {
	c := proxytest.Start(t, proxytest.Options{
		Front: func(auth http.Handler) http.Handler { return formpost.New(auth) },
	})
	acct := "/v1/" + c.Account(tok)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil, "X-Container-Meta-Temp-URL-Key", "ck")
	exp := strconv.FormatInt(time.Now().Unix()+600, 10)
	path := acct + "/c/"
	m := hmac.New(sha1.New, []byte("ck"))
	m.Write([]byte(path + "\n\n10\n1\n" + exp))
	body := "--b\r\nContent-Disposition: form-data; name=\"max_file_size\"\r\n\r\n10\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"max_file_count\"\r\n\r\n1\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"expires\"\r\n\r\n" + exp + "\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"signature\"\r\n\r\n" + hex.EncodeToString(m.Sum(nil)) + "\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big\"\r\n\r\n" + strings.Repeat("x", 200<<10) + "\r\n--b--\r\n"
	resp, got := c.Do("POST", path, "", []byte(body), "Content-Type", "multipart/form-data; boundary=b")
	if resp.StatusCode != 400 || string(got) != "FormPost: max_file_size exceeded" {
		t.Fatalf("POST = %d %q", resp.StatusCode, got)
	}
	c.Must(http.StatusNotFound, "GET", acct+"/c/big", tok, nil)
}
