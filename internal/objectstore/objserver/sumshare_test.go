package objserver

import (
	"bytes"
	"crypto/md5"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Writers of one group, some with the same bytes, some with a byte or a
// length of their own, one slower than the others, one joining late: each
// must end with the MD5 of its own bytes, and the group with the last.
func TestSharedMD5IsEachWritersOwn(t *testing.T) {
	const blocks = 3*sumWindow + 5
	base := pattern(blocks*blockSize - 1000)
	variant := func(mut func([]byte) []byte) []byte { return mut(bytes.Clone(base)) }
	inputs := map[string][]byte{
		"same 1":         base,
		"same 2":         base,
		"slow":           base,
		"first byte":     variant(func(b []byte) []byte { b[0] ^= 1; return b }),
		"middle block":   variant(func(b []byte) []byte { b[70*blockSize+3] ^= 0x80; return b }),
		"last byte":      variant(func(b []byte) []byte { b[len(b)-1]++; return b }),
		"one byte short": base[:len(base)-1],
		"one block less": base[:len(base)-blockSize],
		"two blocks":     base[:2*blockSize],
		"empty":          nil,
	}
	var share sumShare
	const key = "/a/c/o\x001"
	writers := map[string]*sumWriter{}
	for name := range inputs {
		writers[name] = share.join(key)
	}
	run := func(name string, w *sumWriter, input []byte) {
		defer w.leave()
		data := input
		for i := 0; len(data) > 0; i++ {
			n := min(blockSize, len(data))
			w.write(data[:n])
			data = data[n:]
			if name == "slow" && i%50 == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if got, want := w.sum(), md5.Sum(input); got != want {
			t.Errorf("%s: md5 %x, want %x", name, got, want)
		}
	}
	var wg sync.WaitGroup
	for name, w := range writers {
		wg.Go(func() { run(name, w, inputs[name]) })
	}
	// Once blocks have left the window, a writer of the same key gets a
	// group of its own.
	for {
		g := writers["same 1"].g
		g.mu.Lock()
		evicted := g.evicted
		g.mu.Unlock()
		if evicted {
			break
		}
		time.Sleep(time.Millisecond)
	}
	late := share.join(key)
	if late.g == writers["same 1"].g {
		t.Error("a late writer joined a group whose first blocks are gone")
	}
	wg.Go(func() { run("late", late, base) })
	wg.Wait()
	share.mu.Lock()
	defer share.mu.Unlock()
	if len(share.groups) != 0 {
		t.Errorf("%d groups left after every writer left", len(share.groups))
	}
}

// Writers of the same bytes hash them once, between them.
func TestSameBytesHashedOnce(t *testing.T) {
	data := pattern(10*blockSize + 3)
	var share sumShare
	var wg sync.WaitGroup
	for range 3 {
		w := share.join("k")
		wg.Go(func() {
			defer w.leave()
			for b := data; len(b) > 0; b = b[min(blockSize, len(b)):] {
				w.write(b[:min(blockSize, len(b))])
			}
			if got := w.sum(); got != md5.Sum(data) || w.diverged {
				t.Errorf("md5 %x, diverged %v; want %x, false", got, w.diverged, md5.Sum(data))
			}
			w.g.mu.Lock()
			if w.g.hashed != 11 {
				t.Errorf("group hashed %d blocks, want 11", w.g.hashed)
			}
			w.g.mu.Unlock()
		})
	}
	wg.Wait()
}

// One server with three devices takes the three replicas of a large PUT
// at once, as `nimbus up` does; one replica's body differs in one byte.
// Each stores, and answers, the MD5 of what it received.
func TestReplicasOnOneServerKeepTheirOwnETag(t *testing.T) {
	srv, rg := newNode(t, 3)
	data := pattern(5*blockSize + 17)
	odd := bytes.Clone(data)
	odd[3*blockSize+1] ^= 0xff
	part := rg.Partition("AUTH_a", "c", "o")
	t0 := ts(1)
	var wg sync.WaitGroup
	for i, d := range rg.Primaries(part) {
		body := data
		if i == 1 {
			body = odd
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/object/" + d.Name + "/" + strconv.Itoa(part) + "/AUTH_a/c/o"
			req, _ := http.NewRequest("PUT", srv.URL+path, bytes.NewReader(body))
			req.Header.Set("X-Timestamp", t0)
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			want := md5.Sum(body)
			if resp.StatusCode != 201 || resp.Header.Get("Etag") != hexMD5(want) {
				t.Errorf("PUT to %s: %d, etag %s, want 201 and %x", d.Name, resp.StatusCode, resp.Header.Get("Etag"), want)
			}
			resp, err = http.Get(srv.URL + path)
			if err != nil {
				t.Error(err)
				return
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, body) || resp.Header.Get("Etag") != hexMD5(want) {
				t.Errorf("GET from %s: %d bytes, etag %s, want the %d bytes sent and %x", d.Name, len(got),
					resp.Header.Get("Etag"), len(body), want)
			}
		}()
	}
	wg.Wait()
}
