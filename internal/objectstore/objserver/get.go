package objserver

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// getFirstRead is what a GET reads with the header: metadata and a whole
// first block, so a small object takes one read.
const getFirstRead = 8<<10 + blockSize + crcSize

// md5VerifyMax is the largest object whose MD5 a whole-object GET checks
// before the last block leaves. The block checksums (CRC32C, ~17 GB/s
// here) already stop every bad byte; the MD5 (~400 MB/s a core) is a
// second check that would cap large reads far below disk speed, so large
// objects leave it to the auditor, which checks every object's MD5.
const md5VerifyMax = 8 << 20

// keepCacheSize is the largest object whose pages a read leaves in the
// page cache (Swift's keep_cache_size). A larger one is dropped from it
// behind the read, as Swift's object server does: read once, it would
// push hot small objects out; and reading through a few recycled pages is
// faster than filling fresh ones (in a VM whose host takes freed memory
// back, several times faster).
const keepCacheSize = 5 << 20

// get answers GET and HEAD. Every block is checked before its bytes leave;
// a bad one quarantines the object and cuts the connection (or answers
// 404 if nothing was sent yet), so a client never gets bad bytes and the
// proxy sees a failed read it can resume elsewhere.
func (s *Server) get(w http.ResponseWriter, r *http.Request, q *objRequest) {
	first := 4096
	if r.Method == http.MethodGet {
		first = getFirstRead
	}
	o, _, err := s.open(q, first)
	if err != nil {
		var miss *missingError
		if errors.As(err, &miss) {
			notFound(w, r, miss.ts)
			return
		}
		s.fail(w, r, "open object", err)
		return
	}
	defer o.close()
	if o.expired(s.requestNow(r)) && !isReplication(r) {
		notFound(w, r, o.ts)
		return
	}
	h := w.Header()
	setObjectHeaders(h, o)
	etag := o.etag()
	if status := conditional(r, etag, lastModified(o.ts)); status != 0 {
		h["Content-Length"] = []string{"0"}
		w.WriteHeader(status)
		return
	}
	size := o.size()
	if r.Method == http.MethodHead {
		h["Content-Length"] = []string{strconv.FormatInt(size, 10)}
		w.WriteHeader(http.StatusOK)
		return
	}

	ranges, use := requestRanges(r.Header.Get("Range"), size)
	switch {
	case use && len(ranges) == 0:
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		swift.WriteStatus(w, r, http.StatusRequestedRangeNotSatisfiable)
	case use && len(ranges) == 1:
		rg := ranges[0]
		h["Content-Range"] = []string{contentRange(rg, size)}
		h["Content-Length"] = []string{strconv.FormatInt(rg.end-rg.start, 10)}
		s.stream(w, q, o, []byteRange{rg}, false, func(int) { w.WriteHeader(http.StatusPartialContent) })
	case use:
		s.multiRange(w, q, o, ranges)
	default:
		h["Content-Length"] = []string{strconv.FormatInt(size, 10)}
		s.stream(w, q, o, []byteRange{{0, size}}, size <= md5VerifyMax, func(int) { w.WriteHeader(http.StatusOK) })
	}
}

// multiRange sends several ranges as multipart/byteranges, as swob does.
func (s *Server) multiRange(w http.ResponseWriter, q *objRequest, o *object, ranges []byteRange) {
	h := w.Header()
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	boundary := hex.EncodeToString(rnd[:])
	ctype := h.Get("Content-Type")
	size := o.size()
	parts := make([]string, len(ranges))
	total := int64(0)
	for i, rg := range ranges {
		parts[i] = "--" + boundary + "\r\nContent-Type: " + ctype + "\r\nContent-Range: " + contentRange(rg, size) + "\r\n\r\n"
		total += int64(len(parts[i])) + rg.end - rg.start + 2
	}
	closing := "--" + boundary + "--"
	total += int64(len(closing))
	h["Content-Type"] = []string{"multipart/byteranges;boundary=" + boundary}
	h["Content-Length"] = []string{strconv.FormatInt(total, 10)}
	sent := false
	ok := s.stream(w, q, o, ranges, false, func(i int) {
		if !sent {
			sent = true
			w.WriteHeader(http.StatusPartialContent)
		}
		if i > 0 {
			_, _ = io.WriteString(w, "\r\n")
		}
		_, _ = io.WriteString(w, parts[i])
	})
	if ok {
		_, _ = io.WriteString(w, "\r\n"+closing)
	}
}

