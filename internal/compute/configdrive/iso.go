package configdrive

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf16"
)

// File is one regular file of an Image.
type File struct {
	Path string // slash-separated, relative to the root: "openstack/latest/user_data"
	Data []byte
}

// Image is an ISO 9660 file system with Rock Ridge (the names Linux and
// cloud-init see) and Joliet (the names Windows sees) extensions, as
// genisoimage -J -r makes. The primary tree's own names are upper-case
// d-characters (level 2), for readers that know neither extension.
//
// The image is built in memory: it is meant for config drives and other
// small images.
type Image struct {
	Label   string    // volume identifier, at most 16 characters (Joliet's limit)
	Files   []File    // directories are implied by the paths
	ModTime time.Time // zero: now
}

const (
	sectorSize = 2048
	maxDepth   = 8 // ECMA-119 6.8.2.1; deeper needs Rock Ridge relocation
	maxName    = 64
	rrip       = "RRIP_1991A"
	rripDesc   = "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
	rripSrc    = "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION."
)

// node is a file or directory of the tree being written.
type node struct {
	name     string // the real name ("" for the root)
	isoName  string // primary tree identifier
	dir      bool
	data     []byte
	parent   *node
	children []*node

	// layout
	number         int // path table number (directories, from 1)
	pri, jol       extent
	dataSector     uint32
	dataSectorsLen uint32
}

type extent struct{ sector, size uint32 }

