package main

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// kv is one OpenAPI keyword with its value.
type kv struct {
	key string
	val any
}

// fieldRules returns the protovalidate rules of fd (empty when it has none).
func fieldRules(fd protoreflect.FieldDescriptor) *validate.FieldRules {
	r, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	if r == nil {
		return &validate.FieldRules{}
	}
	return r
}

// ignored reports whether protovalidate skips the field altogether.
func ignored(r *validate.FieldRules) bool { return r.GetIgnore() == validate.Ignore_IGNORE_ALWAYS }

// listKeywords returns the keywords of a repeated field itself (the array),
// and those of its items.
func listKeywords(fd protoreflect.FieldDescriptor, r *validate.FieldRules) (list, items []kv, err error) {
	rep := r.GetRepeated()
	minItems := rep.GetMinItems()
	if r.GetRequired() {
		// required on a repeated field means "not empty".
		minItems = max(minItems, 1)
	}
	if has(rep, "max_items") {
		list = append(list, kv{"maxItems", uintNumber(rep.GetMaxItems())})
	}
	if minItems > 0 {
		list = append(list, kv{"minItems", uintNumber(minItems)})
	}
	if rep.GetUnique() {
		list = append(list, kv{"uniqueItems", true})
	}
	if rep.GetItems() != nil {
		items, err = scalarKeywords(fd, rep.GetItems(), false)
	}
	return list, items, err
}

// scalarKeywords returns the keywords of one value of fd under the rules r.
// nonEmpty says the value must not be the zero value (required on a field
// without presence).
func scalarKeywords(fd protoreflect.FieldDescriptor, r *validate.FieldRules, nonEmpty bool) ([]kv, error) {
	switch r.GetType().(type) {
	case *validate.FieldRules_String_:
		return stringKeywords(r.GetString(), nonEmpty)
	case *validate.FieldRules_Enum:
		return enumKeywords(fd.Enum(), r.GetEnum()), nil
	case *validate.FieldRules_Bool:
		if b := r.GetBool(); has(b, "const") {
			return []kv{{"enum", []any{b.GetConst()}}}, nil
		}
	case *validate.FieldRules_Float, *validate.FieldRules_Double,
		*validate.FieldRules_Int32, *validate.FieldRules_Int64,
		*validate.FieldRules_Uint32, *validate.FieldRules_Uint64,
		*validate.FieldRules_Sint32, *validate.FieldRules_Sint64,
		*validate.FieldRules_Fixed32, *validate.FieldRules_Fixed64,
		*validate.FieldRules_Sfixed32, *validate.FieldRules_Sfixed64:
		// All numeric rules have the same fields; read them by name.
		m := r.ProtoReflect()
		od := m.Descriptor().Oneofs().ByName("type")
		return numericKeywords(fd, m.Get(m.WhichOneof(od)).Message()), nil
	}
	if nonEmpty && fd.Kind() == protoreflect.StringKind {
		return []kv{{"minLength", uintNumber(1)}}, nil
	}
	return nil, nil
}

// stringFormats are the well-known string rules that OpenAPI has a format
// for. (ip, either version, has none.)
var stringFormats = []struct{ rule, format string }{
	{"email", "email"},
	{"hostname", "hostname"},
	{"ipv4", "ipv4"},
	{"ipv6", "ipv6"},
	{"uri", "uri"},
	{"uuid", "uuid"},
}

