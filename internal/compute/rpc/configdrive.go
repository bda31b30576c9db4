package rpc

import (
	"encoding/json"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
)

// ConfigDrive is what the guest's config drive tells it (configdrive.Data
// on the wire). The instance UUID and image ID come from the request.
type ConfigDrive struct {
	Name             string               `json:"name"` // the server's display name
	Hostname         string               `json:"hostname"`
	AvailabilityZone string               `json:"availability_zone,omitempty"`
	ProjectID        string               `json:"project_id,omitempty"`
	Keys             []configdrive.Key    `json:"keys,omitempty"`
	Meta             map[string]string    `json:"meta,omitempty"`
	UserData         []byte               `json:"user_data,omitempty"`    // base64 in JSON, as the API takes it
	NetworkData      json.RawMessage      `json:"network_data,omitempty"` // network_data.json; absent: {}
	VendorData       json.RawMessage      `json:"vendor_data,omitempty"`  // vendor_data.json; absent: {}
	LaunchIndex      int                  `json:"launch_index,omitempty"`
	Devices          []configdrive.Device `json:"devices,omitempty"`
	InstanceType     string               `json:"instance_type,omitempty"` // the flavor's name
	ReservationID    string               `json:"reservation_id,omitempty"`
	RootDevice       string               `json:"root_device,omitempty"`
}

// Data is the config drive of instance uuid booted from image imageID.
func (c *ConfigDrive) Data(uuid, imageID string) configdrive.Data {
	d := configdrive.Data{
		UUID:             uuid,
		Name:             c.Name,
		Hostname:         c.Hostname,
		AvailabilityZone: c.AvailabilityZone,
		ProjectID:        c.ProjectID,
		Keys:             c.Keys,
		Meta:             c.Meta,
		UserData:         c.UserData,
		LaunchIndex:      c.LaunchIndex,
		Devices:          c.Devices,
		InstanceType:     c.InstanceType,
		ImageID:          imageID,
		ReservationID:    c.ReservationID,
		RootDevice:       c.RootDevice,
	}
	// Raw JSON goes into the drive as it came, not re-encoded.
	if len(c.NetworkData) > 0 {
		d.NetworkData = c.NetworkData
	}
	if len(c.VendorData) > 0 {
		d.VendorData = c.VendorData
	}
	return d
}
