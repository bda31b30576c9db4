package image

// The JSON schemas of /v2/schemas, which clients read to validate and
// render images. Built from the API's attribute list; custom properties
// are strings (additionalProperties).

func nullable(typ string, extra map[string]any) map[string]any {
	m := map[string]any{"type": []any{typ, "null"}}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func readOnlyProp(typ any, desc string) map[string]any {
	return map[string]any{"type": typ, "readOnly": true, "description": desc}
}

var imageProperties = map[string]any{
	"id": map[string]any{"type": "string", "description": "An identifier for the image",
		"pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
	"name":             nullable("string", map[string]any{"maxLength": 255, "description": "Descriptive name for the image"}),
	"status":           map[string]any{"type": "string", "readOnly": true, "description": "Status of the image", "enum": []any{"queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"}},
	"visibility":       map[string]any{"type": "string", "description": "Scope of image accessibility", "enum": []any{"community", "public", "private", "shared"}},
	"protected":        map[string]any{"type": "boolean", "description": "If true, image will not be deletable."},
	"os_hidden":        map[string]any{"type": "boolean", "description": "If true, image will not appear in default image list response."},
	"checksum":         readOnlyProp([]any{"null", "string"}, "md5 hash of image contents."),
	"os_hash_algo":     readOnlyProp([]any{"null", "string"}, "Algorithm to calculate the os_hash_value"),
	"os_hash_value":    readOnlyProp([]any{"null", "string"}, "Hexdigest of the image contents using the algorithm specified by the os_hash_algo"),
	"owner":            nullable("string", map[string]any{"maxLength": 255, "description": "Owner of the image"}),
	"size":             readOnlyProp([]any{"null", "integer"}, "Size of image file in bytes"),
	"virtual_size":     readOnlyProp([]any{"null", "integer"}, "Virtual size of image in bytes"),
	"container_format": nullable("string", map[string]any{"description": "Format of the container", "enum": append([]any{nil}, toAny(ContainerFormats)...)}),
	"disk_format":      nullable("string", map[string]any{"description": "Format of the disk", "enum": append([]any{nil}, toAny(DiskFormats)...)}),
	"created_at":       readOnlyProp("string", "Date and time of image registration"),
	"updated_at":       readOnlyProp("string", "Date and time of the last image modification"),
	"tags":             map[string]any{"type": "array", "description": "List of strings related to the image", "items": map[string]any{"type": "string", "maxLength": 255}},
	"direct_url":       readOnlyProp("string", "URL to access the image file kept in external store"),
	"min_ram":          map[string]any{"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
	"min_disk":         map[string]any{"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
	"self":             readOnlyProp("string", "An image self url"),
	"file":             readOnlyProp("string", "An image file url"),
	"stores":           readOnlyProp("string", "Store in which image data resides."),
	"schema":           readOnlyProp("string", "An image schema url"),
	"locations":        map[string]any{"type": "array", "description": "A set of URLs to access the image file kept in external store", "items": map[string]any{"type": "object"}},
	"kernel_id":        nullable("string", map[string]any{"description": "ID of image stored in Glance that should be used as the kernel when booting an AMI-style image."}),
	"ramdisk_id":       nullable("string", map[string]any{"description": "ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image."}),
	"instance_uuid":    map[string]any{"type": "string", "description": "Metadata which can be used to record which instance this image is associated with."},
	"architecture":     map[string]any{"type": "string", "description": "Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html"},
	"os_distro":        map[string]any{"type": "string", "description": "Common name of operating system distribution"},
	"os_version":       map[string]any{"type": "string", "description": "Operating system version as specified by the distributor"},
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

var imageSchema = map[string]any{
	"name":                 "image",
	"properties":           imageProperties,
	"additionalProperties": map[string]any{"type": "string"},
	"links": []any{
		map[string]any{"href": "{self}", "rel": "self"},
		map[string]any{"href": "{file}", "rel": "enclosure"},
		map[string]any{"href": "{schema}", "rel": "describedby"},
	},
}

var imagesSchema = map[string]any{
	"name": "images",
	"properties": map[string]any{
		"images": map[string]any{"type": "array", "items": imageSchema},
		"schema": map[string]any{"type": "string"},
		"first":  map[string]any{"type": "string"},
		"next":   map[string]any{"type": "string"},
	},
	"links": []any{
		map[string]any{"href": "{first}", "rel": "first"},
		map[string]any{"href": "{next}", "rel": "next"},
		map[string]any{"href": "{schema}", "rel": "describedby"},
	},
}

var memberSchema = map[string]any{
	"name": "member",
	"properties": map[string]any{
		"created_at": map[string]any{"type": "string", "description": "Date and time of image member creation"},
		"image_id":   map[string]any{"type": "string", "description": "An identifier for the image"},
		"member_id":  map[string]any{"type": "string", "description": "An identifier for the image member (tenantId)"},
		"status":     map[string]any{"type": "string", "description": "The status of this image member", "enum": []any{"pending", "accepted", "rejected"}},
		"updated_at": map[string]any{"type": "string", "description": "Date and time of last modification of image member"},
		"schema":     map[string]any{"type": "string", "readOnly": true},
	},
}

var membersSchema = map[string]any{
	"name": "members",
	"properties": map[string]any{
		"members": map[string]any{"type": "array", "items": memberSchema},
		"schema":  map[string]any{"type": "string"},
	},
	"links": []any{map[string]any{"href": "{schema}", "rel": "describedby"}},
}

// Metadata definition (metadefs) schemas, as Glance serves them under
// /v2/schemas/metadefs/. Clients such as Horizon and the CLI read them.
var (
	metadefTimes = map[string]any{
		"created_at": map[string]any{"type": "string", "readOnly": true, "format": "date-time", "description": "Date and time of creation"},
		"updated_at": map[string]any{"type": "string", "readOnly": true, "format": "date-time", "description": "Date and time of the last modification"},
	}
	metadefPropertyProps = map[string]any{
		"name":            map[string]any{"type": "string", "maxLength": 80},
		"title":           map[string]any{"type": "string"},
		"description":     map[string]any{"type": "string"},
		"operators":       map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		"type":            map[string]any{"type": "string", "enum": []any{"array", "boolean", "integer", "number", "object", "string", nil}},
		"required":        map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "minItems": 1, "uniqueItems": true},
		"minimum":         map[string]any{"type": "number"},
		"maximum":         map[string]any{"type": "number"},
		"maxLength":       map[string]any{"type": "integer", "minimum": 0},
		"minLength":       map[string]any{"type": "integer", "minimum": 0, "default": 0},
		"pattern":         map[string]any{"type": "string", "format": "regex"},
		"enum":            map[string]any{"type": "array"},
		"readonly":        map[string]any{"type": "boolean"},
		"default":         map[string]any{},
		"items":           map[string]any{"type": "object"},
		"maxItems":        map[string]any{"type": "integer", "minimum": 0},
		"minItems":        map[string]any{"type": "integer", "minimum": 0, "default": 0},
		"uniqueItems":     map[string]any{"type": "boolean", "default": false},
		"additionalItems": map[string]any{"type": "boolean"},
	}
	metadefPropertySchema = map[string]any{
		"name": "property", "properties": metadefPropertyProps, "required": []any{"name", "title", "type"},
		"additionalProperties": false,
	}
	metadefObjectSchema = map[string]any{
		"name": "object",
		"properties": withTimes(map[string]any{
			"name":        map[string]any{"type": "string", "maxLength": 80},
			"description": map[string]any{"type": "string"},
			"required":    map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			"properties":  map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "object", "properties": metadefPropertyProps}},
			"schema":      map[string]any{"type": "string", "readOnly": true},
			"self":        map[string]any{"type": "string", "readOnly": true},
		}),
		"required": []any{"name"}, "additionalProperties": false,
	}
	metadefTagSchema = map[string]any{
		"name": "tag",
		"properties": withTimes(map[string]any{
			"name": map[string]any{"type": "string", "maxLength": 255},
		}),
		"required": []any{"name"}, "additionalProperties": false,
	}
	metadefResourceTypeSchema = map[string]any{
		"name": "resource_type_association",
		"properties": withTimes(map[string]any{
			"name":              map[string]any{"type": "string", "maxLength": 80, "description": "Resource type names should be aligned with Heat resource types whenever possible: https://docs.openstack.org/heat/latest/template_guide/openstack.html"},
			"prefix":            map[string]any{"type": "string", "maxLength": 80, "description": "Specifies the prefix to use for the given resource type."},
			"properties_target": map[string]any{"type": "string", "maxLength": 80, "description": "Some resource types allow more than one key / value pair per instance."},
		}),
		"required": []any{"name"}, "additionalProperties": false,
	}
	metadefNamespaceSchema = map[string]any{
		"name": "namespace",
		"properties": withTimes(map[string]any{
			"namespace":                  map[string]any{"type": "string", "maxLength": 80, "description": "The unique namespace text."},
			"display_name":               map[string]any{"type": "string", "maxLength": 80, "description": "The user friendly name for the namespace."},
			"description":                map[string]any{"type": "string", "maxLength": 500, "description": "Provides a user friendly description of the namespace."},
			"visibility":                 map[string]any{"type": "string", "enum": []any{"public", "private"}, "description": "Scope of namespace accessibility."},
			"protected":                  map[string]any{"type": "boolean", "description": "If true, namespace will not be deletable."},
			"owner":                      map[string]any{"type": "string", "maxLength": 255, "description": "Owner of the namespace."},
			"resource_type_associations": map[string]any{"type": "array", "items": metadefResourceTypeSchema},
			"properties":                 map[string]any{"type": "object", "additionalProperties": metadefPropertySchema},
			"objects":                    map[string]any{"type": "array", "items": metadefObjectSchema},
			"tags":                       map[string]any{"type": "array", "items": metadefTagSchema},
			"schema":                     map[string]any{"type": "string", "readOnly": true},
			"self":                       map[string]any{"type": "string", "readOnly": true},
		}),
		"required": []any{"namespace"}, "additionalProperties": false,
	}
)

func withTimes(props map[string]any) map[string]any {
	for k, v := range metadefTimes {
		props[k] = v
	}
	return props
}

// collectionSchema is Glance's CollectionSchema: a list of item under
// plural, with paging links.
func collectionSchema(plural string, item map[string]any) map[string]any {
	return map[string]any{
		"name": plural,
		"properties": map[string]any{
			plural:   map[string]any{"type": "array", "items": item},
			"first":  map[string]any{"type": "string"},
			"next":   map[string]any{"type": "string"},
			"schema": map[string]any{"type": "string"},
		},
		"links": []any{
			map[string]any{"href": "{first}", "rel": "first"},
			map[string]any{"href": "{next}", "rel": "next"},
			map[string]any{"href": "{schema}", "rel": "describedby"},
		},
	}
}

// metadefSchemas maps the path under /v2/schemas/metadefs/ to its schema.
var metadefSchemas = map[string]map[string]any{
	"namespace":  metadefNamespaceSchema,
	"namespaces": collectionSchema("namespaces", metadefNamespaceSchema),
	"object":     metadefObjectSchema,
	"objects":    collectionSchema("objects", metadefObjectSchema),
	"property":   metadefPropertySchema,
	// a namespace's properties are an object keyed by property name
	"properties": {"name": "properties", "properties": map[string]any{
		"properties": map[string]any{"type": "object", "additionalProperties": metadefPropertySchema},
		"schema":     map[string]any{"type": "string"},
	}},
	"tag":            metadefTagSchema,
	"tags":           collectionSchema("tags", metadefTagSchema),
	"resource_type":  metadefResourceTypeSchema,
	"resource_types": collectionSchema("resource_type_associations", metadefResourceTypeSchema),
}
