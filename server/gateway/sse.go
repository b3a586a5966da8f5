package gateway

import (
	"bytes"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"
)

// mimeEventStream is the media type of Server-Sent Events.
const mimeEventStream = "text/event-stream"

// sseMarshalerOption makes server streams answer Server-Sent Events to a
// caller whose Accept header asks for text/event-stream (as a browser's
// EventSource does); everyone else keeps newline-delimited JSON. json
// encodes each event's data.
//
// Each stream message becomes one event: "data: <the message as JSON>" and a
// blank line. An error after the first event is a final "event: error" whose
// data is the google.rpc.Status as JSON; an error before it keeps its real
// HTTP status (404 for an unknown task, ...) with the same error event as the
// body. Unary calls and errors raised before the call starts are plain JSON,
// as without the header.
//
// A stream that ends normally just closes. EventSource reconnects by itself
// after that, so a page should close it once it has seen a terminal status.
func sseMarshalerOption(json runtime.Marshaler) runtime.ServeMuxOption {
	withMarshaler := runtime.WithMarshalerOption(mimeEventStream, &sseMarshaler{Marshaler: json})
	withHeaders := runtime.WithMiddlewares(sseRequests)
	return func(mux *runtime.ServeMux) {
		withMarshaler(mux)
		withHeaders(mux)
	}
}

// sseRequests prepares requests that accept text/event-stream. grpc-gateway
// picks a marshaler only on an exact Accept value, so a list such as
// "text/event-stream, */*" is narrowed to the one type; and the reply must
// not be cached or buffered by proxies.
func sseRequests(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, pathParams map[string]string) {
		if acceptsEventStream(r.Header.Values("Accept")) {
			r = r.Clone(r.Context())
			r.Header.Set("Accept", mimeEventStream)
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("X-Accel-Buffering", "no")
		}
		next(w, r, pathParams)
	}
}

// acceptsEventStream reports whether one of the Accept values names
// text/event-stream explicitly (a wildcard is not enough).
func acceptsEventStream(accept []string) bool {
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == mimeEventStream && !refused(params) {
				return true
			}
		}
	}
	return false
}

// refused reports whether a media range's parameters carry q=0, which
// means "not acceptable" however it is written (0, 0.0, 0.000).
func refused(params map[string]string) bool {
	q, ok := params["q"]
	if !ok {
		return false
	}
	v, err := strconv.ParseFloat(q, 64)
	return err == nil && v == 0
}

// sseMarshaler frames grpc-gateway's stream chunks as Server-Sent Events and
// leaves everything else to the JSON marshaler it wraps (decoding request
// bodies included).
type sseMarshaler struct {
	runtime.Marshaler
}

// Marshal frames a stream chunk as an event (without the blank line that
// ends it: that is the Delimiter). grpc-gateway wraps each stream message as
// {"result": msg} and a stream error as {"error": status}; any other value
// is a unary reply or an error reply and is plain JSON.
func (m *sseMarshaler) Marshal(v any) ([]byte, error) {
	switch chunk := v.(type) {
	case map[string]any:
		if msg, ok := chunk["result"]; ok && len(chunk) == 1 {
			return m.event("", msg)
		}
	case map[string]proto.Message:
		if st, ok := chunk["error"]; ok && len(chunk) == 1 {
			return m.event("error", st)
		}
	}
	return m.Marshaler.Marshal(v)
}

// event encodes one event: an optional name, then the JSON data, one "data:"
// line per line of it.
func (m *sseMarshaler) event(name string, v any) ([]byte, error) {
	data, err := m.Marshaler.Marshal(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	for line := range bytes.Lines(data) {
		b.WriteString("data: ")
		b.Write(bytes.TrimRight(line, "\r\n"))
		b.WriteByte('\n')
	}
	if len(data) == 0 {
		b.WriteString("data: \n")
	}
	return b.Bytes(), nil
}

// Delimiter ends each event with the blank line SSE requires.
func (*sseMarshaler) Delimiter() []byte { return []byte("\n") }

// ContentType is text/event-stream for a stream's error chunk (sent as the
// whole body when the stream fails before its first event) and JSON for
// anything else.
func (m *sseMarshaler) ContentType(v any) string {
	if chunk, ok := v.(map[string]proto.Message); ok {
		if _, ok := chunk["error"]; ok {
			return mimeEventStream
		}
	}
	return m.Marshaler.ContentType(v)
}

// StreamContentType is the content type of a stream that has sent events.
func (*sseMarshaler) StreamContentType(any) string { return mimeEventStream }
