package gateway

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// route is one HTTP binding of an RPC, read from its google.api.http
// option.
type route struct {
	rpc   protoreflect.MethodDescriptor
	body  string          // "*", a field, or "" (no body)
	vars  map[string]bool // fields bound by the path
	query bool            // fields not in the path or body may be query parameters
}

// captures finds the path variables of a template ("{region_id}" or
// "{name=foo/*}").
var captures = regexp.MustCompile(`\{([^=}]+)(=[^}]*)?\}`)

// routeTable maps "METHOD pattern" (the pattern as runtime.Pattern prints
// it, "{x}" as "{x=*}") to its route, for every binding of every method.
func routeTable(files ...protoreflect.ServiceDescriptors) map[string]*route {
	table := map[string]*route{}
	for _, services := range files {
		for i := range services.Len() {
			addRoutes(table, services.Get(i).Methods())
		}
	}
	return table
}

func addRoutes(table map[string]*route, ms protoreflect.MethodDescriptors) {
	for j := range ms.Len() {
		m := ms.Get(j)
		rule, ok := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
		if !ok || rule == nil {
			continue
		}
		for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
			method, tmpl := binding(r)
			if method == "" {
				continue
			}
			rt := &route{rpc: m, body: r.GetBody(), vars: map[string]bool{}}
			rt.query = rt.body != "*"
			for _, c := range captures.FindAllStringSubmatch(tmpl, -1) {
				rt.vars[c[1]] = true
			}
			pattern := captures.ReplaceAllStringFunc(tmpl, func(s string) string {
				if strings.Contains(s, "=") {
					return s
				}
				return strings.TrimSuffix(s, "}") + "=*}"
			})
			table[method+" "+pattern] = rt
		}
	}
}

func binding(r *annotations.HttpRule) (method, tmpl string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	case *annotations.HttpRule_Custom:
		return p.Custom.GetKind(), p.Custom.GetPath()
	}
	return "", ""
}

// checkRoute runs once grpc-gateway has matched a route, before the
// handler: it refuses query parameters the request message does not have,
// and answers the method probes of allowedMethods.
func (g *gateway) checkRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, pathParams map[string]string) {
		if p, ok := r.Context().Value(probeKey{}).(*bool); ok {
			*p = true
			return
		}
		// Most calls have no query; only those that do look their route up.
		if pat, ok := runtime.HTTPPattern(r.Context()); ok && r.URL.RawQuery != "" {
			if rt := g.routes[r.Method+" "+pat.String()]; rt != nil {
				if err := rt.checkQuery(r.URL.Query()); err != nil {
					g.refuse(w, r, "query", http.StatusBadRequest, err)
					return
				}
			}
		}
		next(w, r, pathParams)
	}
}

// checkQuery refuses query parameters that name no field of the request,
// or a field the path or body already sets.
func (rt *route) checkQuery(q url.Values) *status.Status {
	var bad []string
	for k := range q {
		top, ok := fieldPath(rt.rpc.Input(), k)
		if !ok || !rt.query || rt.vars[top] || top == rt.body {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	st := status.Newf(codes.InvalidArgument, "unknown query parameter %q of %s", bad[0], rt.rpc.Name())
	br := &errdetails.BadRequest{}
	for _, k := range bad {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field: k, Description: "not a query parameter of " + string(rt.rpc.Name()), Reason: "UNKNOWN_QUERY_PARAMETER",
		})
	}
	if ds, err := st.WithDetails(br); err == nil {
		st = ds
	}
	return st
}

// fieldPath resolves path ("a.b.c", proto or JSON names) to a field of md
// that a query parameter can set, and returns the proto name of its first
// segment (the field of md it is in).
func fieldPath(md protoreflect.MessageDescriptor, path string) (top string, ok bool) {
	segs := strings.Split(path, ".")
	for i, s := range segs {
		fd := md.Fields().ByName(protoreflect.Name(s))
		if fd == nil {
			fd = md.Fields().ByJSONName(s)
		}
		if fd == nil {
			return "", false
		}
		if i == 0 {
			top = string(fd.Name())
		}
		if i == len(segs)-1 {
			return top, true
		}
		if fd.Message() == nil || fd.IsList() || fd.IsMap() {
			return "", false
		}
		md = fd.Message()
	}
	return "", false
}

// probeKey marks a request that allowedMethods sends through the mux only
// to learn whether its method matches a route.
type probeKey struct{}

func isProbe(r *http.Request) bool {
	_, ok := r.Context().Value(probeKey{}).(*bool)
	return ok
}

// probeMethods are the methods a route may have.
var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods asks the mux which methods r's path has: the mux is the
// one authority on matching. A probe never reaches a handler (checkRoute
// stops it), and its errors are not written (errorHandler,
// routingErrorHandler).
func (g *gateway) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range probeMethods {
		if m == r.Method {
			continue
		}
		matched := false
		pr := r.Clone(context.WithValue(r.Context(), probeKey{}, &matched))
		pr.Method, pr.Body, pr.ContentLength = m, http.NoBody, 0
		g.mux.ServeHTTP(discard{}, pr)
		if matched {
			allow = append(allow, m)
		}
	}
	return allow
}

// routingErrorHandler answers a path no route has with 404, and a method
// the path's routes do not have with 405 and Allow.
func (g *gateway) routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if isProbe(r) {
		return
	}
	if httpStatus == http.StatusMethodNotAllowed {
		allow := g.allowedMethods(r)
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			g.refuse(w, r, "method", http.StatusMethodNotAllowed, status.Newf(codes.Unimplemented,
				"method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
