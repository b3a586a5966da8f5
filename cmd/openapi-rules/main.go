// Command openapi-rules is a build tool, run by make generate right after
// buf generate: it writes the validation rules of the gpubms.v1 contract
// into the OpenAPI v2 document that protoc-gen-openapiv2 made of it, which
// does not read them.
//
//	go run ./cmd/openapi-rules gen/openapiv2/gpubms/v1/gpubms.swagger.json
//
// It reads the rules from the compiled descriptors of gen/gpubms/v1 (the
// protovalidate buf.validate.field options) and rewrites the document in
// place:
//
//   - each request schema (a definition, or a body schema written inline)
//     gets "required" for its fields marked required;
//   - each property, and each query and path parameter, gets the keywords
//     its rules say: string min_len, max_len, len and pattern as
//     minLength, maxLength and pattern, string in and const as enum, the
//     well-known formats (ipv4, ipv6, email, hostname, uri, uuid) as format;
//     numeric gte, gt, lte, lt as minimum and maximum (exclusive for gt and
//     lt), numeric in and const as enum; repeated min_items, max_items and
//     unique as minItems, maxItems and uniqueItems, and its items rules on
//     "items"; enum in, not_in and const narrow the enum's names;
//   - a predefined string rule whose CEL is `!rule || this.matches('RE')`
//     (gpubms.v1.id) gives pattern RE, and the lengths RE allows;
//   - each server-streaming operation lists the media types the gateway
//     streams in (produces).
//
// Message-level CEL, field CEL and the rules OpenAPI v2 cannot say (not_in
// on strings and numbers, prefix, bytes lengths, ...) are left out: the
// server still checks them. IGNORE_IF_ZERO_VALUE fields and proto3
// optional fields are not required; their limits apply when they are set.
//
// The output is deterministic: members keep the generator's order, new ones
// go where the generator would put them, and running the tool on its own
// output changes nothing.
package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Registers the gpubms.v1 descriptors (and the gpubms.v1.id rule).
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// protoPackage is the package the document describes.
const protoPackage protoreflect.FullName = "gpubms.v1"

// streamMediaTypes are the media types server/gateway streams in: its
// newline-delimited JSON (grpc-gateway's JSON marshaler, so its Content-Type
// is application/json) and, for Accept: text/event-stream, Server-Sent
// Events.
var streamMediaTypes = []any{"application/json", "text/event-stream"}

// The member orders of protoc-gen-openapiv2's schema, parameter and
// operation objects, with the keywords it never writes itself put where
// OpenAPI lists them.
var (
	schemaOrder = []string{
		"type", "format", "$ref", "x-nullable", "example", "items", "enum", "default",
		"properties", "additionalProperties", "description", "title", "externalDocs",
		"readOnly", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
		"maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
		"maxProperties", "minProperties", "required", "allOf",
	}
	paramOrder = []string{
		"name", "description", "in", "required", "deprecated", "type", "format",
		"uniqueItems", "items", "enum", "collectionFormat", "default",
		"maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
		"maxLength", "minLength", "minItems", "maxItems", "pattern", "x-example", "schema",
	}
	operationOrder = []string{
		"summary", "description", "operationId", "responses", "parameters", "tags",
		"deprecated", "consumes", "produces", "security", "externalDocs",
	}
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: openapi-rules FILE.swagger.json")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "openapi-rules:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	in, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := rewrite(in)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(in, out) {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, fi.Mode().Perm())
}

// rewrite returns the OpenAPI document doc with the rules of protoPackage.
func rewrite(doc []byte) ([]byte, error) {
	v, err := decode(doc)
	if err != nil {
		return nil, err
	}
	root, ok := v.(*object)
	if !ok {
		return nil, fmt.Errorf("the document is not a JSON object")
	}
	methods, err := packageMethods()
	if err != nil {
		return nil, err
	}
	w := &walker{defs: root.obj("definitions"), done: map[string]protoreflect.MessageDescriptor{}}
	paths := root.obj("paths")
	if paths == nil {
		return nil, fmt.Errorf("the document has no paths")
	}
	for _, p := range paths.keys {
		item := paths.obj(p)
		for _, verb := range item.keys {
			op := item.obj(verb)
			if op == nil {
				continue
			}
			if err := w.operation(op, methods); err != nil {
				return nil, fmt.Errorf("%s %s: %w", strings.ToUpper(verb), p, err)
			}
		}
	}
	return encode(root)
}

