package auth

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	_ "google.golang.org/protobuf/types/known/emptypb" // registers google/protobuf/empty.proto for testMethods

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

func TestParseRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Role
		wantErr bool
	}{
		{in: "reader", want: Reader},
		{in: "operator", want: Operator},
		{in: "", want: RoleNone, wantErr: true},
		{in: "none", want: RoleNone, wantErr: true},
		{in: "Reader", want: RoleNone, wantErr: true},
		{in: "OPERATOR", want: RoleNone, wantErr: true},
		{in: " reader", want: RoleNone, wantErr: true},
		{in: "reader ", want: RoleNone, wantErr: true},
		{in: "admin", want: RoleNone, wantErr: true},
		{in: "ROLE_READER", want: RoleNone, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRole(tt.in)
			if got != tt.want {
				t.Errorf("ParseRole(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("ParseRole(%q) error = %v, want error: %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "reader or operator") {
				t.Errorf("ParseRole(%q) error = %q, want it to name the valid roles", tt.in, err)
			}
		})
	}
}

func TestRoleStringRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		role Role
		want string
	}{
		{RoleNone, "none"},
		{Reader, "reader"},
		{Operator, "operator"},
		{Role(-1), "none"},
		{Role(3), "none"},
		{Role(100), "none"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.role.String(); got != tt.want {
				t.Errorf("Role(%d).String() = %q, want %q", int(tt.role), got, tt.want)
			}
		})
	}
	for _, r := range []Role{Reader, Operator} {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRole(%v.String()) = %v, %v; want %v, nil", r, got, err, r)
		}
	}
	if _, err := ParseRole(RoleNone.String()); err == nil {
		t.Errorf("ParseRole(RoleNone.String()) = nil error, want an error: none is not a configurable role")
	}
}

func TestRoleAllows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		have, need Role
		want       bool
	}{
		{RoleNone, RoleNone, true},
		{RoleNone, Reader, false},
		{RoleNone, Operator, false},
		{Reader, RoleNone, true},
		{Reader, Reader, true},
		{Reader, Operator, false},
		{Operator, RoleNone, true},
		{Operator, Reader, true},
		{Operator, Operator, true},
	}
	for _, tt := range tests {
		t.Run(tt.have.String()+"/"+tt.need.String(), func(t *testing.T) {
			t.Parallel()
			if got := tt.have.Allows(tt.need); got != tt.want {
				t.Errorf("%v.Allows(%v) = %v, want %v", tt.have, tt.need, got, tt.want)
			}
		})
	}
}

// The Go roles and the contract's roles are in the same order, so a role
// from the contract and one from a tokens file compare alike.
func TestRoleMatchesContract(t *testing.T) {
	t.Parallel()
	if got, want := int(Reader), int(gpubmsv1.Role_ROLE_READER); got != want {
		t.Errorf("Reader = %d, want %d (gpubmsv1.Role_ROLE_READER)", got, want)
	}
	if got, want := int(Operator), int(gpubmsv1.Role_ROLE_OPERATOR); got != want {
		t.Errorf("Operator = %d, want %d (gpubmsv1.Role_ROLE_OPERATOR)", got, want)
	}
	if got, want := int(RoleNone), int(gpubmsv1.Role_ROLE_UNSPECIFIED); got != want {
		t.Errorf("RoleNone = %d, want %d (gpubmsv1.Role_ROLE_UNSPECIFIED)", got, want)
	}
}

// TestRequiredRoleGpuService pins the role of every RPC of GpuService. A new
// RPC makes it fail until it is added here, so its role is a decision.
func TestRequiredRoleGpuService(t *testing.T) {
	t.Parallel()
	want := map[string]Role{
		"DescribeGpuRegions":    Reader,
		"DescribeGpuGoods":      Reader,
		"DescribeGpuGoodsPrice": Reader,
		"DescribeGpuImage":      Reader,
		"DescribeGpu":           Reader,
		"DescribeGpuDetail":     Reader,
		"DescribeGpuTask":       Reader,
		"WatchTask":             Reader,
		"WatchTasks":            Reader,
		"CreateGpuInstance":     Operator,
		"ReinstallGpu":          Operator,
		"OperateGpuPower":       Operator,
		"DeleteGpuInstances":    Operator,
	}
	sd := gpubmsv1.File_gpubms_v1_gpubms_proto.Services().ByName("GpuService")
	if sd == nil {
		t.Fatalf("gpubms.v1.GpuService not found in gpubms/v1/gpubms.proto")
	}
	methods := sd.Methods()
	seen := map[string]bool{}
	for i := range methods.Len() {
		m := methods.Get(i)
		name := string(m.Name())
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, ok := want[name]
			if !ok {
				t.Fatalf("RPC %s is not in this test: decide its role (gpubms.v1.required_role) and add it", m.FullName())
			}
			if got := RequiredRole(m); got != w {
				t.Errorf("RequiredRole(%s) = %v, want %v", m.FullName(), got, w)
			}
			// Describe* and Watch* change nothing: readers may call them;
			// everything else is for operators.
			rule := Operator
			if strings.HasPrefix(name, "Describe") || strings.HasPrefix(name, "Watch") {
				rule = Reader
			}
			if w != rule {
				t.Errorf("want table gives %s %v, but the naming rule says %v", name, w, rule)
			}
			// Every GpuService RPC says its role explicitly: none relies on
			// the Operator default.
			if !proto.HasExtension(m.Options(), gpubmsv1.E_RequiredRole) {
				t.Errorf("%s has no gpubms.v1.required_role option, want one", m.FullName())
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("GpuService has no RPC %s, want it (or remove it from this test)", name)
		}
	}
	if got, want := methods.Len(), len(want); got != want {
		t.Errorf("GpuService has %d RPCs, want %d", got, want)
	}
}

