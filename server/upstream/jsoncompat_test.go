package upstream

import (
	stdjson "encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	json "github.com/go-json-experiment/json/v1"
)

// FuzzDecoderMatchesEncodingJSON: the package's JSON decoder (encoding/json's
// API and behaviour on the v2 implementation) accepts and refuses what
// encoding/json does, and decodes to the same values, for every reply type
// and whole envelopes.
func FuzzDecoderMatchesEncodingJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Add(`{"Code":"Success","Data":{"ResourceId":"a","resourceid":"b","RESOURCEID":"c"}}`)
	f.Add(`{"Code":"Success","Data":{"Cpu":1e2,"Ram":-0,"IsAutoRenewal":"1"}}`)
	f.Add("{\"Code\":\"Success\",\"Data\":{\"Name\":\"\xff\xfe\"}}")
	f.Add(`{"Code":"Success","Data":{"Name":"\ud800"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		outs := append([]func() any{func() any { return new(successEnvelope) }, func() any { return new(envelope) }}, fuzzOuts...)
		for _, mk := range outs {
			want, got := mk(), mk()
			errWant := stdjson.Unmarshal([]byte(body), want)
			errGot := json.Unmarshal([]byte(body), got)
			if (errWant == nil) != (errGot == nil) {
				t.Fatalf("%T: encoding/json says %v, the decoder %v", want, errWant, errGot)
			}
			if diff := cmp.Diff(want, got); errWant == nil && diff != "" {
				t.Fatalf("%T: values differ (-encoding/json +decoder):\n%s", want, diff)
			}
		}
	})
}
