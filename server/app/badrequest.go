package app

import (
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// withBadRequest adds a google.rpc.BadRequest beside validation's
// buf.validate.Violations, so every client (the gateway's JSON included)
// finds the offending field under its usual name.
//
// A rule written over a whole message (two fields that must agree) has no
// field path of its own; such rules are named "<field>.<rule>" in the proto,
// and the field is taken from that id.
func withBadRequest(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}
	var vs *validate.Violations
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			return err
		case *validate.Violations:
			vs = d
		}
	}
	if vs == nil {
		return err
	}
	br := &errdetails.BadRequest{}
	for _, v := range vs.GetViolations() {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       violationField(v),
			Description: v.GetMessage(),
			Reason:      v.GetRuleId(),
		})
	}
	ds, derr := st.WithDetails(br)
	if derr != nil {
		return err
	}
	return ds.Err()
}

// violationField is the dotted path of the field a violation is about.
func violationField(v *validate.Violation) string {
	path := protovalidate.FieldPathString(v.GetField())
	if v.GetRule() != nil && len(v.GetRule().GetElements()) > 0 {
		// A standard or field-level rule: the path is the field.
		return path
	}
	// A message-level rule: "<field>.<rule>" names the field within the
	// message at path.
	field, _, ok := strings.Cut(v.GetRuleId(), ".")
	if !ok {
		return path
	}
	if path == "" {
		return field
	}
	return path + "." + field
}
