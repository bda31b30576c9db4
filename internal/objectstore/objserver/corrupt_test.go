package objserver

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// corrupt flips one byte of the object's only .data file at offset (from
// the start of the data blocks when fromData).
func corrupt(t *testing.T, n *node, at int64) string {
	t.Helper()
	d := files(n.dir, "objects", ".data")
	if len(d) != 1 {
		t.Fatalf("%d .data files, want 1", len(d))
	}
	raw, err := os.ReadFile(d[0])
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += int64(len(raw))
	}
	raw[at] ^= 0x55
	if err := os.WriteFile(d[0], raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return d[0]
}

func quarantined(n *node, hash string) bool {
	_, err := os.Stat(filepath.Join(n.dir, "quarantined", "objects", hash))
	return err == nil
}

func TestCorruptBlockIsNeverServed(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "big")
	hash := c.ring.Hash("AUTH_a", "c", "big")
	data := pattern(3 * runBlocks * blockSize)
	c.must(201, n, "PUT", p, data, "X-Timestamp", ts(1), "Content-Type", "a/b")
	// A byte in the second run of blocks, after the first went out.
	path := corrupt(t, n, int64(len(data)/2))
	resp, got, err := c.request(n, "GET", p, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET status %d", resp.StatusCode)
	}
	if err == nil {
		t.Fatalf("GET of a corrupt object read %d bytes without error", len(got))
	}
	if len(got) >= len(data) || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("GET delivered %d bytes, not a clean prefix of the object", len(got))
	}
	if !quarantined(n, hash) {
		t.Fatal("corrupt object not quarantined")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("corrupt file still in place: %v", err)
	}
	c.must(404, n, "GET", p, nil)
}

func TestCorruptionFoundBeforeAnswerIs404(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	for i, tc := range []struct {
		name string
		size int
		at   int64
		rng  string
	}{
		{"small object", 4096, -10, ""},
		{"header", 4096, 20, ""},
		{"metadata", 4096, headerSize + 3, ""},
		{"range in a later block", 200 << 10, -100, "bytes=-10"},
	} {
		obj := "o" + string(rune('a'+i))
		p := c.path(n.dev, "AUTH_a", "c", obj)
		c.must(201, n, "PUT", p, pattern(tc.size), "X-Timestamp", ts(1), "Content-Type", "a/b")
		corrupt(t, n, tc.at)
		hdr := []string{}
		if tc.rng != "" {
			hdr = []string{"Range", tc.rng}
		}
		c.must(404, n, "GET", p, nil, hdr...)
		if !quarantined(n, c.ring.Hash("AUTH_a", "c", obj)) {
			t.Errorf("%s: not quarantined", tc.name)
		}
		if d := files(n.dir, "objects", ".data"); len(d) != 0 {
			t.Fatalf("%s: .data left: %v", tc.name, d)
		}
	}
}

func TestAuditorQuarantinesCorruptFiles(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	good := c.path(n.dev, "AUTH_a", "c", "good")
	c.must(201, n, "PUT", good, pattern(100<<10), "X-Timestamp", ts(1), "Content-Type", "a/b")
	if err := n.s.AuditOnce(bg); err != nil {
		t.Fatal(err)
	}
	if len(files(n.dir, "quarantined", "")) != 0 {
		t.Fatal("the auditor quarantined a good object")
	}
	for _, tc := range []struct {
		name   string
		mangle func(path string)
	}{
		{"flipped byte", func(path string) {
			raw, _ := os.ReadFile(path)
			raw[len(raw)-30] ^= 1
			os.WriteFile(path, raw, 0o600)
		}},
		{"truncated", func(path string) {
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()-1)
		}},
		{"appended", func(path string) {
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("junk"))
			f.Close()
		}},
	} {
		obj := "bad-" + tc.name
		p := c.path(n.dev, "AUTH_a", "c", obj)
		c.must(201, n, "PUT", p, pattern(100<<10), "X-Timestamp", ts(1), "Content-Type", "a/b")
		part, hash := c.ring.Partition("AUTH_a", "c", obj), c.ring.Hash("AUTH_a", "c", obj)
		dir := (&device{root: n.dir}).hashDir(part, hash)
		d := files(dir, "", ".data")
		tc.mangle(d[0])
		if err := n.s.AuditOnce(bg); err != nil {
			t.Fatal(err)
		}
		if !quarantined(n, hash) {
			t.Errorf("%s: not quarantined by the auditor", tc.name)
		}
		if _, err := os.Stat(d[0]); !os.IsNotExist(err) {
			t.Errorf("%s: file still in place", tc.name)
		}
	}
	c.must(200, n, "GET", good, nil)
}

// forgeBlock changes a byte of the object's data and fixes up that block's
// CRC, so only the MD5 can tell.
func forgeBlock(t *testing.T, n *node, dataOffset int64) {
	t.Helper()
	path := files(n.dir, "objects", ".data")[0]
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	blk := dataOffset / blockSize
	start := h.blocksAt() + blk*(blockSize+crcSize)
	l := blockLen(h.size, blk)
	raw[start+dataOffset%blockSize] ^= 0x01
	binary.LittleEndian.PutUint32(raw[start+l:], crc32.Checksum(raw[start:start+l], castagnoli))
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWholeObjectGetChecksTheMD5(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	// One block: the mismatch is found before anything is sent.
	small := c.path(n.dev, "AUTH_a", "c", "small")
	c.must(201, n, "PUT", small, pattern(5000), "X-Timestamp", ts(1), "Content-Type", "a/b")
	forgeBlock(t, n, 100)
	c.must(404, n, "GET", small, nil)
	if !quarantined(n, c.ring.Hash("AUTH_a", "c", "small")) {
		t.Fatal("small object with a bad MD5 not quarantined")
	}
	// Several blocks: the last one is held back, the connection cut.
	big := c.path(n.dev, "AUTH_a", "c", "big")
	data := pattern(200 << 10)
	c.must(201, n, "PUT", big, data, "X-Timestamp", ts(1), "Content-Type", "a/b")
	forgeBlock(t, n, 10)
	// A range read still serves the untouched blocks.
	if got := body(c.must(206, n, "GET", big, nil, "Range", "bytes=-100")); !bytes.Equal(got, data[len(data)-100:]) {
		t.Fatal("range of good blocks differs")
	}
	resp, got, err := c.request(n, "GET", big, nil)
	if resp.StatusCode != 200 || err == nil || len(got) >= len(data) {
		t.Fatalf("GET of an object with a bad MD5: %d, %d bytes, err %v", resp.StatusCode, len(got), err)
	}
	if !quarantined(n, c.ring.Hash("AUTH_a", "c", "big")) {
		t.Fatal("object with a bad MD5 not quarantined")
	}
}

func TestAuditorChecksTheMD5(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	c.must(201, n, "PUT", c.path(n.dev, "AUTH_a", "c", "o"), pattern(100<<10), "X-Timestamp", ts(1), "Content-Type", "a/b")
	forgeBlock(t, n, 70000)
	if err := n.s.AuditOnce(bg); err != nil {
		t.Fatal(err)
	}
	if !quarantined(n, c.ring.Hash("AUTH_a", "c", "o")) {
		t.Fatal("the auditor missed an MD5 mismatch")
	}
}
