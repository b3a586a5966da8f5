package app

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/gpubms/gpubms/server/auth"
)

// The tap authenticates a call once, from its headers; identify keeps that
// caller instead of authenticating again, except on the gateway's
// connection, whose caller comes from the gateway's metadata alone.
func TestTapCallerKeptByIdentify(t *testing.T) {
	authn, err := auth.New(auth.Config{Token: "t0ken-of-sixteen-chars"})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	d := &door{authn: authn, refused: func() { refused++ }}
	const method = "/gpubms.v1.GpuService/DescribeGpuRegions"
	remote := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}})

	tapped, err := d.tap(remote, &tap.Info{FullMethodName: method, Header: metadata.Pairs("authorization", "Bearer t0ken-of-sixteen-chars")})
	if err != nil {
		t.Fatalf("tap: %v", err)
	}
	if c, ok := tapped.Value(tapCallerKey{}).(auth.Caller); !ok || c.Name != "token" || c.Role != auth.Operator {
		t.Fatalf("tap's context: caller %+v (%v); want the operator \"token\"", c, ok)
	}
	// Headers that would not authenticate: identify does not read them
	// again.
	ctx := d.identify(metadata.NewIncomingContext(tapped, metadata.Pairs("authorization", "Bearer other")))
	if c, ok := auth.FromContext(ctx); !ok || c.Name != "token" {
		t.Errorf("identify after the tap: caller %+v (%v); want the tap's", c, ok)
	}
	if err := d.enforce(ctx, method); err != nil {
		t.Errorf("enforce after the tap: %v", err)
	}

	// Without the tap, identify authenticates from the headers.
	ctx = d.identify(metadata.NewIncomingContext(remote, metadata.Pairs("authorization", "Bearer other")))
	if err := d.enforce(ctx, method); status.Code(err) != codes.Unauthenticated {
		t.Errorf("enforce of an unknown token: %v; want Unauthenticated", err)
	}

	// A caller put on the context by anything but the tap is not taken.
	ctx = d.identify(metadata.NewIncomingContext(auth.NewContext(remote, auth.Caller{Name: "token", Role: auth.Operator}),
		metadata.Pairs("authorization", "Bearer other")))
	if err := d.enforce(ctx, method); status.Code(err) != codes.Unauthenticated {
		t.Errorf("enforce of an unknown token beside a caller not from the tap: %v; want Unauthenticated", err)
	}

	// Nor is the tap's key on a gateway call's context: the gateway's
	// metadata names its caller.
	gw := peer.NewContext(context.WithValue(context.Background(), tapCallerKey{}, auth.Caller{Name: "token", Role: auth.Operator}), gatewayPeerInfo)
	ctx = d.identify(metadata.NewIncomingContext(gw, metadata.Pairs(mdGatewayCaller, "ro", mdGatewayRole, auth.Reader.String(), mdGatewayVia, auth.ViaToken)))
	if c, ok := auth.FromContext(ctx); !ok || c.Name != "ro" || c.Role != auth.Reader {
		t.Errorf("identify on the gateway: caller %+v (%v); want the reader \"ro\" of its metadata", c, ok)
	}

	if _, err := d.tap(remote, &tap.Info{FullMethodName: method, Header: metadata.Pairs("authorization", "Bearer other")}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("tap of an unknown token: %v; want Unauthenticated", err)
	}
	if refused != 1 {
		t.Errorf("refused counted %d times; want 1", refused)
	}
}