// packageMethods returns the methods of protoPackage's services by the
// operationId protoc-gen-openapiv2 gives them: Service_Method.
func packageMethods() (map[string]protoreflect.MethodDescriptor, error) {
	_ = gpubmsv1.File_gpubms_v1_gpubms_proto
	methods := map[string]protoreflect.MethodDescriptor{}
	protoregistry.GlobalFiles.RangeFilesByPackage(protoPackage, func(f protoreflect.FileDescriptor) bool {
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			for j := range s.Methods().Len() {
				m := s.Methods().Get(j)
				methods[string(s.Name())+"_"+string(m.Name())] = m
			}
		}
		return true
	})
	if len(methods) == 0 {
		return nil, fmt.Errorf("no services registered in package %s", protoPackage)
	}
	return methods, nil
}

// walker applies the rules to the document; done holds the definitions
// already rewritten, with their message.
type walker struct {
	defs *object
	done map[string]protoreflect.MessageDescriptor
}

func (w *walker) operation(op *object, methods map[string]protoreflect.MethodDescriptor) error {
	id := op.str("operationId")
	md, binding := methods[id], 0
	if md == nil {
		// An additional binding: Service_Method2, Service_Method3, ...
		base := strings.TrimRight(id, "0123456789")
		n, err := strconv.Atoi(id[len(base):])
		if md = methods[base]; md == nil || err != nil {
			return fmt.Errorf("operationId %q names no method of %s", id, protoPackage)
		}
		binding = n - 1
	}
	if md.IsStreamingServer() {
		op.set("produces", slices.Clone(streamMediaTypes), operationOrder)
	}
	params, _ := op.get("parameters").([]any)
	for _, pv := range params {
		p, _ := pv.(*object)
		switch in := p.str("in"); in {
		case "query", "path":
			if err := w.parameter(p, md.Input()); err != nil {
				return err
			}
		case "body":
			if err := w.body(p.obj("schema"), md, binding); err != nil {
				return err
			}
		}
	}
	return nil
}

// parameter applies the rules of the field a query or path parameter names
// (by its path of proto field names, such as "page_size" or "a.b").
func (w *walker) parameter(p *object, msg protoreflect.MessageDescriptor) error {
	name := p.str("name")
	var fd protoreflect.FieldDescriptor
	required := true
	for _, part := range strings.Split(name, ".") {
		if msg == nil {
			return fmt.Errorf("parameter %q: no such field in %s", name, fd.FullName())
		}
		if fd = msg.Fields().ByName(protoreflect.Name(part)); fd == nil {
			return fmt.Errorf("parameter %q: %s has no field %q", name, msg.FullName(), part)
		}
		r := fieldRules(fd)
		required = required && r.GetRequired() && !ignored(r)
		msg = fd.Message()
	}
	if fd.ContainingMessage().ParentFile().Package() != protoPackage {
		return nil
	}
	r := fieldRules(fd)
	if ignored(r) {
		return nil
	}
	if required && p.str("in") == "query" {
		p.set("required", true, paramOrder)
	}
	return applyField(p, fd, r, paramOrder)
}