// A method without the option, such as grpc.health.v1.Health's, needs
// Operator.
func TestRequiredRoleWithoutOption(t *testing.T) {
	t.Parallel()
	sd := grpc_health_v1.File_grpc_health_v1_health_proto.Services().ByName("Health")
	if sd == nil {
		t.Fatalf("grpc.health.v1.Health not found")
	}
	methods := sd.Methods()
	if methods.Len() == 0 {
		t.Fatalf("grpc.health.v1.Health has no methods")
	}
	for i := range methods.Len() {
		m := methods.Get(i)
		t.Run(string(m.Name()), func(t *testing.T) {
			t.Parallel()
			if proto.HasExtension(m.Options(), gpubmsv1.E_RequiredRole) {
				t.Fatalf("%s unexpectedly has gpubms.v1.required_role", m.FullName())
			}
			if got := RequiredRole(m); got != Operator {
				t.Errorf("RequiredRole(%s) = %v, want %v", m.FullName(), got, Operator)
			}
		})
	}
}

// testMethods builds a service whose methods carry the given
// required_role values (nil: no option; a nil options message for "Bare").
func testMethods(t *testing.T) protoreflect.MethodDescriptors {
	t.Helper()
	withRole := func(r gpubmsv1.Role) *descriptorpb.MethodOptions {
		o := &descriptorpb.MethodOptions{}
		proto.SetExtension(o, gpubmsv1.E_RequiredRole, r)
		return o
	}
	method := func(name string, o *descriptorpb.MethodOptions) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{
			Name:       proto.String(name),
			InputType:  proto.String(".google.protobuf.Empty"),
			OutputType: proto.String(".google.protobuf.Empty"),
			Options:    o,
		}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("gpubms/auth/authtest.proto"),
		Package:    proto.String("gpubms.authtest"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/empty.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("T"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Bare", nil),
				method("EmptyOptions", &descriptorpb.MethodOptions{}),
				method("Unspecified", withRole(gpubmsv1.Role_ROLE_UNSPECIFIED)),
				method("Reader", withRole(gpubmsv1.Role_ROLE_READER)),
				method("Operator", withRole(gpubmsv1.Role_ROLE_OPERATOR)),
				method("Unknown", withRole(gpubmsv1.Role(7))),
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatalf("protodesc.NewFile: %v", err)
	}
	return fd.Services().Get(0).Methods()
}

func TestRequiredRoleOptionValues(t *testing.T) {
	t.Parallel()
	methods := testMethods(t)
	tests := []struct {
		method string
		want   Role
	}{
		{"Bare", Operator},
		{"EmptyOptions", Operator},
		{"Unspecified", Operator},
		{"Reader", Reader},
		{"Operator", Operator},
		{"Unknown", Operator},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			m := methods.ByName(protoreflect.Name(tt.method))
			if m == nil {
				t.Fatalf("method %s not built", tt.method)
			}
			if got := RequiredRole(m); got != tt.want {
				t.Errorf("RequiredRole(%s) = %v, want %v", tt.method, got, tt.want)
			}
		})
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	if c, ok := FromContext(context.Background()); ok {
		t.Errorf("FromContext(Background) = %+v, true; want false", c)
	}
	want := Caller{Name: "alice", Role: Reader, Via: ViaToken}
	ctx := NewContext(context.Background(), want)
	got, ok := FromContext(ctx)
	if !ok || got != want {
		t.Errorf("FromContext(NewContext(c)) = %+v, %v; want %+v, true", got, ok, want)
	}
	// A derived context keeps the caller; a nested NewContext replaces it.
	type otherKey struct{}
	derived := context.WithValue(ctx, otherKey{}, "x")
	if got, ok := FromContext(derived); !ok || got != want {
		t.Errorf("FromContext(derived) = %+v, %v; want %+v, true", got, ok, want)
	}
	bob := Caller{Name: "bob", Role: Operator, Via: ViaCertificate}
	if got, ok := FromContext(NewContext(ctx, bob)); !ok || got != bob {
		t.Errorf("FromContext(NewContext(NewContext(alice), bob)) = %+v, %v; want %+v, true", got, ok, bob)
	}
	// A value of another type under some other key is not a caller.
	if _, ok := FromContext(context.WithValue(context.Background(), otherKey{}, want)); ok {
		t.Errorf("FromContext found a caller stored under a foreign key")
	}
	// The zero Caller travels too: ok says it was set.
	if got, ok := FromContext(NewContext(context.Background(), Caller{})); !ok || got != (Caller{}) {
		t.Errorf("FromContext(NewContext(Caller{})) = %+v, %v; want zero, true", got, ok)
	}
}
