// Package store defines where the image service keeps image data: a small
// streaming interface that every backend (file, swift, ...) implements and
// that storetest checks. Backends never hold a whole image in memory.
package store

import (
	"context"
	"io"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Store keeps image data. Locations are opaque strings the store gives back
// ("file:///path" for the file store); callers keep them and hand them back.
type Store interface {
	// Put streams r into a new object for image id, which must be a
	// lowercase UUID (fault.BadRequest otherwise). It stops with a
	// fault.TooLarge error (ErrQuota) as soon as more than maxSize bytes
	// arrive (maxSize <= 0: no cap), with a fault.TooLarge error (ErrFull)
	// when the media is full, and with fault.Conflict if id already has
	// data. Errors from r and ctx are wrapped so errors.Is finds them. On
	// any error or ctx cancel it leaves nothing behind. The data is durable
	// when Put returns.
	Put(ctx context.Context, id string, r io.Reader, maxSize int64) (Object, error)
	// Open returns a reader of [offset, offset+length) (length < 0: to the
	// end; a range past the end is cut short). fault.NotFound if the
	// object is gone, fault.BadRequest for a location this store did not
	// make or a negative offset.
	Open(ctx context.Context, location string, offset, length int64) (io.ReadCloser, error)
	// Delete removes the object at location; a missing object is not an
	// error, so Delete may be retried.
	Delete(ctx context.Context, location string) error
	// Name is the backend's name as in glance's stores list ("file").
	Name() string
}

// Object is data that a Store holds.
type Object struct {
	Location string
	Size     int64
}

// Capacity is the optional ability to tell how many bytes a store may
// still take.
type Capacity interface {
	Free() (int64, error)
}

// Messages of the TooLarge faults, in glance's wording.
const (
	MsgQuota = "Image exceeds the storage quota"
	MsgFull  = "Image storage media is full"
)

// ErrQuota is the fault for data past maxSize; cause is logged only.
func ErrQuota(maxSize int64) *fault.Error {
	return &fault.Error{Kind: fault.TooLarge, Msg: MsgQuota, Err: errSizeCap(maxSize)}
}

// ErrFull is the fault for a full disk or quota of the backing media.
func ErrFull(cause error) *fault.Error {
	return fault.Wrap(fault.TooLarge, cause, MsgFull)
}

type errSizeCap int64

func (e errSizeCap) Error() string {
	return "more than " + strconv.FormatInt(int64(e), 10) + " bytes"
}

// ValidID reports whether id is a canonical lowercase UUID, the only image
// ids a store accepts; anything else could name a path or a key prefix.
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// CheckID returns a BadRequest fault unless id is a ValidID.
func CheckID(id string) error {
	if !ValidID(id) {
		return fault.BadRequestf("Invalid image id.")
	}
	return nil
}

// Limit returns a reader of r that fails with ErrQuota as soon as more than
// maxSize bytes arrive, without handing on any byte past maxSize. maxSize
// <= 0 means no cap and returns r itself.
func Limit(r io.Reader, maxSize int64) io.Reader {
	if maxSize <= 0 {
		return r
	}
	return &capReader{r: r, max: maxSize, left: maxSize}
}

type capReader struct {
	r         io.Reader
	max, left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	// Ask for at most one byte past the cap: seeing it proves the image is
	// too large without reading on.
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		c.left = -1
		return 0, ErrQuota(c.max)
	}
	c.left -= int64(n)
	return n, err
}
