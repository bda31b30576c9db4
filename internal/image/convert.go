package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image/inspect"
)

// Conversion on import (Glance's image_conversion plugin): when the
// operator names a target format, imported data in another format is
// checked by the inspector and then rewritten with qemu-img. Only data
// the inspector calls safe and whose format matches the declared one is
// ever handed to qemu-img, so a hostile header cannot make it read host
// files.

// converted is the data to store after conversion and its format.
type converted struct {
	src    io.ReadCloser
	format string
	done   func()
}

// convert copies src to scratch space, verifies it, and converts it to
// cfg.ConvertTo when its format differs. It returns src unchanged when
// conversion is off.
func (s *Service) convert(ctx context.Context, img *Image, src io.ReadCloser, maxSize int64) (*converted, error) {
	target := s.cfg.ConvertTo
	if target == "" {
		return &converted{src: src, format: *img.DiskFormat, done: func() {}}, nil
	}
	defer src.Close()
	dir, err := os.MkdirTemp(s.cfg.ConvertDir, "convert-"+img.ID+"-")
	if err != nil {
		return nil, fmt.Errorf("conversion scratch space: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	in := filepath.Join(dir, "in")
	f, err := os.Create(in)
	if err != nil {
		cleanup()
		return nil, err
	}
	n, err := io.Copy(f, io.LimitReader(src, maxSize+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("copy for conversion: %w", err)
	}
	if n > maxSize {
		cleanup()
		return nil, fault.New(fault.TooLarge, "Image exceeds the storage quota")
	}
	fin, err := os.Open(in)
	if err != nil {
		cleanup()
		return nil, err
	}
	res, err := inspect.Detect(fin, n)
	fin.Close()
	if err != nil {
		cleanup()
		return nil, err
	}
	if err := inspect.Verify(*img.DiskFormat, res); err != nil {
		cleanup()
		return nil, fault.Wrap(fault.BadRequest, err, "Image data is not acceptable: %s", err.Error())
	}
	from := res.Format
	out := in
	if from != target {
		out = filepath.Join(dir, "out")
		cctx, cancel := context.WithTimeout(ctx, s.cfg.ConvertTimeout)
		defer cancel()
		cmd := exec.CommandContext(cctx, "qemu-img", "convert", "-f", from, "-O", qemuFormat(target), in, out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			cleanup()
			s.log.Error("qemu-img convert failed", "image", img.ID, "from", from, "to", target, "err", err, "output", string(msg))
			return nil, fault.BadRequestf("Image could not be converted from %s to %s.", from, target)
		}
		os.Remove(in)
	}
	rc, err := os.Open(out)
	if err != nil {
		cleanup()
		return nil, err
	}
	return &converted{src: rc, format: target, done: func() { rc.Close(); cleanup() }}, nil
}

// qemuFormat is qemu-img's name for a Glance disk format.
func qemuFormat(f string) string {
	if f == "vhd" {
		return "vpc"
	}
	return f
}

// defaultConvertTimeout bounds one qemu-img run.
const defaultConvertTimeout = 30 * time.Minute
