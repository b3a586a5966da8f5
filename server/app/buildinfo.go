package app

import (
	"runtime"
	"runtime/debug"
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// version is the release, stamped by make build (-ldflags -X); empty, the
// module version of the build info is used.
var version string

// Build is what this binary was built from: the version (the stamped one,
// else the module's), the VCS revision with "-dirty" for a modified tree,
// its commit time and the Go version. A build without VCS information (go
// test, go run of a single file) has an empty commit.
type Build struct {
	Version    string
	Commit     string
	CommitTime time.Time
	GoVersion  string
}

// ReadBuild reads the binary's build information.
func ReadBuild() Build {
	b := Build{Version: version, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "(unknown)"
		}
		return b
	}
	if b.Version == "" {
		b.Version = bi.Main.Version
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitTime, _ = time.Parse(time.RFC3339, s.Value)
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && b.Commit != "" {
		b.Commit += "-dirty"
	}
	return b
}

// String is the one-line form: "gpubmsd v1.2.0 (abc123, go1.26.8)".
func (b Build) String() string {
	s := b.Version
	if b.Commit != "" {
		s += " (" + b.Commit + ", " + b.GoVersion + ")"
	} else {
		s += " (" + b.GoVersion + ")"
	}
	return s
}

// serverInfo is the GetServerInfo answer of a server run with cfg.
func serverInfo(b Build, cfg Config, features map[string]bool, started time.Time) *gpubmsv1.GetServerInfoResponse {
	out := &gpubmsv1.GetServerInfoResponse{
		Version: b.Version, Commit: b.Commit, GoVersion: b.GoVersion,
		Emulator: cfg.Emulator, StartTime: timestamppb.New(started),
	}
	if !b.CommitTime.IsZero() {
		out.CommitTime = timestamppb.New(b.CommitTime)
	}
	for f, on := range features {
		if on {
			out.Features = append(out.Features, f)
		}
	}
	sort.Strings(out.Features)
	return out
}
