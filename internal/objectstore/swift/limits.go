package swift

// The limits of the API, Swift's defaults (swift.conf [swift-constraints]);
// /info publishes them.
const (
	MaxFileSize            = 5 << 30 // largest single object; bigger ones are segmented
	MaxMetaNameLength      = 128
	MaxMetaValueLength     = 256
	MaxMetaCount           = 90
	MaxMetaOverallSize     = 4096
	MaxHeaderSize          = 8192
	MaxObjectNameLength    = 1024
	MaxContainerNameLength = 256
	MaxAccountNameLength   = 256
	ContainerListingLimit  = 10000
	AccountListingLimit    = 10000
	MaxManifestSegments    = 1000
	MaxManifestSize        = 8 << 20
	MinSegmentSize         = 1
)

// Constraints is the "swift" section of /info.
func Constraints() map[string]any {
	return map[string]any{
		"max_file_size":             MaxFileSize,
		"max_meta_name_length":      MaxMetaNameLength,
		"max_meta_value_length":     MaxMetaValueLength,
		"max_meta_count":            MaxMetaCount,
		"max_meta_overall_size":     MaxMetaOverallSize,
		"max_header_size":           MaxHeaderSize,
		"max_object_name_length":    MaxObjectNameLength,
		"container_listing_limit":   ContainerListingLimit,
		"account_listing_limit":     AccountListingLimit,
		"max_account_name_length":   MaxAccountNameLength,
		"max_container_name_length": MaxContainerNameLength,
		"extra_header_count":        0,
		"valid_api_versions":        []string{"v1", "v1.0"},
		"strict_cors_mode":          true,
		"allow_account_management":  false,
		"account_autocreate":        true,
	}
}
