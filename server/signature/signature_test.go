package signature

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type vectorFile struct {
	Vectors []struct {
		Method         string            `json:"method"`
		Secret         string            `json:"access_key_secret"`
		Params         map[string]string `json:"params"`
		CanonicalQuery string            `json:"canonical_query"`
		StringToSign   string            `json:"string_to_sign"`
		Signature      string            `json:"signature"`
	} `json:"vectors"`
}

// vectorPath finds the provider's signing vectors: testdata holds a copy so
// the test runs from any checkout; GPUBMS_SIGNATURE_VECTORS may point at
// another file.
func vectorPath() string {
	if p := os.Getenv("GPUBMS_SIGNATURE_VECTORS"); p != "" {
		return p
	}
	return filepath.Join("testdata", "signature-vectors.json")
}

// loadVectors reads and parses the vectors at vectorPath, failing the test if
// there are none.
func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	raw, err := os.ReadFile(vectorPath())
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors in file")
	}
	return f
}

func TestVectors(t *testing.T) {
	f := loadVectors(t)
	for i, v := range f.Vectors {
		params := url.Values{}
		for k, val := range v.Params {
			params.Set(k, val)
		}
		t.Run(v.Params["Action"]+"/"+v.Params["SignatureNonce"], func(t *testing.T) {
			if got := CanonicalQuery(params); got != v.CanonicalQuery {
				t.Errorf("vector %d canonical query:\n got %s\nwant %s", i, got, v.CanonicalQuery)
			}
			if got := StringToSign(v.Method, CanonicalQuery(params)); got != v.StringToSign {
				t.Errorf("vector %d string to sign:\n got %s\nwant %s", i, got, v.StringToSign)
			}
			if got := Sign(v.Method, params, v.Secret); got != v.Signature {
				t.Errorf("vector %d signature: got %s, want %s", i, got, v.Signature)
			}
			signed, err := url.ParseQuery(SignedQuery(v.Method, params, v.Secret))
			if err != nil {
				t.Fatalf("parse signed query: %v", err)
			}
			if got := signed.Get(ParamSignature); got != v.Signature {
				t.Errorf("signed query carries %q, want %q", got, v.Signature)
			}
			if err := Verify(v.Method, signed, v.Secret); err != nil {
				t.Errorf("Verify(own signature) = %v", err)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"abcXYZ019-_.~", "abcXYZ019-_.~"},
		{"a b", "a%20b"},
		{"/", "%2F"},
		{"*+&=%", "%2A%2B%26%3D%25"},
		{"é", "%C3%A9"},
	}
	for _, tt := range tests {
		if got := Encode(tt.in); got != tt.want {
			t.Errorf("Encode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	base := Common(url.Values{"RegionId": {"CN_Hohhot_B"}}, "DescribeGpuGoods", "AK", "n-1", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	signed, _ := url.ParseQuery(SignedQuery("GET", base, "secret"))

	tampered := cloneValues(signed)
	tampered.Set("RegionId", "CN_Other")
	wrongMethod := cloneValues(signed)
	wrongMethod.Set(ParamSignatureMethod, "HMAC-SHA256")
	unsigned := cloneValues(signed)
	unsigned.Del(ParamSignature)

	tests := []struct {
		name   string
		method string
		params url.Values
		secret string
		want   error
	}{
		{"wrong secret", "GET", signed, "other", ErrMismatch},
		{"tampered param", "GET", tampered, "secret", ErrMismatch},
		{"wrong http method", "POST", signed, "secret", ErrMismatch},
		{"wrong signature method", "GET", wrongMethod, "secret", ErrBadMethod},
		{"no signature", "GET", unsigned, "secret", ErrMissingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.method, tt.params, tt.secret); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// BenchmarkSign measures the url.Values path, for comparison with
// BenchmarkSigner. "query" signs prebuilt parameters (the historical
// benchmark); "request" is the whole typical request of BenchmarkSigner:
// common parameters, then the signed query.
func BenchmarkSign(b *testing.B) {
	b.Run("query", func(b *testing.B) {
		p := Common(url.Values{"Name": {"bms 003/a~b*c+d&e=f"}, "PageSize": {"10"}}, "DescribeGpu", "AKIDEXAMPLE", "3f1d2c4e-0000-4000-8000-000000000002", time.Now())
		b.ReportAllocs()
		for b.Loop() {
			_ = SignedQuery("GET", p, "secret")
		}
	})
	b.Run("request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p := url.Values{"RegionId": {benchRegion}, "ResourceId": {benchResource}}
			Common(p, benchAction, benchKeyID, benchNonce, time.Now())
			_ = SignedQuery("GET", p, benchSecret)
		}
	})
}

func FuzzEncode(f *testing.F) {
	f.Add("bms 003/a~b*c+d&e=f")
	f.Add("训练机-01")
	f.Fuzz(func(t *testing.T, s string) {
		enc := Encode(s)
		dec, err := url.PathUnescape(enc)
		if err != nil {
			t.Fatalf("Encode(%q) = %q does not unescape: %v", s, enc, err)
		}
		if dec != s {
			t.Fatalf("round trip of %q gave %q", s, dec)
		}
		for i := 0; i < len(enc); i++ {
			if c := enc[i]; c != '%' && !unreserved(c) {
				t.Fatalf("Encode(%q) left %q unencoded", s, c)
			}
		}
	})
}