// body applies the rules of method md's request body to its schema s.
func (w *walker) body(s *object, md protoreflect.MethodDescriptor, binding int) error {
	if s == nil {
		return nil
	}
	rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	if binding > 0 {
		if binding > len(rule.GetAdditionalBindings()) {
			return fmt.Errorf("%s has no HTTP binding %d", md.FullName(), binding+1)
		}
		rule = rule.GetAdditionalBindings()[binding-1]
	}
	msg := md.Input()
	if f := rule.GetBody(); f != "" && f != "*" {
		fd := msg.Fields().ByName(protoreflect.Name(f))
		if fd == nil {
			return fmt.Errorf("%s: body field %q not found", md.FullName(), f)
		}
		if fd.Message() == nil || fd.IsList() || fd.IsMap() {
			r := fieldRules(fd)
			if ignored(r) {
				return nil
			}
			return applyField(s, fd, r, schemaOrder)
		}
		msg = fd.Message()
	}
	return w.schema(s, msg)
}

// schema applies the rules of msg to s, a schema of it: a reference to a
// definition, or the schema itself written inline.
func (w *walker) schema(s *object, msg protoreflect.MessageDescriptor) error {
	ref := s.str("$ref")
	if ref == "" {
		return w.message(s, msg)
	}
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	def := w.defs.obj(name)
	if !ok || def == nil {
		return fmt.Errorf("reference %q: no such definition", ref)
	}
	if prev, seen := w.done[name]; seen {
		if prev != msg {
			return fmt.Errorf("definition %q is both %s and %s", name, prev.FullName(), msg.FullName())
		}
		return nil
	}
	w.done[name] = msg
	return w.message(def, msg)
}

// message applies the rules of msg's fields to s's properties, and goes on
// into the properties that are messages.
func (w *walker) message(s *object, msg protoreflect.MessageDescriptor) error {
	if msg.ParentFile().Package() != protoPackage {
		return nil // a well-known type: no rules here
	}
	props := s.obj("properties")
	if props == nil {
		return nil
	}
	var required []string
	for _, name := range props.keys {
		fd := msg.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return fmt.Errorf("property %q is no field of %s (the document must use proto field names: json_names_for_fields=false)", name, msg.FullName())
		}
		prop := props.obj(name)
		r := fieldRules(fd)
		if prop == nil || ignored(r) {
			continue
		}
		if r.GetRequired() {
			required = append(required, name)
		}
		if err := applyField(prop, fd, r, schemaOrder); err != nil {
			return fmt.Errorf("%s: %w", fd.FullName(), err)
		}
		var err error
		switch {
		case fd.IsMap():
			if vd := fd.MapValue(); vd.Message() != nil {
				if ap := prop.obj("additionalProperties"); ap != nil {
					err = w.schema(ap, vd.Message())
				}
			}
		case fd.Message() != nil && fd.IsList():
			if items := prop.obj("items"); items != nil {
				err = w.schema(items, fd.Message())
			}
		case fd.Message() != nil:
			err = w.schema(prop, fd.Message())
		}
		if err != nil {
			return err
		}
	}
	if len(required) > 0 {
		have, _ := s.get("required").([]any)
		for _, name := range required {
			if !slices.Contains(have, any(name)) {
				have = append(have, name)
			}
		}
		s.set("required", have, schemaOrder)
	}
	return nil
}

// applyField sets on target (a property or a parameter) the keywords of
// field fd's rules r.
func applyField(target *object, fd protoreflect.FieldDescriptor, r *validate.FieldRules, order []string) error {
	if fd.IsMap() {
		return nil
	}
	if fd.IsList() {
		list, items, err := listKeywords(fd, r)
		if err != nil {
			return err
		}
		setAll(target, list, order)
		if it := target.obj("items"); it != nil {
			setAll(it, items, schemaOrder)
		}
		return nil
	}
	kws, err := scalarKeywords(fd, r, r.GetRequired() && !fd.HasPresence())
	if err != nil {
		return err
	}
	setAll(target, kws, order)
	return nil
}

func setAll(target *object, kws []kv, order []string) {
	for _, k := range kws {
		if k.key == "format" {
			if f := target.str("format"); f != "" && f != k.val {
				continue // keep the type's own format
			}
		}
		target.set(k.key, k.val, order)
	}
}