// WriteTo writes the image to w.
func (im *Image) WriteTo(w io.Writer) (int64, error) {
	b, err := im.bytes()
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

func (im *Image) bytes() ([]byte, error) {
	if len(im.Label) > 16 {
		return nil, fmt.Errorf("iso9660: label %q is longer than 16 characters", im.Label)
	}
	root, err := buildTree(im.Files)
	if err != nil {
		return nil, err
	}
	mod := im.ModTime
	if mod.IsZero() {
		mod = time.Now()
	}
	mod = mod.UTC()

	dirs := directories(root) // path table order
	for i, d := range dirs {
		d.number = i + 1
	}

	// Layout: 16 system sectors, PVD, Joliet SVD, terminator, the root's
	// continuation area (the Rock Ridge ER entry), four path tables, the
	// primary directories, the Joliet directories, the file data.
	const ceSector = 19
	next := uint32(20)
	// Path table sizes do not depend on the extents, not yet known.
	ptPri := pathTable(dirs, false, binaryLE)
	ptJol := pathTable(dirs, true, binaryLE)
	locL, locM := next, next+sectors(len(ptPri))
	next = locM + sectors(len(ptPri))
	locJL, locJM := next, next+sectors(len(ptJol))
	next = locJM + sectors(len(ptJol))
	for _, d := range dirs {
		d.pri = extent{next, dirSize(d, false)}
		next += d.pri.size / sectorSize
	}
	for _, d := range dirs {
		d.jol = extent{next, dirSize(d, true)}
		next += d.jol.size / sectorSize
	}
	var files []*node
	walk(root, func(n *node) {
		if !n.dir {
			files = append(files, n)
		}
	})
	for _, f := range files {
		if len(f.data) > 0 {
			f.dataSector = next
			next += sectors(len(f.data))
		}
	}
	total := next

	img := make([]byte, int(total)*sectorSize)
	sec := func(n uint32) []byte { return img[int(n)*sectorSize : int(n+1)*sectorSize] }

	writeVolumeDescriptor(sec(16), false, im.Label, total, len(ptPri), locL, locM, root, mod)
	writeVolumeDescriptor(sec(17), true, im.Label, total, len(ptJol), locJL, locJM, root, mod)
	term := sec(18)
	term[0] = 255
	copy(term[1:6], "CD001")
	term[6] = 1
	er := erEntry()
	copy(sec(ceSector), er)

	// The path tables again, now that the extents are known.
	copy(img[int(locL)*sectorSize:], pathTable(dirs, false, binaryLE))
	copy(img[int(locM)*sectorSize:], pathTable(dirs, false, binaryBE))
	copy(img[int(locJL)*sectorSize:], pathTable(dirs, true, binaryLE))
	copy(img[int(locJM)*sectorSize:], pathTable(dirs, true, binaryBE))

	for _, d := range dirs {
		for _, joliet := range []bool{false, true} {
			e := d.pri
			if joliet {
				e = d.jol
			}
			out := img[int(e.sector)*sectorSize : int(e.sector+e.size/sectorSize)*sectorSize]
			off := 0
			for _, r := range dirRecords(d, joliet, mod, ceSector, len(er)) {
				if off%sectorSize+len(r) > sectorSize {
					off += sectorSize - off%sectorSize
				}
				copy(out[off:], r)
				off += len(r)
			}
		}
	}
	for _, f := range files {
		copy(img[int(f.dataSector)*sectorSize:], f.data)
	}
	return img, nil
}

// buildTree makes the directory tree of files, checking the paths.
func buildTree(files []File) (*node, error) {
	root := &node{dir: true}
	for _, f := range files {
		parts := strings.Split(f.Path, "/")
		if len(parts) > maxDepth {
			return nil, fmt.Errorf("iso9660: %s is more than %d levels deep", f.Path, maxDepth)
		}
		cur := root
		for i, p := range parts {
			if p == "" || p == "." || p == ".." || len(utf16.Encode([]rune(p))) > maxName {
				return nil, fmt.Errorf("iso9660: bad path %q", f.Path)
			}
			last := i == len(parts)-1
			var found *node
			for _, c := range cur.children {
				if c.name == p {
					found = c
				}
			}
			switch {
			case found == nil:
				found = &node{name: p, dir: !last, parent: cur}
				if last {
					found.data = f.Data
				}
				cur.children = append(cur.children, found)
			case last || !found.dir:
				return nil, fmt.Errorf("iso9660: %s given twice or as both file and directory", f.Path)
			}
			cur = found
		}
	}
	var err error
	walk(root, func(n *node) {
		if n.dir && err == nil {
			err = assignISONames(n)
		}
	})
	return root, err
}

// assignISONames gives d's children unique primary tree identifiers and
// sorts them by identifier, as ECMA-119 9.3 orders directory records.
func assignISONames(d *node) error {
	used := map[string]bool{}
	for _, c := range d.children {
		for i := 0; ; i++ {
			name := isoName(c.name, c.dir, i)
			if !used[name] {
				used[name] = true
				c.isoName = name
				break
			}
			if i > 999 {
				return fmt.Errorf("iso9660: cannot name %s uniquely", c.name)
			}
		}
	}
	sort.Slice(d.children, func(i, j int) bool { return d.children[i].isoName < d.children[j].isoName })
	return nil
}

// isoName maps name to d-characters: "meta_data.json" -> "META_DATA.JSON;1",
// "2012-08-10" -> "2012_08_10". A non-zero try makes a different name.
func isoName(name string, dir bool, try int) string {
	clean := func(s string, max int) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
		s = b.String()
		if len(s) > max {
			s = s[:max]
		}
		return s
	}
	suffix := ""
	if try > 0 {
		suffix = fmt.Sprintf("%d", try)
	}
	if dir {
		base := clean(name, 31-len(suffix))
		return base + suffix
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		base, ext = name[:i], name[i+1:]
	}
	ext = clean(ext, 8)
	base = clean(base, 30-1-len(ext)-len(suffix))
	return base + suffix + "." + ext + ";1"
}

func walk(n *node, fn func(*node)) {
	fn(n)
	for _, c := range n.children {
		walk(c, fn)
	}
}

// directories lists the directories breadth first, children in
// identifier order: the path table order (ECMA-119 9.4).
func directories(root *node) []*node {
	out := []*node{root}
	for i := 0; i < len(out); i++ {
		for _, c := range out[i].children {
			if c.dir {
				out = append(out, c)
			}
		}
	}
	return out
}

func sectors(n int) uint32 { return uint32((n + sectorSize - 1) / sectorSize) }

