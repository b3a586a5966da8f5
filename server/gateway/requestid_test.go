package gateway

import (
	"strings"
	"testing"
)

func TestNewRequestID(t *testing.T) {
	const n = 2000
	seen := make(map[string]bool, n)
	var perPos [26]map[byte]bool
	for i := range perPos {
		perPos[i] = map[byte]bool{}
	}
	for range n {
		id := NewRequestID()
		if len(id) != 26 || !SaneRequestID(id) {
			t.Fatalf("NewRequestID() = %q: want 26 sane characters", id)
		}
		if strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("NewRequestID() = %q: not base32", id)
		}
		if seen[id] {
			t.Fatalf("NewRequestID() repeated %q", id)
		}
		seen[id] = true
		for i := range id {
			perPos[i][id[i]] = true
		}
	}
	// Every position carries random bits: over 2000 ids each takes (nearly)
	// all 32 characters; a position fed from bits left over, or none, would not.
	for i, cs := range perPos {
		if len(cs) < 30 {
			t.Errorf("position %d took %d distinct characters in %d ids, want about 32", i, len(cs), n)
		}
	}
}

func BenchmarkNewRequestID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewRequestID()
	}
}