func stringKeywords(s *validate.StringRules, nonEmpty bool) ([]kv, error) {
	var enum []any
	switch {
	case has(s, "const"):
		enum = []any{s.GetConst()}
	case len(s.GetIn()) > 0:
		enum = toAny(s.GetIn())
	}
	format := ""
	m := s.ProtoReflect()
	for _, f := range stringFormats {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(f.rule))
		if fd != nil && m.Has(fd) && m.Get(fd).Bool() {
			format = f.format
		}
	}
	var out []kv
	var minLen, maxLen uint64
	hasMax := false
	if nonEmpty && enum == nil && format == "" {
		minLen = 1 // not "" (an enum or a format says it already)
	}
	tighten := func(lo uint64, hi uint64, bounded bool) {
		minLen = max(minLen, lo)
		if bounded && (!hasMax || hi < maxLen) {
			maxLen, hasMax = hi, true
		}
	}
	if has(s, "len") {
		tighten(s.GetLen(), s.GetLen(), true)
	}
	if has(s, "min_len") {
		tighten(s.GetMinLen(), 0, false)
	}
	if has(s, "max_len") {
		tighten(0, s.GetMaxLen(), true)
	}
	pattern := s.GetPattern()

	// Predefined rules (extensions of StringRules, such as gpubms.v1.id)
	// whose CEL is a regular expression match, by field number.
	type ext struct {
		xd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var exts []ext
	s.ProtoReflect().Range(func(xd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if xd.IsExtension() {
			exts = append(exts, ext{xd, v})
		}
		return true
	})
	slices.SortFunc(exts, func(a, b ext) int { return int(a.xd.Number()) - int(b.xd.Number()) })
	for _, x := range exts {
		re, err := predefinedPattern(x.xd, x.v)
		if err != nil {
			return nil, err
		}
		if re == "" {
			continue
		}
		if pattern == "" {
			pattern = re
		}
		lo, hi, bounded, err := patternLengths(re)
		if err != nil {
			return nil, fmt.Errorf("predefined rule %s: %w", x.xd.FullName(), err)
		}
		tighten(lo, hi, bounded)
	}

	if hasMax {
		out = append(out, kv{"maxLength", uintNumber(maxLen)})
	}
	if minLen > 0 {
		out = append(out, kv{"minLength", uintNumber(minLen)})
	}
	if pattern != "" {
		out = append(out, kv{"pattern", pattern})
	}
	if enum != nil {
		out = append(out, kv{"enum", enum})
	}
	if format != "" {
		out = append(out, kv{"format", format})
	}
	return out, nil
}

// celMatches is the CEL of a predefined rule that this tool understands: a
// bool rule that, when true, requires a match of a regular expression.
var celMatches = regexp.MustCompile(`^\s*(!\s*rule\s*\|\|\s*)?this\.matches\(\s*'((?:[^'\\]|\\.)*)'\s*\)\s*$`)

// predefinedPattern returns the regular expression the predefined rule xd,
// set to v, requires, or "" when it requires none this tool understands.
func predefinedPattern(xd protoreflect.FieldDescriptor, v protoreflect.Value) (string, error) {
	pre, _ := proto.GetExtension(xd.Options(), validate.E_Predefined).(*validate.PredefinedRules)
	for _, rule := range pre.GetCel() {
		m := celMatches.FindStringSubmatch(rule.GetExpression())
		if m == nil {
			continue
		}
		if guarded := m[1] != ""; guarded && (xd.Kind() != protoreflect.BoolKind || !v.Bool()) {
			continue
		}
		re, err := unquoteCEL(m[2])
		if err != nil {
			return "", fmt.Errorf("predefined rule %s: %w", xd.FullName(), err)
		}
		return re, nil
	}
	return "", nil
}

// unquoteCEL decodes the body of a single-quoted CEL string literal, for
// the escapes a regular expression needs.
func unquoteCEL(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case '\\', '\'', '"':
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("CEL escape \\%c not supported", c)
		}
	}
	return b.String(), nil
}

// patternLengths returns the least and, when bounded, the greatest length
// in characters of a string that the regular expression re matches
// (protovalidate's RE2 syntax; unanchored matches leave the length
// unbounded).
func patternLengths(re string) (lo, hi uint64, bounded bool, err error) {
	r, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return 0, 0, false, err
	}
	r = r.Simplify()
	lo, hi, bounded = lengths(r)
	if !(r.Op == syntax.OpConcat && len(r.Sub) > 1 &&
		r.Sub[0].Op == syntax.OpBeginText && r.Sub[len(r.Sub)-1].Op == syntax.OpEndText) {
		bounded = false
	}
	return lo, hi, bounded, nil
}

func lengths(r *syntax.Regexp) (lo, hi uint64, bounded bool) {
	switch r.Op {
	case syntax.OpLiteral:
		n := uint64(len(r.Rune))
		return n, n, true
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1, 1, true
	case syntax.OpCapture:
		return lengths(r.Sub[0])
	case syntax.OpStar:
		return 0, 0, false
	case syntax.OpPlus:
		lo, _, _ := lengths(r.Sub[0])
		return lo, 0, false
	case syntax.OpQuest:
		_, hi, b := lengths(r.Sub[0])
		return 0, hi, b
	case syntax.OpRepeat:
		slo, shi, sb := lengths(r.Sub[0])
		if r.Max < 0 {
			return slo * uint64(r.Min), 0, false
		}
		return slo * uint64(r.Min), shi * uint64(r.Max), sb
	case syntax.OpConcat:
		bounded = true
		for _, s := range r.Sub {
			slo, shi, sb := lengths(s)
			lo, hi, bounded = lo+slo, hi+shi, bounded && sb
		}
		return lo, hi, bounded
	case syntax.OpAlternate:
		for i, s := range r.Sub {
			slo, shi, sb := lengths(s)
			if i == 0 {
				lo, hi, bounded = slo, shi, sb
				continue
			}
			lo, hi, bounded = min(lo, slo), max(hi, shi), bounded && sb
		}
		return lo, hi, bounded
	}
	// Empty-width assertions and the empty match.
	return 0, 0, true
}