// identifier is a node's file identifier in one of the trees.
func identifier(n *node, joliet bool) []byte {
	if !joliet {
		return []byte(n.isoName)
	}
	// Joliet names carry no ";1" (as genisoimage writes them).
	return ucs2(n.name)
}

func ucs2(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c>>8), byte(c)
	}
	return b
}

type byteOrder int

const (
	binaryLE byteOrder = iota
	binaryBE
)

// pathTable is one path table (ECMA-119 9.4) of the primary or Joliet tree.
func pathTable(dirs []*node, joliet bool, order byteOrder) []byte {
	var b bytes.Buffer
	for _, d := range dirs {
		id := []byte{0}
		parent := 1
		if d.parent != nil {
			id = identifier(d, joliet)
			parent = d.parent.number
		}
		loc := d.pri.sector
		if joliet {
			loc = d.jol.sector
		}
		rec := make([]byte, 8+len(id)+len(id)%2)
		rec[0] = byte(len(id))
		if order == binaryLE {
			le32(rec[2:], loc)
			rec[6], rec[7] = byte(parent), byte(parent>>8)
		} else {
			be32(rec[2:], loc)
			rec[6], rec[7] = byte(parent>>8), byte(parent)
		}
		copy(rec[8:], id)
		b.Write(rec)
	}
	return b.Bytes()
}

// dirSize is the size of d's extent: its records, none straddling a
// sector, rounded up to whole sectors. Extents are not known yet, but the
// records' lengths do not depend on them.
func dirSize(d *node, joliet bool) uint32 {
	off := 0
	for _, r := range dirRecords(d, joliet, time.Time{}, 0, 0) {
		if off%sectorSize+len(r) > sectorSize {
			off += sectorSize - off%sectorSize
		}
		off += len(r)
	}
	return sectors(off) * sectorSize
}

// dirRecords are the directory records of d: ".", "..", then the children.
func dirRecords(d *node, joliet bool, mod time.Time, ceSector uint32, ceLen int) [][]byte {
	ext := func(n *node) (uint32, uint32) {
		switch {
		case !n.dir:
			return n.dataSector, uint32(len(n.data))
		case joliet:
			return n.jol.sector, n.jol.size
		default:
			return n.pri.sector, n.pri.size
		}
	}
	parent := d.parent
	if parent == nil {
		parent = d
	}
	var recs [][]byte
	var su []byte
	if !joliet {
		if d.parent == nil {
			// SUSP: SP first in the root's "." record; the ER entry that
			// names Rock Ridge lives in a continuation area (CE).
			su = append(su, 'S', 'P', 7, 1, 0xbe, 0xef, 0)
			su = append(su, pxEntry(d)...)
			su = append(su, ceEntry(ceSector, ceLen)...)
		} else {
			su = pxEntry(d)
		}
	}
	loc, size := ext(d)
	recs = append(recs, dirRecord([]byte{0}, loc, size, true, mod, su))
	if !joliet {
		su = pxEntry(parent)
	}
	loc, size = ext(parent)
	recs = append(recs, dirRecord([]byte{1}, loc, size, true, mod, su))
	for _, c := range d.children {
		if !joliet {
			su = append(pxEntry(c), nmEntry(c.name)...)
		}
		loc, size = ext(c)
		recs = append(recs, dirRecord(identifier(c, joliet), loc, size, c.dir, mod, su))
	}
	return recs
}

// dirRecord is one directory record (ECMA-119 9.1) with its System Use
// area su.
func dirRecord(id []byte, loc, size uint32, dir bool, mod time.Time, su []byte) []byte {
	n := 33 + len(id)
	if len(id)%2 == 0 {
		n++
	}
	suOff := n
	n += len(su)
	if n%2 == 1 {
		n++
	}
	r := make([]byte, n)
	r[0] = byte(n)
	both32(r[2:], loc)
	both32(r[10:], size)
	recordTime(r[18:], mod)
	if dir {
		r[25] = 2
	}
	both16(r[28:], 1)
	r[32] = byte(len(id))
	copy(r[33:], id)
	copy(r[suOff:], su)
	return r
}

