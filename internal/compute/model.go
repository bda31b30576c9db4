package compute

import "time"

// Flavor is a hardware template for servers.
type Flavor struct {
	ID          int64 // internal; FlavorID is what the API shows
	FlavorID    string
	Name        string
	MemoryMB    int64
	VCPUs       int64
	RootGB      int64
	EphemeralGB int64
	SwapMB      int64
	RXTXFactor  float64
	VCPUWeight  *int64
	Disabled    bool
	IsPublic    bool
	Description *string
	ExtraSpecs  map[string]string
	CreatedAt   time.Time
	UpdatedAt   time.Time // zero if never updated
}

// FlavorSpec is what creating a flavor takes.
type FlavorSpec struct {
	FlavorID    string // "" = a new UUID
	Name        string
	MemoryMB    int64
	VCPUs       int64
	RootGB      int64
	EphemeralGB int64
	SwapMB      int64
	RXTXFactor  float64 // 0 = 1.0
	IsPublic    bool
	Description *string
	ExtraSpecs  map[string]string // set with the flavor, for seeding
}

// FlavorQuery selects and orders flavors for a list.
type FlavorQuery struct {
	// IsPublic filters on public flavors (true, which also shows private
	// ones the caller's project may use), private ones (false) or none
	// (nil). Only admins choose; others always get true.
	IsPublic *bool
	MinRAM   *int64
	MinDisk  *int64
	SortKey  string // one of flavorSortKeys; "" = flavorid
	SortDir  string // "asc" (default) or "desc"
	Limit    int    // 0 = the configured maximum
	Marker   string // flavor id of the last flavor of the previous page
}

// KeyPair is a user's SSH key or X.509 certificate for servers.
type KeyPair struct {
	ID          int64
	UserID      string
	Name        string
	Type        string // "ssh" or "x509"
	Fingerprint string
	PublicKey   string
	CreatedAt   time.Time
	// PrivateKey is set only in the answer to a generating create; it is
	// never stored.
	PrivateKey string
}

// Key pair types.
const (
	KeyTypeSSH  = "ssh"
	KeyTypeX509 = "x509"
)

// KeyPairSpec is what creating a key pair takes.
type KeyPairSpec struct {
	UserID    string // "" = the caller
	Name      string
	Type      string // "" = ssh
	PublicKey *string
	// Generate makes a new key when PublicKey is nil; false (from 2.92)
	// makes a missing PublicKey an error.
	Generate bool
}

// QuotaLimit is one resource's limit and what is in use.
type QuotaLimit struct {
	Limit int64 // -1 = unlimited
	InUse int64
}
