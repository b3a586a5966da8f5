package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Provider error codes the emulator replies with.
const (
	codeSuccess               = "Success"
	codeParameterInvalid      = "ParameterInvalid"
	codeParameterIsEmpty      = "ParameterIsEmpty"
	codeAmountOversize        = "AmountOversize"
	codeDataNotExists         = "DataNotExists"
	codeInstanceNotFound      = "InstanceNotFound"
	codeImageNotFound         = "ImageNotFound"
	codeNotSufficient         = "NotSufficient"
	codeInstanceError         = "InstanceError"
	codeInvalidAccessKeyID    = "InvalidAccessKeyId"
	codeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	codeSignatureNonceUsed    = "SignatureNonceUsed"
	codeRequestExpired        = "RequestExpired"
	codeInvalidVersion        = "InvalidVersion"
	codeInvalidAction         = "InvalidAction"
	codeMalformedJSON         = "MalformedJSON"
	codeInternalError         = "InternalError"
	codeThrottling            = "Throttling"
	codeVdcNotFound           = "VdcNotFound"
	codePipeIDNotFound        = "PipeIdNotFound"
	codeIPNotEnough           = "IpNotEnough"
)

// apiError is an error reply: a provider code and message, HTTP 400.
type apiError struct {
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func apiErr(code, format string, a ...any) *apiError {
	return &apiError{code: code, message: fmt.Sprintf(format, a...)}
}

func empty(name string) *apiError {
	return apiErr(codeParameterIsEmpty, "参数%s不能为空", name)
}

func invalid(name, why string) *apiError {
	return apiErr(codeParameterInvalid, "参数%s无效: %s", name, why)
}

// maxIDLen bounds the identifiers a server keeps (VpcId, NetId): the
// contract's own limit, so state stays bounded in bytes.
const maxIDLen = 64

// maxBody bounds a POST body.
const maxBody = 1 << 20

// args reads an action's parameters: from the query for GET actions, from
// the JSON body for POST ones. The first problem is kept in err (shared with
// nested objects) and makes every later read return a zero value, so a parser
// reads everything and checks the error once.
type args struct {
	q    url.Values                 // GET
	m    map[string]json.RawMessage // POST
	path string                     // prefix naming nested objects in messages
	err  *error
}

func queryArgs(q url.Values) *args { return &args{q: q, err: new(error)} }

// readBody reads a POST body (an empty one is {}).
func readBody(w http.ResponseWriter, r *http.Request) (*args, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apiErr(codeMalformedJSON, "请求体超过%d字节", maxBody)
		}
		return nil, apiErr(codeMalformedJSON, "读取请求体失败")
	}
	return bodyArgs(data)
}

// bodyArgs parses a JSON object body.
func bodyArgs(data []byte) (*args, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return &args{m: map[string]json.RawMessage{}, err: new(error)}, nil
	}
	if data[0] != '{' {
		return nil, apiErr(codeMalformedJSON, "请求体必须是JSON对象")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, apiErr(codeMalformedJSON, "请求体不是合法的JSON")
	}
	return &args{m: m, err: new(error)}, nil
}

func (a *args) fail(err *apiError) {
	if *a.err == nil {
		*a.err = err
	}
}

// failed reports the first problem, if any.
func (a *args) failed() error { return *a.err }

// check records err unless ok.
func (a *args) check(ok bool, err *apiError) {
	if !ok {
		a.fail(err)
	}
}

func (a *args) name(n string) string { return a.path + n }

// raw returns the JSON value of name; JSON null counts as absent.
func (a *args) raw(name string) (json.RawMessage, bool) {
	v, ok := a.m[name]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

func (a *args) typeErr(name, want string) {
	a.fail(apiErr(codeParameterInvalid, "参数%s类型错误，应为%s", a.name(name), want))
}

// str reads a string; required means present and not empty.
func (a *args) str(name string, required bool) string {
	if *a.err != nil {
		return ""
	}
	var s string
	if a.q != nil {
		s = a.q.Get(name)
	} else if v, ok := a.raw(name); ok {
		if v[0] != '"' || json.Unmarshal(v, &s) != nil {
			a.typeErr(name, "string")
			return ""
		}
	}
	if required && s == "" {
		a.fail(empty(a.name(name)))
	}
	return s
}

// id reads a required identifier of at most maxIDLen bytes.
func (a *args) id(name string) string {
	s := a.str(name, true)
	a.check(len(s) <= maxIDLen, invalid(a.name(name), fmt.Sprintf("长度不超过%d", maxIDLen)))
	return s
}

// integer reads an integer; ok is false when it is absent (or on error).
func (a *args) integer(name string, required bool) (n int64, ok bool) {
	if *a.err != nil {
		return 0, false
	}
	var text string
	if a.q != nil {
		text = a.q.Get(name)
	} else if v, present := a.raw(name); present {
		if c := v[0]; c != '-' && (c < '0' || c > '9') {
			a.typeErr(name, "int")
			return 0, false
		}
		text = string(v)
	}
	if text == "" {
		if required {
			a.fail(empty(a.name(name)))
		}
		return 0, false
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		a.typeErr(name, "int")
		return 0, false
	}
	return n, true
}

// boolean reads a JSON boolean (POST only); absent is false.
func (a *args) boolean(name string) bool {
	v, ok := a.raw(name)
	if *a.err != nil || !ok {
		return false
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		a.typeErr(name, "bool")
	}
	return b
}

// list reads a JSON array (POST only); required means present and not empty.
func (a *args) list(name string, required bool) []json.RawMessage {
	if *a.err != nil {
		return nil
	}
	v, ok := a.raw(name)
	if !ok {
		if required {
			a.fail(empty(a.name(name)))
		}
		return nil
	}
	var l []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &l) != nil {
		a.typeErr(name, "list")
		return nil
	}
	if required && len(l) == 0 {
		a.fail(empty(a.name(name)))
	}
	return l
}

// strs reads a list of strings.
func (a *args) strs(name string, required bool) []string {
	l := a.list(name, required)
	out := make([]string, 0, len(l))
	for _, v := range l {
		var s string
		if v[0] != '"' || json.Unmarshal(v, &s) != nil {
			a.typeErr(name, "list of string")
			return nil
		}
		out = append(out, s)
	}
	return out
}

// ints reads a list of integers.
func (a *args) ints(name string) []int64 {
	l := a.list(name, false)
	out := make([]int64, 0, len(l))
	for _, v := range l {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			a.typeErr(name, "list of int")
			return nil
		}
		out = append(out, n)
	}
	return out
}

// object reads a nested JSON object; nil when absent (or on error).
func (a *args) object(name string, required bool) *args {
	if *a.err != nil {
		return nil
	}
	v, ok := a.raw(name)
	if !ok {
		if required {
			a.fail(empty(a.name(name)))
		}
		return nil
	}
	return a.nested(name, v)
}

func (a *args) nested(name string, v json.RawMessage) *args {
	var m map[string]json.RawMessage
	if v[0] != '{' || json.Unmarshal(v, &m) != nil {
		a.typeErr(name, "object")
		return nil
	}
	return &args{m: m, path: a.name(name) + ".", err: a.err}
}

// objects reads a list of objects.
func (a *args) objects(name string) []*args {
	l := a.list(name, false)
	out := make([]*args, 0, len(l))
	for i, v := range l {
		o := a.nested(fmt.Sprintf("%s[%d]", name, i), v)
		if o == nil {
			return nil
		}
		out = append(out, o)
	}
	return out
}