// numericKeywords reads the rules message m (Int32Rules, DoubleRules, ...)
// of field fd.
func numericKeywords(fd protoreflect.FieldDescriptor, m protoreflect.Message) []kv {
	fields := m.Descriptor().Fields()
	get := func(name string) (protoreflect.Value, protoreflect.FieldDescriptor, bool) {
		rf := fields.ByName(protoreflect.Name(name))
		if rf == nil || !m.Has(rf) {
			return protoreflect.Value{}, nil, false
		}
		return m.Get(rf), rf, true
	}
	// 64-bit integers are strings in proto JSON, so their enum is too.
	asString := false
	switch fd.Kind() {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		asString = true
	}
	enumValue := func(n json.Number) any {
		if asString {
			return string(n)
		}
		return n
	}

	var out []kv
	if v, rf, ok := get("const"); ok {
		if n, ok := number(rf, v); ok {
			out = append(out, kv{"enum", []any{enumValue(n)}})
		}
	} else if v, rf, ok := get("in"); ok {
		var enum []any
		l := v.List()
		for i := range l.Len() {
			if n, ok := number(rf, l.Get(i)); ok {
				enum = append(enum, enumValue(n))
			}
		}
		if len(enum) > 0 {
			out = append(out, kv{"enum", enum})
		}
	}

	var lower, upper []kv
	var lowerV, upperV float64
	if v, rf, ok := get("gte"); ok {
		if n, ok := number(rf, v); ok {
			lower, lowerV = []kv{{"minimum", n}}, asFloat(rf, v)
		}
	} else if v, rf, ok := get("gt"); ok {
		if n, ok := number(rf, v); ok {
			lower, lowerV = []kv{{"minimum", n}, {"exclusiveMinimum", true}}, asFloat(rf, v)
		}
	}
	if v, rf, ok := get("lte"); ok {
		if n, ok := number(rf, v); ok {
			upper, upperV = []kv{{"maximum", n}}, asFloat(rf, v)
		}
	} else if v, rf, ok := get("lt"); ok {
		if n, ok := number(rf, v); ok {
			upper, upperV = []kv{{"maximum", n}, {"exclusiveMaximum", true}}, asFloat(rf, v)
		}
	}
	// A lower bound above the upper one is protovalidate's "outside the
	// range", which OpenAPI v2 cannot say.
	if lower != nil && upper != nil && lowerV > upperV {
		return out
	}
	return append(append(out, lower...), upper...)
}

// number is a rule value as a JSON number; false for NaN and infinities.
func number(rf protoreflect.FieldDescriptor, v protoreflect.Value) (json.Number, bool) {
	switch rf.Kind() {
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", false
		}
		bits := 64
		if rf.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, bits)), true
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return json.Number(strconv.FormatUint(v.Uint(), 10)), true
	default:
		return json.Number(strconv.FormatInt(v.Int(), 10)), true
	}
}

func asFloat(rf protoreflect.FieldDescriptor, v protoreflect.Value) float64 {
	switch rf.Kind() {
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float()
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return float64(v.Uint())
	default:
		return float64(v.Int())
	}
}

// enumKeywords narrows an enum field's names to those its rules allow.
func enumKeywords(ed protoreflect.EnumDescriptor, e *validate.EnumRules) []kv {
	if !has(e, "const") && len(e.GetIn()) == 0 && len(e.GetNotIn()) == 0 {
		return nil
	}
	var names []any
	values := ed.Values()
	for i := range values.Len() {
		n := int32(values.Get(i).Number())
		switch {
		case has(e, "const") && n != e.GetConst():
		case len(e.GetIn()) > 0 && !slices.Contains(e.GetIn(), n):
		case slices.Contains(e.GetNotIn(), n):
		default:
			names = append(names, string(values.Get(i).Name()))
		}
	}
	return []kv{{"enum", names}}
}

// has reports whether the rules message m sets its field called name.
func has(m proto.Message, name string) bool {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	return fd != nil && r.Has(fd)
}

func uintNumber(n uint64) json.Number { return json.Number(strconv.FormatUint(n, 10)) }

func toAny[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
