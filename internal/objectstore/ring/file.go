package ring

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Ring and builder files are gzip streams of three lines:
//
//	MAGIC FORMAT-VERSION
//	JSON body (one line: encoding/json never writes a raw newline)
//	sha256 HEX-OF-THE-JSON-LINE
//
// The checksum catches damage gzip's own CRC cannot (a file rewritten by
// hand, a truncated copy) and the format version lets a newer Nimbus
// refuse to misread an older ring and the other way round.
const (
	ringMagic     = "NIMBUSRING"
	builderMagic  = "NIMBUSBUILDER"
	formatVersion = 1
	// maxFileSize bounds what a reader inflates: a part power 24 builder
	// with 10 replicas is well below it.
	maxFileSize = 1 << 30
)

// ringFile is the JSON body of a ring file.
type ringFile struct {
	Version    int64        `json:"version"`
	PartPower  uint         `json:"part_power"`
	Replicas   int          `json:"replicas"`
	HashPrefix string       `json:"hash_prefix"`
	HashSuffix string       `json:"hash_suffix"`
	Devices    []deviceJSON `json:"devices"`
	// Assignment holds, per replica, the device id of every partition as
	// big-endian uint16s (base64 in JSON); 65535 is no device.
	Assignment []ids `json:"assignment"`
}

type deviceJSON struct {
	ID     int     `json:"id"`
	Region int     `json:"region"`
	Zone   int     `json:"zone"`
	IP     string  `json:"ip"`
	Port   int     `json:"port"`
	Device string  `json:"device"`
	Weight float64 `json:"weight"`
	Meta   string  `json:"meta,omitempty"`
	// Removing is set in builders only: the device is being drained.
	Removing bool `json:"removing,omitempty"`
}

func toJSON(d Device) deviceJSON {
	return deviceJSON{ID: d.ID, Region: d.Region, Zone: d.Zone, IP: d.IP, Port: d.Port, Device: d.Name, Weight: d.Weight, Meta: d.Meta}
}

func (d deviceJSON) device() Device {
	return Device{ID: d.ID, Region: d.Region, Zone: d.Zone, IP: d.IP, Port: d.Port, Name: d.Device, Weight: d.Weight, Meta: d.Meta}
}

// ids is a row of device ids, encoded compactly.
type ids []uint16

func (v ids) MarshalJSON() ([]byte, error) {
	b := make([]byte, 2*len(v))
	for i, id := range v {
		binary.BigEndian.PutUint16(b[2*i:], id)
	}
	return json.Marshal(b)
}

func (v *ids) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	if len(b)%2 != 0 {
		return errors.New("odd length of a device id row")
	}
	*v = make(ids, len(b)/2)
	for i := range *v {
		(*v)[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return nil
}

// Load reads and verifies a ring file.
func Load(path string) (*Ring, error) {
	body, err := readFile(path, ringMagic)
	if err != nil {
		return nil, err
	}
	var f ringFile
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("ring %s: %w", path, err)
	}
	devs := make([]Device, len(f.Devices))
	for i, d := range f.Devices {
		devs[i] = d.device()
	}
	assign := make([][]uint16, len(f.Assignment))
	for i, row := range f.Assignment {
		assign[i] = row
	}
	r, err := newRing(f.Version, f.PartPower, f.Replicas, f.HashPrefix, f.HashSuffix, devs, assign)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// encode frames a JSON body under magic.
func encode(magic string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprintf(zw, "%s %d\n", magic, formatVersion)
	zw.Write(body)
	fmt.Fprintf(zw, "\nsha256 %s\n", hex.EncodeToString(sum[:]))
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readFile reads a file written by encode and returns its checked body.
func readFile(path, magic string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := decode(f, magic)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return body, nil
}

func decode(r io.Reader, magic string) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a %s file: %w", what(magic), err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("corrupt %s file: %w", what(magic), err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s file larger than %d bytes", what(magic), maxFileSize)
	}
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) != 4 || len(lines[3]) != 0 {
		return nil, fmt.Errorf("corrupt %s file: want 3 lines", what(magic))
	}
	header, body, check := string(lines[0]), lines[1], string(lines[2])
	m, v, ok := strings.Cut(header, " ")
	if !ok || m != magic {
		return nil, fmt.Errorf("not a %s file (header %.40q)", what(magic), header)
	}
	if n, err := strconv.Atoi(v); err != nil || n != formatVersion {
		return nil, fmt.Errorf("%s file format version %s is not supported (this nimbus reads version %d)", what(magic), v, formatVersion)
	}
	sum := sha256.Sum256(body)
	if check != "sha256 "+hex.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("corrupt %s file: checksum mismatch", what(magic))
	}
	return body, nil
}

func what(magic string) string {
	if magic == builderMagic {
		return "ring builder"
	}
	return "ring"
}

// writeAtomic replaces path with data so that readers see the old or the
// new file, never a part, even across a crash: temp file, fsync, rename,
// fsync of the directory.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
