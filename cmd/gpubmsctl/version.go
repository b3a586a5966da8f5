package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// version is the release this binary was built as, set with
// -ldflags "-X main.version=v1.2.3"; empty, the module version of the
// build information is shown.
var version string

// clientBuild is what gpubmsctl knows of its own build.
type clientBuild struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// readClientBuild reads the build information the Go toolchain stamped
// into the binary: the module version, and the VCS revision, time and
// whether the tree was modified when the build had them.
func readClientBuild() clientBuild {
	b := clientBuild{Version: "(unknown)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			b.Version = info.Main.Version
		}
		if info.GoVersion != "" {
			b.GoVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		b.Version = version
	}
	return b
}

func (b clientBuild) String() string {
	var extra []string
	if b.Revision != "" {
		rev := b.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		extra = append(extra, "commit "+rev)
	}
	if b.Modified {
		extra = append(extra, "modified")
	}
	if b.Time != "" {
		extra = append(extra, "committed "+b.Time)
	}
	s := b.Version
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s + ", " + b.GoVersion + " " + b.Platform
}

// serverInfoAsker is a client that can ask FleetService.GetServerInfo, as
// the Go client (clients/go) can.
type serverInfoAsker interface {
	GetServerInfo(ctx context.Context, in *gpubmsv1.GetServerInfoRequest, opts ...grpc.CallOption) (*gpubmsv1.GetServerInfoResponse, error)
}

// errNoServerInfo: the client given cannot ask the server its version.
var errNoServerInfo = errors.New("this client cannot ask FleetService.GetServerInfo")

// serverInfo asks the server for its build, within ctx.
func (a *app) serverInfo(ctx context.Context, cmd *cobra.Command) (*gpubmsv1.GetServerInfoResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := a.resolve(cmd); err != nil {
		return nil, err
	}
	c, err := a.dial()
	if err != nil {
		return nil, err
	}
	return askServerInfo(ctx, c, a.addr)
}

// askServerInfo calls GetServerInfo when c can, and says why not otherwise.
func askServerInfo(ctx context.Context, c any, addr string) (*gpubmsv1.GetServerInfoResponse, error) {
	asker, ok := c.(serverInfoAsker)
	if !ok {
		return nil, errNoServerInfo
	}
	info, err := asker.GetServerInfo(ctx, &gpubmsv1.GetServerInfoRequest{})
	switch status.Code(err) {
	case codes.OK:
		return info, nil
	case codes.Unimplemented:
		return nil, errors.New("the server at " + addr + " is older than GetServerInfo")
	case codes.Unavailable, codes.DeadlineExceeded:
		return nil, errors.New("cannot reach " + addr + ": " + status.Convert(err).Message())
	}
	s := status.Convert(err)
	return nil, errors.New(s.Code().String() + ": " + s.Message())
}

// describeServer is the server's line of version.
func describeServer(info *gpubmsv1.GetServerInfoResponse) string {
	var extra []string
	if c := info.GetCommit(); c != "" {
		extra = append(extra, "commit "+c)
	}
	if info.GetCommitTime() != nil {
		extra = append(extra, "committed "+info.GetCommitTime().AsTime().UTC().Format(time.RFC3339))
	}
	s := "gpubms " + cmp.Or(info.GetVersion(), "(unknown)")
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	if g := info.GetGoVersion(); g != "" {
		s += ", " + g
	}
	if info.GetEmulator() {
		s += ", on the emulator"
	}
	if f := info.GetFeatures(); len(f) > 0 {
		s += ", features: " + strings.Join(f, " ")
	}
	if info.GetStartTime() != nil {
		s += ", up since " + info.GetStartTime().AsTime().UTC().Format(time.RFC3339)
	}
	return s
}

func (a *app) versionCommand() *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version [--client]",
		Short: "Print the version of gpubmsctl and of the server",
		Long: `Print the version of gpubmsctl, from the build information Go stamps into
the binary (module version, VCS revision and time, whether the tree was
modified, Go version), and of the server (FleetService.GetServerInfo). The
server's part says "unknown" with the reason when it cannot be had (the
server cannot be reached, is older, or this client cannot ask it); that is
not an error. --client leaves the server alone.`,
		Example: `  gpubmsctl version
  gpubmsctl version --client -o json`,
		Args:        noArgs,
		Annotations: map[string]string{annotationOffline: "true"},
		RunE: a.offlineE(func(cmd *cobra.Command, _ []string) error {
			client := readClientBuild()
			var server *gpubmsv1.GetServerInfoResponse
			var serverErr error
			if !clientOnly {
				ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
				server, serverErr = a.serverInfo(ctx, cmd)
				cancel()
			}
			if a.output != formatTable {
				doc := struct {
					Client      clientBuild     `json:"client"`
					Server      json.RawMessage `json:"server,omitempty"`
					ServerError string          `json:"server_error,omitempty"`
				}{Client: client}
				if server != nil {
					b, err := marshalProto(server)
					if err != nil {
						return err
					}
					doc.Server = b
				}
				if serverErr != nil {
					doc.ServerError = serverErr.Error()
				}
				return a.writeValue(doc)
			}
			fmt.Fprintf(a.stdout, "client: gpubmsctl %s\n", client)
			switch {
			case clientOnly:
			case serverErr != nil:
				fmt.Fprintf(a.stdout, "server: unknown (%s)\n", cell(serverErr.Error()))
			default:
				fmt.Fprintf(a.stdout, "server: %s\n", cell(describeServer(server)))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the client's version only")
	return cmd
}
