package signature

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// paramsOf returns the vector's parameters as a slice, in map order (which
// is random, so the sort is exercised too).
func paramsOf(m map[string]string) []Param {
	ps := make([]Param, 0, len(m))
	for k, v := range m {
		ps = append(ps, Param{k, v})
	}
	return ps
}

// recorder is a hash.Hash that keeps what is written to it, to check the
// string to sign that AppendSignedQuery streams into the HMAC.
type recorder struct{ bytes.Buffer }

func (r *recorder) Sum(b []byte) []byte { return append(b, make([]byte, 20)...) }
func (r *recorder) Size() int           { return 20 }
func (r *recorder) BlockSize() int      { return 64 }

func TestSignerVectors(t *testing.T) {
	f := loadVectors(t)
	for i, v := range f.Vectors {
		t.Run(v.Params["Action"]+"/"+v.Params["SignatureNonce"], func(t *testing.T) {
			s := NewSigner(v.Secret)
			const prefix = "https://api.example/gpubms/v1/?"
			out := string(s.AppendSignedQuery([]byte(prefix), v.Method, paramsOf(v.Params)))
			got, ok := strings.CutPrefix(out, prefix)
			if !ok {
				t.Fatalf("vector %d: dst prefix lost: %q", i, out)
			}
			want := v.CanonicalQuery + "&Signature=" + Encode(v.Signature)
			if got != want {
				t.Errorf("vector %d signed query:\n got %s\nwant %s", i, got, want)
			}
			cut := strings.LastIndex(got, "&Signature=")
			if cut < 0 {
				t.Fatalf("vector %d: no Signature in %q", i, got)
			}
			if cq := got[:cut]; cq != v.CanonicalQuery {
				t.Errorf("vector %d canonical query:\n got %s\nwant %s", i, cq, v.CanonicalQuery)
			}
			q, err := url.ParseQuery(got)
			if err != nil {
				t.Fatalf("vector %d: parse signed query: %v", i, err)
			}
			if sig := q.Get(ParamSignature); sig != v.Signature {
				t.Errorf("vector %d signature: got %s, want %s", i, sig, v.Signature)
			}
			if err := Verify(v.Method, q, v.Secret); err != nil {
				t.Errorf("vector %d: Verify(new signature) = %v", i, err)
			}
			if sq := s.SignedQuery(v.Method, paramsOf(v.Params)); sq != want {
				t.Errorf("vector %d SignedQuery:\n got %s\nwant %s", i, sq, want)
			}

			// The string to sign, as streamed into the HMAC.
			var rec recorder
			st := &signState{mac: &rec}
			st.appendSigned(nil, v.Method, paramsOf(v.Params))
			if got := rec.String(); got != v.StringToSign {
				t.Errorf("vector %d string to sign:\n got %s\nwant %s", i, got, v.StringToSign)
			}
		})
	}
}

// TestSignerLongInput signs values far longer than the HMAC feed buffer and
// lower-case and non-ASCII methods, against the url.Values path.
func TestSignerLongInput(t *testing.T) {
	t.Parallel()
	s := NewSigner("secret")
	long := strings.Repeat("训练机 a/b&c=d%e~", 200)
	for _, method := range []string{"GET", "post", "gEt", "pöst", "\xff"} {
		for _, n := range []int{1, 170, 171, 172, 513, 2000} {
			p := url.Values{"Name": {long[:n]}, "A": {"1"}}
			Common(p, "DescribeGpu", "AK", "n", time.Unix(0, 0))
			ps := paramsFromValues(p)
			if got, want := s.SignedQuery(method, ps), SignedQuery(method, p, "secret"); got != want {
				t.Errorf("method %q, %d bytes: got %s, want %s", method, n, got, want)
			}
		}
	}
}

func paramsFromValues(v url.Values) []Param {
	var ps []Param
	for k, vs := range v {
		for _, val := range vs {
			ps = append(ps, Param{k, val})
		}
	}
	return ps
}

// TestSignerDuplicates pins the rule for repeated names: the first one in
// params wins, as url.Values.Get takes the first value added, and Signature is
// never signed. 40 parameters go past the lengths where a sort is an insertion
// sort, where an unstable sort would reorder equal names.
func TestSignerDuplicates(t *testing.T) {
	t.Parallel()
	var ps []Param
	vals := url.Values{}
	add := func(name, value string) {
		ps = append(ps, Param{name, value})
		vals.Add(name, value)
	}
	for i := range 40 {
		add("K"+strconv.Itoa(i%7), "v"+strconv.Itoa(i))
		if i%9 == 0 {
			add(ParamSignature, "forged"+strconv.Itoa(i))
		}
	}
	add("Solo", "x")

	s := NewSigner("secret")
	got := s.SignedQuery("GET", ps)
	if want := SignedQuery("GET", vals, "secret"); got != want {
		t.Errorf("duplicates:\n got %s\nwant %s", got, want)
	}
	q, err := url.ParseQuery(got)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 7 {
		name := "K" + strconv.Itoa(k)
		if vs := q[name]; len(vs) != 1 || vs[0] != "v"+strconv.Itoa(k) {
			t.Errorf("%s = %q, want only the first value v%d", name, vs, k)
		}
	}
	if vs := q[ParamSignature]; len(vs) != 1 || strings.HasPrefix(vs[0], "forged") {
		t.Errorf("Signature = %q, want only the computed one", vs)
	}
}

