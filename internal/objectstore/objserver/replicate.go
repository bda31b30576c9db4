package objserver

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// The replication protocol between object servers (push model), all under
// the REPLICATE verb:
//
//	REPLICATE /object/{dev}/{part}[/{sfx}-{sfx}...]
//	    200, JSON {suffix: hash} of the partition, the named suffixes
//	    recomputed first (Swift's REPLICATE).
//	REPLICATE /object/{dev}/{part}/{sfx}-{sfx}...?list=1
//	    200, JSON {hash: [file names]} of the files that count in those
//	    suffixes (recomputed first).
//	REPLICATE /object/{dev}/{part}/{hash}/{file}   body: the file's bytes
//	    201 stored; 409 (X-Backend-Timestamp) the receiver has as new;
//	    422 the bytes fail their checks; 507 no space.
//
// A sender compares suffix hashes, lists the suffixes that differ and
// pushes whole files (.data, .ts, .meta) byte for byte, so timestamps and
// metadata travel unchanged and no container update is made. The receiver
// checks every block and the MD5 as the file streams in.

func (s *Server) serveReplicate(w http.ResponseWriter, r *http.Request, d *device, bp swift.BackendPath) {
	if bp.Container != "" {
		if bp.Object != "" {
			swift.WriteError(w, r, http.StatusBadRequest, "Invalid path: "+r.URL.Path)
			return
		}
		s.receive(w, r, d, bp.Partition, bp.Account, bp.Container)
		return
	}
	var suffixes []string
	if bp.Account != "" {
		suffixes = strings.Split(bp.Account, "-")
		for _, sfx := range suffixes {
			if !validSuffix(sfx) {
				swift.WriteError(w, r, http.StatusBadRequest, "Invalid suffix: "+sfx)
				return
			}
		}
	}
	hashes, err := s.suffixHashes(d, bp.Partition, suffixes)
	if err != nil {
		s.fail(w, r, "suffix hashes", err)
		return
	}
	var body any = hashes
	if r.URL.Query().Has("list") {
		listing := map[string][]string{}
		for _, sfx := range suffixes {
			names, err := listDir(d.suffixDir(bp.Partition, sfx))
			if err != nil {
				s.fail(w, r, "list suffix", err)
				return
			}
			for _, h := range names {
				if !validHash(h) {
					continue
				}
				st, err := readDirState(d.hashDir(bp.Partition, h))
				if err != nil {
					s.fail(w, r, "list hash directory", err)
					return
				}
				if kept := st.keptNames(); len(kept) > 0 {
					listing[h] = kept
				}
			}
		}
		body = listing
	}
	b, err := json.Marshal(body)
	if err != nil {
		s.fail(w, r, "encode replication answer", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// receive stores a file pushed by a peer's replicator.
func (s *Server) receive(w http.ResponseWriter, r *http.Request, d *device, part int, hash, file string) {
	rg := s.ring.Ring()
	if p, err := rg.PartitionOfHash(hash); err != nil || !validHash(hash) || p != part {
		swift.WriteError(w, r, http.StatusBadRequest, "Invalid hash: "+hash)
		return
	}
	ref, ok := parseFileName(file)
	if !ok {
		swift.WriteError(w, r, http.StatusBadRequest, "Invalid file name: "+file)
		return
	}
	if r.ContentLength < 0 {
		swift.WriteError(w, r, http.StatusLengthRequired, "Missing Content-Length header.")
		return
	}
	st, err := readDirState(d.hashDir(part, hash))
	if err != nil {
		s.fail(w, r, "list object directory", err)
		return
	}
	if err := checkNewer(&st, ref); err != nil {
		conflict(w, r, err.(*staleError).ts)
		return
	}
	tmp, meta, err := receiveFile(d, r.Body, r.ContentLength, ref.kind())
	if err != nil {
		switch {
		case isCorrupt(err):
			s.log.Warn("refused a replicated file", "device", d.name, "hash", hash, "file", file, "err", err)
			swift.WriteError(w, r, http.StatusUnprocessableEntity, err.Error())
		case isNoSpace(err):
			swift.WriteStatus(w, r, http.StatusInsufficientStorage)
		case errors.Is(err, io.ErrUnexpectedEOF):
			swift.WriteStatus(w, r, 499)
		default:
			s.fail(w, r, "receive replicated file", err)
		}
		return
	}
	if a, c, o, ok := splitName(meta["name"]); !ok || rg.Hash(a, c, o) != hash {
		os.Remove(tmp)
		swift.WriteError(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("name %q is not of hash %s", meta["name"], hash))
		return
	}
	if v := meta["X-Delete-At"]; v != "" && ref.ext != ".ts" {
		if at, err := strconv.ParseInt(v, 10, 64); err == nil && at > 0 {
			if err := s.addExpiring(d, at, part, hash); err != nil {
				os.Remove(tmp)
				s.fail(w, r, "index expiring object", err)
				return
			}
		}
	}
	if err := s.commit(d, part, hash, tmp, ref); err != nil {
		var stale *staleError
		if errors.As(err, &stale) {
			conflict(w, r, stale.ts)
			return
		}
		s.fail(w, r, "commit replicated file", err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// receiveFile copies a pushed file of length n into tmp/, checking it the
// way a reader would: header, metadata, each block and the MD5.
func receiveFile(d *device, body io.Reader, n int64, kind byte) (path string, meta map[string]string, err error) {
	f, err := os.CreateTemp(d.tmp(), ".r-")
	if err != nil {
		return "", nil, fmt.Errorf("create temp file: %w", err)
	}
	bp := getBuf()
	defer putBuf(bp)
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	buf := *bp
	if _, err := io.ReadFull(body, buf[:headerSize]); err != nil {
		return "", nil, err
	}
	hdr, err := parseHeader(buf[:headerSize])
	if err != nil {
		return "", nil, err
	}
	if hdr.kind != kind {
		return "", nil, corruptf("kind %q in a %q file", hdr.kind, kind)
	}
	if hdr.fileLen() != n {
		return "", nil, corruptf("%d bytes sent for a file of %d", n, hdr.fileLen())
	}
	metaBytes := make([]byte, hdr.metaLen)
	if _, err := io.ReadFull(body, metaBytes); err != nil {
		return "", nil, err
	}
	if err := checkHeader(buf[:headerSize], metaBytes); err != nil {
		return "", nil, err
	}
	if meta, err = decodeMeta(metaBytes); err != nil {
		return "", nil, err
	}
	pos := headerSize
	if pos+len(metaBytes) > len(buf) {
		if _, err := f.Write(buf[:pos]); err != nil {
			return "", nil, err
		}
		if _, err := f.Write(metaBytes); err != nil {
			return "", nil, err
		}
		pos = 0
	} else {
		pos += copy(buf[pos:], metaBytes)
	}
	sum := md5.New()
	blocks := blockCount(hdr.size)
	for i := int64(0); i < blocks; i++ {
		bl := int(blockLen(hdr.size, i))
		if pos+bl+crcSize > len(buf) {
			if _, err := f.Write(buf[:pos]); err != nil {
				return "", nil, err
			}
			pos = 0
		}
		b := buf[pos : pos+bl+crcSize]
		if _, err := io.ReadFull(body, b); err != nil {
			return "", nil, err
		}
		if crc32.Checksum(b[:bl], castagnoli) != binary.LittleEndian.Uint32(b[bl:]) {
			return "", nil, corruptf("checksum mismatch in block %d", i)
		}
		sum.Write(b[:bl])
		pos += bl + crcSize
	}
	if kind == kindData {
		var got [16]byte
		if sum.Sum(got[:0]); got != hdr.md5 {
			return "", nil, corruptf("MD5 mismatch")
		}
	}
	if _, err := f.Write(buf[:pos]); err != nil {
		return "", nil, err
	}
	if err := fdatasync(f); err != nil {
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		return "", nil, err
	}
	return f.Name(), meta, nil
}

// suffixList joins suffixes for a REPLICATE path.
func suffixList(sfx []string) string {
	s := slices.Clone(sfx)
	slices.Sort(s)
	return strings.Join(s, "-")
}
