//go:build unix

package filesystem

import (
	"io/fs"
	"syscall"
)

// fileID returns the inode number, which differs between the old and the new
// file when Put renames a fresh file over an object.
func fileID(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
