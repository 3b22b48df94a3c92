package sinkbuf

import "syscall"

// fsSize returns the size in bytes of the file system holding path.
func fsSize(path string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, false
	}
	return int64(st.Blocks) * int64(st.Bsize), true
}
