package gpubms_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestClientLinksNoGateway: a program on the Go client links neither the
// JSON gateway's runtime nor anything else of grpc-gateway (the gateway is
// generated into a package of its own, and the OpenAPI options live outside
// the .proto files).
func TestClientLinksNoGateway(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./examples/regions").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 50 || !strings.Contains(string(out), "google.golang.org/grpc\n") {
		t.Fatalf("go list -deps answered %d packages, not the program's dependencies:\n%s", len(pkgs), out)
	}
	for _, p := range pkgs {
		if strings.Contains(p, "grpc-ecosystem/grpc-gateway") {
			t.Errorf("the client's example program links %s", p)
		}
	}
}
