package inspect

import "github.com/nimbus-cloud/nimbus/internal/fault"

// Verify checks a finished upload against its declared Glance disk_format.
// The errors are BadRequest faults whose messages are safe to show. An image
// declared raw (or ami, ari, aki) whose bytes are some other format fails:
// a raw disk QEMU would probe as qcow2 is exactly the attack this stops.
func Verify(declared string, r Result) error {
	want := declared
	switch declared {
	case "raw", "ami", "ari", "aki":
		want = "raw"
	case "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso":
	case "ploop":
		return fault.BadRequestf("Image disk_format %s is not supported.", declared)
	default:
		return fault.BadRequestf("Image disk_format %q is not known.", safeText(declared))
	}
	if r.Format != want {
		return fault.BadRequestf("Image format %s does not match the declared disk_format %s.", r.Format, declared)
	}
	if r.Unsafe != "" {
		return fault.BadRequestf("Image is not safe to use as %s: %s.", declared, r.Unsafe)
	}
	return nil
}
