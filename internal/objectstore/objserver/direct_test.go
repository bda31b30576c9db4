package objserver

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Large bodies are written with O_DIRECT in page-aligned runs, the first
// page and the tail through the page cache: whatever the lengths of the
// metadata and the data, the file must be whole (the auditor's check of
// every block and the MD5) and read back as sent.
func TestDirectWrittenFilesAreWhole(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	for _, tc := range []struct {
		name string
		size int
		meta int // length of one metadata value
	}{
		{"at the threshold", directMin, 0},
		{"odd length", directMin + 12345, 10},
		{"header past the first page", directMin + blockSize + 1, 6000},
		{"many runs", 5*directBufLen + 77, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.path(n.dev, "AUTH_a", "c", tc.name)
			data := pattern(tc.size)
			data[len(data)/3] ^= 0x5a
			resp := c.must(201, n, "PUT", p, data, "X-Timestamp", ts(1), "Content-Type", "a/b",
				"X-Object-Meta-Pad", strings.Repeat("m", tc.meta))
			if got := resp.Header.Get("Etag"); got != md5hex(data) {
				t.Fatalf("PUT ETag %s, want %s", got, md5hex(data))
			}
			got := c.must(200, n, "GET", p, nil)
			if b := body(got); !bytes.Equal(b, data) || got.Header.Get("X-Object-Meta-Pad") != strings.Repeat("m", tc.meta) {
				t.Fatalf("GET: %d bytes (want the %d sent), metadata of %d bytes", len(b), len(data),
					len(got.Header.Get("X-Object-Meta-Pad")))
			}
			st, err := readDirState(n.s.devs[n.dev].hashDir(c.ring.Partition("AUTH_a", "c", tc.name),
				c.ring.Hash("AUTH_a", "c", tc.name)))
			if err != nil || st.winner == nil {
				t.Fatalf("no data file: %v", err)
			}
			dir := n.s.devs[n.dev].hashDir(c.ring.Partition("AUTH_a", "c", tc.name), c.ring.Hash("AUTH_a", "c", tc.name))
			if _, err := auditFile(bg, dir+"/"+st.winner.name(), kindData, &throttle{rate: 1 << 40, start: time.Now()}); err != nil {
				t.Fatalf("audit: %v", err)
			}
		})
	}
}

// A client that goes away in the middle of a large body leaves no file,
// whatever runs were in flight.
func TestDirectCutUploadLeavesNothing(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "cut")
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(pattern(3*directBufLen + 5))
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	req, _ := http.NewRequest("PUT", n.srv.URL+p, pr)
	req.ContentLength = 2 * directMin
	req.Header.Set("X-Timestamp", ts(1))
	req.Header.Set("Content-Type", "a/b")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			t.Fatalf("cut upload answered %d", resp.StatusCode)
		}
	}
	for range 100 {
		if len(files(n.dir, "tmp", "")) == 0 {
			break
		}
		sleep()
	}
	if tmp := files(n.dir, "tmp", ""); len(tmp) != 0 {
		t.Fatalf("temp file left after a cut upload: %v", tmp)
	}
	c.must(404, n, "GET", p, nil)
}