func TestSignerNoParams(t *testing.T) {
	t.Parallel()
	s := NewSigner("k")
	got := s.SignedQuery("GET", nil)
	if want := SignedQuery("GET", nil, "k"); got != want {
		t.Errorf("no params: got %q, want %q", got, want)
	}
}

func TestAppendTimestamp(t *testing.T) {
	t.Parallel()
	times := []time.Time{
		time.Unix(0, 0),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 16, 0, 7, 0, time.FixedZone("CST", 8*3600)),
		time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("W", -3600)),
	}
	for i := range 2000 {
		times = append(times, time.Unix(int64(i)*7919*86399, int64(i)))
	}
	for _, tm := range times {
		if got, want := string(appendTimestamp(nil, tm)), tm.UTC().Format(TimestampForm); got != want {
			t.Errorf("appendTimestamp(%v) = %q, want %q", tm, got, want)
		}
	}
}

func TestAppendCommon(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 16, 0, 7, 999, time.FixedZone("CST", 8*3600))
	got := url.Values{}
	for _, p := range AppendCommon([]Param{{"RegionId", "CN_Hohhot_B"}}, "DescribeGpuGoods", "AK", "n-1", now) {
		got.Add(p.Name, p.Value)
	}
	want := Common(url.Values{"RegionId": {"CN_Hohhot_B"}}, "DescribeGpuGoods", "AK", "n-1", now)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AppendCommon = %v, want %v", got, want)
	}
	if ts := got.Get(ParamTimestamp); ts != "2026-11-25T08:00:07Z" {
		t.Errorf("Timestamp = %q, want UTC 2026-11-25T08:00:07Z", ts)
	}
}

// TestSignerConcurrent shares one Signer between goroutines (run with -race).
func TestSignerConcurrent(t *testing.T) {
	t.Parallel()
	const secret = "SKexample/secret+key=with*odd~chars"
	s := NewSigner(secret)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			var buf []byte
			for i := range 200 {
				id := strconv.Itoa(g) + "-" + strconv.Itoa(i)
				name := strings.Repeat("训练机 /&=", i%40) + id
				ps := AppendCommon([]Param{{"Name", name}, {"RegionId", "CN_Hohhot_B"}}, "DescribeGpu", "AK", id, time.Unix(int64(i), 0))
				want := SignedQuery("GET", valuesOf(ps), secret)
				buf = s.AppendSignedQuery(buf[:0], "GET", ps)
				if string(buf) != want {
					errs <- fmt.Sprintf("goroutine %d request %d:\n got %s\nwant %s", g, i, buf, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func valuesOf(ps []Param) url.Values {
	v := url.Values{}
	for _, p := range ps {
		v.Add(p.Name, p.Value)
	}
	return v
}

func TestSignerRedacts(t *testing.T) {
	t.Parallel()
	const secret = "SKexample/secret+key=with*odd~chars"
	s := NewSigner(secret)
	_ = s.SignedQuery("GET", nil) // a pooled HMAC state exists

	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %p"} {
		out = append(out, fmt.Sprintf(verb, s))
		out = append(out, fmt.Sprintf(verb, struct{ S *Signer }{s}))
		out = append(out, fmt.Sprintf(verb, []any{s}))
	}
	out = append(out, fmt.Sprint(s), fmt.Sprintln(s), s.String(), s.GoString())
	js, err := json.Marshal(struct{ S *Signer }{s})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(js))
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("signer", "s", s)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("signer", "s", s)
	out = append(out, logs.String())

	forms := []string{secret, hex.EncodeToString([]byte(secret)), base64.StdEncoding.EncodeToString([]byte(secret)), "odd~chars"}
	for _, o := range out {
		for _, f := range forms {
			if strings.Contains(strings.ToLower(o), strings.ToLower(f)) {
				t.Errorf("output %q reveals the secret (%q)", o, f)
			}
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", s), redacted) {
		t.Errorf("%%+v = %q, want a redaction", fmt.Sprintf("%+v", s))
	}
}

func TestSignerZeroValuePanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("zero Signer signed without panicking")
		}
	}()
	var s Signer
	s.SignedQuery("GET", nil)
}

