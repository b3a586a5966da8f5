//go:build !unix

package app

// fileLimit is unknown here.
func fileLimit() (uint64, bool) { return 0, false }