// stream writes the ranges of o, calling start(i) once range i's first
// block checked out (the first call sends the status). whole asks for the
// MD5 check too (ranges must then be the whole object): the last block is
// held back until the MD5 of all the data matches the stored one. It
// reports whether everything went out.
func (s *Server) stream(w http.ResponseWriter, q *objRequest, o *object, ranges []byteRange, whole bool, start func(int)) bool {
	started := false
	var sum hash.Hash
	if whole {
		sum = md5.New()
	}
	var err error
	for i, rg := range ranges {
		if rg.end <= rg.start {
			if whole && md5.Sum(nil) != o.data.hdr.md5 {
				err = corruptf("%s: empty object with a non-empty MD5", o.data.path)
				break
			}
			start(i)
			started = true
			continue
		}
		firstBlock, last := rg.start/blockSize, (rg.end-1)/blockSize
		// A long range goes in runs of blocks, one read and one write
		// each; a short one block by block from the first read's cache.
		long := last-firstBlock >= 4
		for b := firstBlock; b <= last; {
			var data []byte
			if long {
				data, err = o.data.run(b, last)
			} else {
				data, err = o.data.block(b, last)
			}
			if err != nil {
				break
			}
			next := b + blockCount(int64(len(data)))
			if whole {
				sum.Write(data)
				if next > last {
					var got [16]byte
					if sum.Sum(got[:0]); got != o.data.hdr.md5 {
						err = corruptf("%s: MD5 mismatch", o.data.path)
						break
					}
				}
			}
			lo := max(rg.start-b*blockSize, 0)
			hi := min(rg.end-b*blockSize, int64(len(data)))
			if b == firstBlock {
				start(i)
				started = true
			}
			if _, werr := w.Write(data[lo:hi]); werr != nil {
				return false // the client went away; nothing to repair
			}
			if long && o.size() > keepCacheSize {
				o.data.dropBehind(next)
			}
			b = next
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		return true
	}
	if isCorrupt(err) {
		s.quarantine(q.d, q.part, q.hash, o.data.path, err)
	} else {
		s.log.Error("read object", "path", o.data.path, "err", err)
	}
	if !started {
		// Nothing sent yet: answer as for a missing object so the
		// proxy asks another node.
		for k := range w.Header() {
			delete(w.Header(), k)
		}
		if isCorrupt(err) {
			swift.WriteStatus(w, nil, http.StatusNotFound)
		} else {
			swift.WriteStatus(w, nil, http.StatusInternalServerError)
		}
		return false
	}
	// Cut the connection: the short body tells the reader the bytes it
	// was promised never came.
	panic(http.ErrAbortHandler)
}

// notFound answers 404, with the tombstone's time when there is one; an
// If-Match: * of a missing object is 412 (swob's rule).
func notFound(w http.ResponseWriter, r *http.Request, ts swift.Timestamp) {
	if !ts.IsZero() {
		w.Header().Set("X-Backend-Timestamp", ts.Internal())
	}
	if v := r.Header.Get("If-Match"); v != "" && parseMatch(v).star {
		swift.WriteStatus(w, r, http.StatusPreconditionFailed)
		return
	}
	swift.WriteStatus(w, r, http.StatusNotFound)
}

// setObjectHeaders sets the headers of a GET or HEAD answer but its
// length.
func setObjectHeaders(h http.Header, o *object) {
	for k, v := range o.meta {
		switch k {
		case "name", "Content-Type-Timestamp", "Content-Length", "Etag", "Transfer-Encoding", "Connection":
			continue
		}
		h[k] = []string{v}
	}
	ct := o.meta["Content-Type"]
	if ct == "" {
		ct = "application/octet-stream"
	}
	h["Content-Type"] = []string{ct}
	h["Etag"] = []string{o.etag()}
	h["Last-Modified"] = []string{o.ts.HTTPDate()}
	h["X-Timestamp"] = []string{o.ts.Normal()}
	h["X-Backend-Timestamp"] = []string{o.ts.Internal()}
	h["X-Backend-Data-Timestamp"] = []string{o.dataTS.Internal()}
	h["Accept-Ranges"] = []string{"bytes"}
}

// lastModified is Last-Modified in seconds: X-Timestamp rounded up.
func lastModified(ts swift.Timestamp) int64 {
	return (ts.Ticks + 99999) / 100000
}
