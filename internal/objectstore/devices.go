package objectstore

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
)

// DeviceName is a device directory's name in the ring: its base name.
func DeviceName(dir string) string { return filepath.Base(filepath.Clean(dir)) }

// Devices maps ring names to directories, refusing two with one name.
func Devices(dirs []string) (map[string]string, error) {
	out := make(map[string]string, len(dirs))
	for _, d := range dirs {
		name := DeviceName(d)
		if prev, ok := out[name]; ok {
			return nil, fmt.Errorf("devices %s and %s have the same name %q", prev, d, name)
		}
		out[name] = d
	}
	return out, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("storage address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("storage address %q: bad port", addr)
	}
	return host, port, nil
}