// TestSignerAllocs pins the allocations of a signed request (a benchmark
// measures them, this keeps them from creeping back).
func TestSignerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	s := NewSigner(benchSecret)
	buf := make([]byte, 0, 1024)
	var arr [9]Param
	now := time.Now()
	request := AppendCommon([]Param{{"RegionId", benchRegion}, {"ResourceId", benchResource}}, benchAction, benchKeyID, benchNonce, now)
	tests := []struct {
		name string
		max  float64
		f    func()
	}{
		{"AppendCommon", 1, func() { _ = AppendCommon(arr[:0], benchAction, benchKeyID, benchNonce, now) }},
		{"AppendSignedQuery", 0, func() {
			ps := append(arr[:0], request...)
			buf = s.AppendSignedQuery(buf[:0], "GET", ps)
		}},
		{"SignedQuery", 1, func() {
			ps := append(arr[:0], request...)
			_ = s.SignedQuery("GET", ps)
		}},
	}
	for _, tt := range tests {
		tt.f() // fill the pool
		if got := testing.AllocsPerRun(100, tt.f); got > tt.max {
			t.Errorf("%s: %v allocations, want ≤ %v", tt.name, got, tt.max)
		}
	}
}

// A typical request: the common parameters and two action parameters.
const (
	benchSecret   = "SKexample/secret+key=with*odd~chars"
	benchKeyID    = "AKIDEXAMPLE0000000000001"
	benchAction   = "DescribeGpuDetail"
	benchNonce    = "3f1d2c4e-7a9b-4c1d-8e2f-0123456789ab"
	benchRegion   = "CN_Hohhot_B"
	benchResource = "a0492924-1dc1-462e-9cbb-622dc1ec49a3"
)

// BenchmarkSigner measures a whole signed request on the fast path: the
// common parameters (time.Now and its timestamp included), two action
// parameters, sorting, the canonical query and the signature, appended to a
// pooled buffer as a client building its request URL would.
func BenchmarkSigner(b *testing.B) {
	s := NewSigner(benchSecret)
	bufs := sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var arr [9]Param
			ps := append(arr[:0], Param{"RegionId", benchRegion}, Param{"ResourceId", benchResource})
			ps = AppendCommon(ps, benchAction, benchKeyID, benchNonce, time.Now())
			bp := bufs.Get().(*[]byte)
			*bp = s.AppendSignedQuery((*bp)[:0], "GET", ps)
			bufs.Put(bp)
		}
	})
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var arr [9]Param
			ps := append(arr[:0], Param{"RegionId", benchRegion}, Param{"ResourceId", benchResource})
			ps = AppendCommon(ps, benchAction, benchKeyID, benchNonce, time.Now())
			_ = s.SignedQuery("GET", ps)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var arr [9]Param
				ps := append(arr[:0], Param{"RegionId", benchRegion}, Param{"ResourceId", benchResource})
				ps = AppendCommon(ps, benchAction, benchKeyID, benchNonce, time.Now())
				bp := bufs.Get().(*[]byte)
				*bp = s.AppendSignedQuery((*bp)[:0], "GET", ps)
				bufs.Put(bp)
			}
		})
	})
}

// FuzzSignerMatchesSign checks the fast path against the url.Values one on
// the same pairs. data holds NUL-separated name, value, name, value…; names
// are kept unique (the first wins), as url.Values would hold them.
func FuzzSignerMatchesSign(f *testing.F) {
	f.Add("GET", "secret", []byte("Action\x00DescribeGpu\x00Name\x00bms 003/a~b*c+d&e=f\x00PageSize\x0010"))
	f.Add("post", "SKexample/secret+key=with*odd~chars", []byte("Name\x00训练机-01\x00Signature\x00x\x00a\x00"))
	f.Add("pöst", "", []byte("\x00\x00%\x00=&\x00 "))
	f.Add("GET", strings.Repeat("k", 100), []byte(strings.Repeat("n\x00v%/ \x00", 1)+strings.Repeat("x", 600)+"\x00"+strings.Repeat("é", 300)))
	f.Fuzz(func(t *testing.T, method, secret string, data []byte) {
		fields := strings.Split(string(data), "\x00")
		var ps []Param
		vals := url.Values{}
		for i := 0; i < len(fields); i += 2 {
			name, value := fields[i], ""
			if i+1 < len(fields) {
				value = fields[i+1]
			}
			if _, dup := vals[name]; dup {
				continue
			}
			vals.Set(name, value)
			ps = append(ps, Param{name, value})
		}
		want := SignedQuery(method, vals, secret)
		s := NewSigner(secret)
		if got := string(s.AppendSignedQuery([]byte("pre?"), method, ps)); got != "pre?"+want {
			t.Fatalf("AppendSignedQuery:\n got %q\nwant %q", got, "pre?"+want)
		}
		if got := s.SignedQuery(method, ps); got != want {
			t.Fatalf("SignedQuery:\n got %q\nwant %q", got, want)
		}
		if !strings.HasSuffix(want, "&Signature="+Encode(Sign(method, vals, secret))) {
			t.Fatalf("%q does not end with the signature", want)
		}
	})
}
