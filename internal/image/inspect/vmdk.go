package inspect

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

const (
	vmdkMagic     = "KDMV"
	vmdkCOWDMagic = "COWD"
	// vmdkMaxDesc bounds the embedded descriptor we keep, as Glance does.
	vmdkMaxDesc = 1<<20 - 512
	vmdkGDAtEnd = ^uint64(0)
)

// vmdkState holds the embedded descriptor of a sparse VMDK, asked for once
// the sparse header has arrived.
type vmdkState struct {
	desc   *region
	unsafe string
}

func (s *vmdkState) held() int {
	if s.desc == nil {
		return 0
	}
	return cap(s.desc.buf)
}

func (s *vmdkState) start(i *Inspector, h []byte) {
	le := binary.LittleEndian
	sec, num := le.Uint64(h[28:]), le.Uint64(h[36:])
	switch {
	case sec == 0 || num == 0:
		s.unsafe = "vmdk has no embedded descriptor"
	case sec > maxVirtualSize/512 || num > vmdkMaxDesc/512:
		s.unsafe = "vmdk descriptor out of range"
	default:
		s.desc = i.capture(int64(sec)*512, int(num)*512, nil)
	}
}

func (i *Inspector) vmdkResult(h []byte) (finding, bool) {
	switch {
	case hasPrefix(h, vmdkMagic):
		return i.vmdkSparse(h), true
	case hasPrefix(h, vmdkCOWDMagic):
		return finding{format: "vmdk", unsafe: "vmdk COWD sparse extents are not supported"}, true
	case vmdkText(h):
		return vmdkDescriptor(h, false), true
	}
	return finding{}, false
}

// vmdkText reports whether h begins as QEMU's probe sees a text descriptor:
// comments and blank lines, then "version=N".
func vmdkText(h []byte) bool {
	for len(h) > 0 {
		line, rest, _ := bytes.Cut(h, []byte("\n"))
		t := bytes.TrimSpace(line)
		switch {
		case len(t) == 0 || t[0] == '#':
			h = rest
		default:
			return bytes.HasPrefix(t, []byte("version="))
		}
	}
	return false
}

func (i *Inspector) vmdkSparse(h []byte) finding {
	f := finding{format: "vmdk"}
	if len(h) < 512 {
		f.unsafe = truncated
		return f
	}
	le := binary.LittleEndian
	if v := le.Uint32(h[4:]); v < 1 || v > 3 {
		f.unsafe = fmt.Sprintf("vmdk version %d is not supported", v)
		return f
	}
	s := &i.vmdk
	switch {
	case s.unsafe != "":
		f.unsafe = s.unsafe
		return f
	case s.desc == nil || !s.desc.complete():
		f.unsafe = truncated
		return f
	}
	f = vmdkDescriptor(s.desc.buf, true)
	if f.unsafe != "" {
		return f
	}
	capacity := le.Uint64(h[12:])
	if capacity > maxVirtualSize/512 {
		f.unsafe = "virtual size out of range"
		return f
	}
	f.virtual = int64(capacity) * 512
	if le.Uint64(h[56:]) == vmdkGDAtEnd {
		f.unsafe = i.vmdkFooter(h)
	}
	return f
}

// vmdkFooter checks the footer a streamOptimized image ends with: a footer
// marker, a copy of the header, and an end-of-stream marker.
func (i *Inspector) vmdkFooter(h []byte) string {
	if i.n < tailSize+512 {
		return "vmdk footer is missing"
	}
	t := i.lastBytes(tailSize)
	marker, foot, eos := t[:512], t[512:1024], t[1024:]
	le := binary.LittleEndian
	isMarker := func(b []byte, typ uint32) bool {
		return le.Uint32(b[8:]) == 0 && le.Uint32(b[12:]) == typ && allZero(b[16:])
	}
	switch {
	case !isMarker(marker, 3):
		return "vmdk footer marker is invalid"
	case !isMarker(eos, 0) || le.Uint64(eos) != 0:
		return "vmdk end-of-stream marker is invalid"
	case !hasPrefix(foot, vmdkMagic),
		le.Uint32(foot[4:]) != le.Uint32(h[4:]),
		le.Uint64(foot[28:]) != le.Uint64(h[28:]),
		le.Uint64(foot[36:]) != le.Uint64(h[36:]):
		return "vmdk footer does not match its header"
	case le.Uint64(foot[56:]) == vmdkGDAtEnd:
		return "vmdk footer points at another footer"
	}
	return ""
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// vmdkDescriptor checks descriptor text. embedded says it sits inside a
// sparse extent, whose single extent must then be that file itself; a text
// descriptor on its own always names other files.
func vmdkDescriptor(b []byte, embedded bool) finding {
	f := finding{format: "vmdk"}
	if k := bytes.IndexByte(b, 0); k >= 0 {
		b = b[:k]
	}
	var createType string
	var extents []string
	var sectors uint64
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		switch strings.ToUpper(fields[0]) {
		case "RW", "RDONLY", "NOACCESS":
			extents = append(extents, line)
			if len(fields) > 1 {
				n, err := strconv.ParseUint(fields[1], 10, 64)
				if err != nil || n > maxVirtualSize/512 || sectors+n > maxVirtualSize/512 {
					f.unsafe = "invalid vmdk descriptor"
					return f
				}
				sectors += n
			}
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			f.unsafe = "invalid vmdk descriptor"
			return f
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(key) {
		case "createtype":
			createType = val
		case "parentfilenamehint":
			f.unsafe = "vmdk has a parent disk"
			return f
		}
	}
	f.virtual = int64(sectors) * 512
	switch strings.ToLower(createType) {
	case "monolithicsparse", "streamoptimized":
	case "":
		f.unsafe = "vmdk descriptor has no create type"
		return f
	default:
		f.unsafe = fmt.Sprintf("vmdk create type %s is not allowed", safeText(createType))
		return f
	}
	if len(extents) == 0 {
		f.unsafe = "vmdk descriptor has no extents"
		return f
	}
	if !embedded || len(extents) != 1 || !selfExtent(extents[0]) {
		f.unsafe = "vmdk extent refers outside the file"
	}
	return f
}

// selfExtent reports whether an extent line can only mean the sparse file
// that holds the descriptor: a SPARSE extent with a bare file name.
func selfExtent(line string) bool {
	fields := strings.Fields(line)
	if len(fields) < 4 || !strings.EqualFold(fields[2], "SPARSE") {
		return false
	}
	name := strings.Join(fields[3:], " ")
	if len(name) < 3 || name[0] != '"' || name[len(name)-1] != '"' {
		return false
	}
	name = name[1 : len(name)-1]
	return name != "" && !strings.ContainsAny(name, `/\:"`) && name != "." && name != ".."
}

// safeText keeps a header string fit to show a user.
func safeText(s string) string {
	const limit = 64
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= limit {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
