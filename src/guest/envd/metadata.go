// A file's metadata (the SDK's `X-Metadata-<key>` upload headers): extended
// attributes in the `user.e2b.` namespace. Where the filesystem has none, a file
// simply has no metadata.
package main

import (
	"strings"
	"syscall"
)

const metadataPrefix = "user.e2b."

func writeMetadata(path string, metadata map[string]string) error {
	for key, value := range metadata {
		if err := syscall.Setxattr(path, metadataPrefix+key, []byte(value), 0); err != nil {
			return errorf("invalid_argument", "metadata %q on %s: %v", key, path, err)
		}
	}
	return nil
}

func readMetadata(path string) map[string]string {
	names := make([]byte, 4096)
	n, err := syscall.Listxattr(path, names)
	if err != nil || n <= 0 {
		return nil
	}
	metadata := map[string]string{}
	for _, name := range strings.Split(string(names[:n]), "\x00") {
		if !strings.HasPrefix(name, metadataPrefix) {
			continue
		}
		value := make([]byte, 4096)
		if size, err := syscall.Getxattr(path, name, value); err == nil && size >= 0 {
			metadata[strings.TrimPrefix(name, metadataPrefix)] = string(value[:size])
		}
	}
	if len(metadata) == 0 {
		return nil
	}
	return metadata
}
