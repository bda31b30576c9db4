package image

import "time"

// Image statuses, as Glance moves through them.
const (
	StatusQueued      = "queued"
	StatusSaving      = "saving"
	StatusUploading   = "uploading" // staged for import
	StatusImporting   = "importing"
	StatusActive      = "active"
	StatusKilled      = "killed"
	StatusDeleted     = "deleted"
	StatusDeactivated = "deactivated"
)

// Visibilities.
const (
	Public    = "public"
	Private   = "private"
	Shared    = "shared"
	Community = "community"
)

// Member statuses.
const (
	MemberPending  = "pending"
	MemberAccepted = "accepted"
	MemberRejected = "rejected"
)

// Image is an image record; pointer fields are null until known.
type Image struct {
	ID, Status, Visibility, Owner     string
	Name, DiskFormat, ContainerFormat *string
	Protected, Hidden                 bool
	Size, VirtualSize                 *int64
	Checksum, HashAlgo, HashValue     *string
	MinDisk, MinRAM                   int
	Store, Location                   string     // the first store holding the data
	Copies                            []Location // further stores holding it (copy-image)
	Properties                        map[string]string
	Tags                              []string
	CreatedAt, UpdatedAt              time.Time
}

// Location is where one store keeps an image's data.
type Location struct {
	Store, Location string
}

// Member is a project an image is shared with.
type Member struct {
	ImageID, MemberID, Status string
	CreatedAt, UpdatedAt      time.Time
}

// Glance's accepted formats (its default [image_format] options).
var (
	DiskFormats      = []string{"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"}
	ContainerFormats = []string{"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"}
)