// pxEntry is the Rock Ridge PX entry (POSIX mode, links, owner) of n.
func pxEntry(n *node) []byte {
	mode, links := uint32(0o100444), uint32(1)
	if n.dir {
		mode, links = 0o40555, 2
		for _, c := range n.children {
			if c.dir {
				links++
			}
		}
	}
	e := make([]byte, 36)
	copy(e, "PX")
	e[2], e[3] = 36, 1
	both32(e[4:], mode)
	both32(e[12:], links)
	// uid and gid stay 0
	return e
}

// nmEntry is the Rock Ridge NM entry (the real name).
func nmEntry(name string) []byte {
	e := []byte{'N', 'M', byte(5 + len(name)), 1, 0}
	return append(e, name...)
}

func ceEntry(sector uint32, length int) []byte {
	e := make([]byte, 28)
	copy(e, "CE")
	e[2], e[3] = 28, 1
	both32(e[4:], sector)
	both32(e[12:], 0)
	both32(e[20:], uint32(length))
	return e
}

// erEntry is the SUSP ER entry saying the tree uses Rock Ridge (RRIP 1.09).
func erEntry() []byte {
	e := []byte{'E', 'R', 0, 1, byte(len(rrip)), byte(len(rripDesc)), byte(len(rripSrc)), 1}
	e = append(e, rrip...)
	e = append(e, rripDesc...)
	e = append(e, rripSrc...)
	e[2] = byte(len(e))
	return e
}

// writeVolumeDescriptor fills the primary (or Joliet supplementary)
// volume descriptor (ECMA-119 8.4, 8.5).
func writeVolumeDescriptor(s []byte, joliet bool, label string, total uint32, ptSize int, locL, locM uint32, root *node, mod time.Time) {
	str := func(off, length int, v string) {
		if joliet {
			b := ucs2(v)
			for i := 0; i < length; i += 2 {
				s[off+i], s[off+i+1] = 0, ' '
			}
			copy(s[off:off+length], b)
			return
		}
		copy(s[off:off+length], fmt.Sprintf("%-*s", length, v))
	}
	s[0] = 1
	if joliet {
		s[0] = 2
		copy(s[88:], "%/E") // UCS-2 level 3
	}
	copy(s[1:6], "CD001")
	s[6] = 1
	str(8, 32, "LINUX")
	str(40, 32, label)
	both32(s[80:], total)
	both16(s[120:], 1)
	both16(s[124:], 1)
	both16(s[128:], sectorSize)
	both32(s[132:], uint32(ptSize))
	le32(s[140:], locL)
	be32(s[148:], locM)
	e := root.pri
	if joliet {
		e = root.jol
	}
	copy(s[156:190], dirRecord([]byte{0}, e.sector, e.size, true, mod, nil))
	str(190, 128, "")
	str(318, 128, "")
	str(446, 128, "")
	str(574, 128, "NIMBUS")
	str(702, 37, "")
	str(739, 37, "")
	str(776, 37, "")
	stamp := []byte(mod.Format("20060102150405") + "00\x00")
	copy(s[813:], stamp)
	copy(s[830:], stamp)
	copy(s[847:], "0000000000000000\x00")
	copy(s[864:], stamp)
	s[881] = 1
}

func recordTime(b []byte, t time.Time) {
	if t.IsZero() {
		return
	}
	b[0] = byte(t.Year() - 1900)
	b[1] = byte(t.Month())
	b[2] = byte(t.Day())
	b[3] = byte(t.Hour())
	b[4] = byte(t.Minute())
	b[5] = byte(t.Second())
	b[6] = 0 // UTC
}

func le32(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
func be32(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v) }

// both32 and both16 write ECMA-119's both-byte-order numbers (7.3.3, 7.2.3).
func both32(b []byte, v uint32) { le32(b, v); be32(b[4:], v) }
func both16(b []byte, v uint16) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>8), byte(v)
}
