package upstream

import (
	"bytes"
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	json "github.com/go-json-experiment/json/v1"
)

// FuzzDecoderMatchesEncodingJSON decodes each body as a reply of every type,
// once with the package's decoder and once with encoding/json's in its place
// (for the envelope, the wire types and every UnmarshalJSON under them), and
// requires the same outcome: the same error, or the same request id and
// value. Bodies where one object gives a key twice, in spellings that differ
// in case, are left out: there the two choose differently which field the
// second fills (see unmarshal).
//
// From Go 1.27 (goexperiment.jsonv2), the package's decoder is encoding/json
// itself and the two runs are one.
func FuzzDecoderMatchesEncodingJSON(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, 200+100*(i%4))
	}
	f.Add(`{"Code":"Success","Data":{"ResourceId":"a","resourceid":"b","RESOURCEID":"c"}}`, 200)
	f.Add(`{"Code":"Success","Data":{"Cpu":1e2,"Ram":-0,"IsAutoRenewal":"1","Cpu":3}}`, 200)
	f.Add(`{"Code":"Success","Data":{"TradeAmount":-1.50e3,"UnitPrice":true}}`, 200)
	f.Add(`{"Code":"Success","Data":{"Records":[{"Networks":{"NetworkCards":[{"EipAddress":"1","eipAddress":"2"}]}}]}}`, 200)
	f.Add("{\"Code\":\"Success\",\"Data\":{\"Name\":\"\xff\xfe\"}}", 200)
	f.Add(`{"Code":"Success","Data":{"Name":"\ud800"}}`, 200)
	f.Add(`{"Code":"InstanceNotFound","Message":["x"],"RequestId":7}`, 404)
	f.Fuzz(func(t *testing.T, body string, status int) {
		if repeatsFoldedKey(body) {
			t.Skip()
		}
		for _, mk := range fuzzOuts {
			got, want := decoded{val: mk()}, decoded{val: mk()}
			got.rid, got.err = decodeReply("Fuzz", status, nil, []byte(body), got.val)
			withDecoder(stdjson.Unmarshal, func() {
				want.rid, want.err = decodeReply("Fuzz", status, nil, []byte(body), want.val)
			})
			sameDecoding(t, want, got, "-encoding/json +decoder")
		}
	})
}

// withDecoder runs f with dec as the package's JSON decoding.
func withDecoder(dec func([]byte, any) error, f func()) {
	old := decoder.Swap(&dec)
	defer decoder.Store(old)
	f()
}

// repeatsFoldedKey reports whether an object anywhere in body gives a key
// twice, in two spellings that differ in case only.
func repeatsFoldedKey(body string) bool {
	dec := stdjson.NewDecoder(strings.NewReader(string(bytes.TrimPrefix(bytes.TrimSpace([]byte(body)), []byte("\xef\xbb\xbf")))))
	type level struct {
		keys    map[string]string // folded key: spelling; nil in an array
		wantKey bool
	}
	var stack []*level
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case stdjson.Delim('{'):
			stack = append(stack, &level{keys: map[string]string{}, wantKey: true})
			continue
		case stdjson.Delim('['):
			stack = append(stack, &level{})
			continue
		case stdjson.Delim('}'), stdjson.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			l := stack[n-1]
			key, _ := tok.(string)
			folded := strings.ToUpper(strings.ToLower(key))
			if seen, ok := l.keys[folded]; ok && seen != key {
				return true
			}
			l.keys[folded], l.wantKey = key, false
			continue
		}
		valueDone()
	}
}

// FuzzBodiesMatchEncodingJSON: every request body the client posts, each
// field filled from the inputs, is the same bytes from the package's JSON
// as from encoding/json (the body is signed as it is).
func FuzzBodiesMatchEncodingJSON(f *testing.F) {
	f.Add("gpu-0001", int64(2))
	f.Add(`<a href="x">&amp;</a>`, int64(-1))
	f.Add("中国大陆\u2028\u2029\x00\x1f\"\\/", int64(1<<40))
	f.Add("", int64(0))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		if !utf8.ValidString(s) {
			t.Skip() // requests come from protobuf messages, whose strings are UTF-8
		}
		reinstall, create := new(ReinstallGpuRequest), new(CreateGpuInstanceRequest)
		fill(reflect.ValueOf(reinstall).Elem(), s, n)
		fill(reflect.ValueOf(create).Elem(), s, n)
		bodies := []any{
			reinstallBody{ReinstallGpuRequest: reinstall, Password: s},
			createBody{CreateGpuInstanceRequest: create, Password: s},
			reinstall, create,
			new(DescribeGpuGoodsPriceRequest), new(DescribeGpuImageRequest), new(OperateGpuPowerRequest),
			new(DeleteGpuInstancesRequest), new(DescribeVPCRequest), new(DescribeSubnetRequest), new(DescribeEIPRequest),
			DeleteGpuInstancesRequest{ResourceIDs: nonNil(nil)},
		}
		for _, b := range bodies[4:11] {
			fill(reflect.ValueOf(b).Elem(), s, n)
		}
		for _, b := range bodies {
			want, errWant := stdjson.Marshal(b)
			got, errGot := json.Marshal(b)
			if (errWant == nil) != (errGot == nil) || !bytes.Equal(want, got) {
				t.Fatalf("%T: encoding/json gives %s (%v), the package %s (%v)", b, want, errWant, got, errGot)
			}
		}
	})
}

// fill sets every exported field of v, a struct, from s and n.
func fill(v reflect.Value, s string, n int64) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(s)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(n)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(n))
		case reflect.Bool:
			f.SetBool(n%2 == 0)
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.String {
				f.Set(reflect.ValueOf([]string{s, s + "2"}).Convert(f.Type()))
			}
		case reflect.Struct:
			fill(f, s, n)
		case reflect.Pointer:
			if f.Type().Elem().Kind() == reflect.Struct {
				f.Set(reflect.New(f.Type().Elem()))
				fill(f.Elem(), s, n)
			}
		}
	}
}
