package compute

import "github.com/nimbus-cloud/nimbus/internal/compute/instances"

// InstancesForTest lets the tests of package compute_test (which run
// the product's image client, a package that imports this one) write
// servers as the conductor would.
func (s *Service) InstancesForTest() *instances.Store { return s.instances }
