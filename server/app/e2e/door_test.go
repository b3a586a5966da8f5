package e2e_test

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server/app"
	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/tlstest"
	"github.com/gpubms/gpubms/server/upstream"
)

// Tokens of the callers of these tests. They are secrets: the harness
// checks that none reaches a log line or a reply.
const (
	readerToken = "e2e-reader-T0ken-5a6b7c8d"
	opsToken    = "e2e-operator-T0ken-1f2e3d4c"
	bareToken1  = "e2e-bare-one-T0ken-77aa88bb"
	bareToken2  = "e2e-bare-two-T0ken-99cc00dd"
	newToken    = "e2e-rotated-T0ken-4e5f6a7b"
	noisyToken  = "e2e-noisy-T0ken-0a1b2c3d4e"
	quietToken  = "e2e-quiet-T0ken-5f6a7b8c9d"
)

func init() {
	secrets = append(secrets, readerToken, opsToken, bareToken1, bareToken2, newToken, noisyToken, quietToken)
}

// bearer returns a context that sends token.
func bearer(c context.Context, token string) context.Context {
	if token == "" {
		return c
	}
	return metadata.AppendToOutgoingContext(c, "authorization", "Bearer "+token)
}

// tokensFile writes a tokens file in a new temporary directory.
func tokensFile(t *testing.T, lines ...string) string {
	t.Helper()
	return tlstest.WriteFile(t, t.TempDir(), "tokens", []byte(strings.Join(lines, "\n")+"\n"))
}

// withToken returns a client of h whose every call sends token.
func (h *harness) withToken(t *testing.T, token string) *client {
	t.Helper()
	return h.newClient(t,
		grpc.WithChainUnaryInterceptor(func(c context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(bearer(c, token), method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(c context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(bearer(c, token), desc, cc, method, opts...)
		}))
}

// stopMissing asks the server to stop a server that does not exist: a
// mutating call that, once past the door, reaches the provider, which
// answers NotFound.
func stopMissing(c context.Context, h *harness) error {
	_, err := h.c.OperateGpuPower(c, &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: []string{"gpu-missing"}})
	return err
}

// TestCallers is the authentication and role matrix: every way a caller
// can present itself, against reads, a mutation, a stream, the JSON face,
// reflection and health. A refused call never reaches the provider.
func TestCallers(t *testing.T) {
	t.Parallel()
	file := tokensFile(t,
		"# callers of the e2e suite",
		"reader-bot  reader    "+readerToken,
		"ops\toperator\t"+opsToken+"   # the operator",
		"",
	)
	h := start(t, withCountedProvider(), withAuthToken(authToken), func(c *setup) {
		c.AuthTokens = []upstream.Secret{bareToken1, bareToken2}
		c.AuthTokensFile = file
	})

	for _, tc := range []struct {
		name   string
		token  string
		md     []string // other metadata, instead of a token
		caller string   // the name in the log
		read   codes.Code
		mutate codes.Code // NotFound: past the door, the provider does not know the server
	}{
		{"no credentials", "", nil, "", codes.Unauthenticated, codes.Unauthenticated},
		{"wrong token", wrongToken, nil, "", codes.Unauthenticated, codes.Unauthenticated},
		{"not a bearer token", "", []string{"authorization", "Basic " + opsToken}, "", codes.Unauthenticated, codes.Unauthenticated},
		{"reader", readerToken, nil, "reader-bot", codes.OK, codes.PermissionDenied},
		{"operator", opsToken, nil, "ops", codes.OK, codes.NotFound},
		{"GPUBMS_AUTH_TOKEN", authToken, nil, "token", codes.OK, codes.NotFound},
		{"second of GPUBMS_AUTH_TOKENS", bareToken2, nil, "token-2", codes.OK, codes.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := bearer(ctx(t), tc.token)
			c = metadata.AppendToOutgoingContext(c, tc.md...)

			_, err := h.c.DescribeGpuRegions(c, &gpubmsv1.DescribeGpuRegionsRequest{})
			wantCode(t, err, tc.read, "")

			before := h.providerRequests(t)
			err = stopMissing(c, h)
			wantCode(t, err, tc.mutate, "")
			sent := h.providerRequests(t) - before
			if tc.mutate != codes.NotFound && sent != 0 {
				t.Errorf("a refused OperateGpuPower sent %d provider requests, want 0", sent)
			}
			if tc.mutate == codes.NotFound && sent != 1 {
				t.Errorf("an allowed OperateGpuPower sent %d provider requests, want 1", sent)
			}
			if tc.mutate == codes.PermissionDenied && !strings.Contains(status.Convert(err).Message(), "operator") {
				t.Errorf("PermissionDenied %q does not name the role needed", status.Convert(err).Message())
			}

			// Streams pass the same door.
			s, err := h.c.WatchTask(c, &gpubmsv1.WatchTaskRequest{TaskId: "no-such-task"})
			if err == nil {
				err = drain(s.Recv)
			}
			want := codes.NotFound // past the door: the task is unknown
			if tc.read != codes.OK {
				want = tc.read
			}
			wantCode(t, err, want, "")

			// So does reflection.
			rs, err := rpb.NewServerReflectionClient(h.c.conn).ServerReflectionInfo(c)
			if err == nil {
				// A Send that meets the stream's end (io.EOF) leaves the
				// status to Recv.
				if err = rs.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err == nil || errors.Is(err, io.EOF) {
					_, err = rs.Recv()
				}
			}
			wantCode(t, err, tc.read, "")

			// Health never asks.
			hr, err := healthpb.NewHealthClient(h.c.conn).Check(c, &healthpb.HealthCheckRequest{})
			if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health: got %v, %v; want SERVING", hr.GetStatus(), err)
			}

			// And the JSON face, which refuses before reading the body.
			hdr := http.Header{}
			switch {
			case tc.token != "":
				hdr.Set("Authorization", "Bearer "+tc.token)
			case len(tc.md) > 0:
				hdr.Set("Authorization", tc.md[1])
			}
			code, b := h.httpDo(t, http.MethodGet, "/v1/regions", nil, hdr)
			if want := httpStatus(tc.read); code != want {
				t.Errorf("GET /v1/regions: got HTTP %d (%s), want %d", code, b, want)
			}
			before = h.providerRequests(t)
			code, b = h.httpDo(t, http.MethodPost, "/v1/gpus:power", map[string]any{"operate": "stop", "resource_ids": []string{"gpu-missing"}}, hdr)
			if want := httpStatus(tc.mutate); code != want {
				t.Errorf("POST /v1/gpus:power: got HTTP %d (%s), want %d", code, b, want)
			}
			if sent := h.providerRequests(t) - before; tc.mutate != codes.NotFound && sent != 0 {
				t.Errorf("a refused POST /v1/gpus:power sent %d provider requests, want 0", sent)
			}
		})
	}

	// Every call's log line names its caller, JSON calls included.
	for _, method := range []string{"DescribeGpuRegions", "OperateGpuPower", "WatchTask"} {
		got := map[string]bool{}
		for _, l := range h.finishedCalls(t, method, func(string) bool { return true }) {
			got[l.str("caller")] = true
		}
		for _, want := range []string{"reader-bot", "ops", "token", "token-2"} {
			if !got[want] {
				t.Errorf("no finished call of %s logged with caller %q (got %v)", method, want, got)
			}
		}
	}
	for _, l := range h.finishedCalls(t, "OperateGpuPower", h.ofGateway()) {
		if l.str("grpc.code") == codes.PermissionDenied.String() && l.str("caller") != "reader-bot" {
			t.Errorf("a JSON call refused for its role is logged with caller %q, want reader-bot", l.str("caller"))
		}
	}

	// Calls refused before any service saw them are counted.
	_, metrics := h.httpDo(t, http.MethodGet, "/metrics", nil, nil)
	for _, want := range []string{
		`gpubms_refused_requests_total{face="grpc",reason="unauthenticated"}`,
		`gpubms_refused_requests_total{face="http",reason="unauthenticated"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// httpStatus is the HTTP status the gateway gives a gRPC code.
func httpStatus(c codes.Code) int {
	return map[codes.Code]int{
		codes.OK: http.StatusOK, codes.Unauthenticated: http.StatusUnauthorized,
		codes.PermissionDenied: http.StatusForbidden, codes.NotFound: http.StatusNotFound,
		codes.ResourceExhausted: http.StatusTooManyRequests,
	}[c]
}

// TestTokensFileReload: a reload of the tokens file swaps the callers at
// once — the removed token is refused, the added one accepted — without
// harming calls in flight; a file that does not load keeps the callers in
// force.
func TestTokensFileReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := tlstest.WriteFile(t, dir, "tokens", []byte("ops operator "+opsToken+"\n"))
	reload := make(chan struct{})
	h := start(t, withTaskDelay(2*time.Second), func(c *setup) {
		c.AuthTokensFile = file
		c.Reload = reload
	})
	old := bearer(ctx(t), opsToken)

	// A call in flight across the reload: a watch of a running task.
	o := findOffer(t, h.withToken(t, opsToken), 1)
	created, err := h.c.CreateGpuInstance(old, o.createRequest("reload", 1))
	if err != nil {
		t.Fatalf("CreateGpuInstance: %v", err)
	}
	stream, err := h.c.WatchTask(old, &gpubmsv1.WatchTaskRequest{TaskId: created.GetTaskId()})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("first event: %v", err)
	}
	if first.GetEvent().GetStatus() != gpubmsv1.TaskStatus_TASK_STATUS_INIT {
		t.Fatalf("first event %v, want init (the task must still run across the reload)", first.GetEvent())
	}

	tlstest.WriteFile(t, dir, "tokens", []byte("# rotated\nops operator "+newToken+"\n"))
	reload <- struct{}{}
	eventually(t, "the old token is refused after the reload", func() (bool, error) {
		_, err := h.c.DescribeGpuRegions(old, &gpubmsv1.DescribeGpuRegionsRequest{})
		return status.Code(err) == codes.Unauthenticated, err
	})
	if _, err := h.c.DescribeGpuRegions(bearer(ctx(t), newToken), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Errorf("the new token after the reload: %v", err)
	}
	if code, b := h.httpDo(t, http.MethodGet, "/v1/regions", nil, http.Header{"Authorization": {"Bearer " + opsToken}}); code != http.StatusUnauthorized {
		t.Errorf("old token over HTTP after the reload: got %d (%s), want 401", code, b)
	}

	// The watch opened with the old token goes on to its end.
	last := first.GetEvent()
	for range 100 {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the watch opened before the reload broke: %v", err)
		}
		last = r.GetEvent()
	}
	if last.GetStatus() != gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED {
		t.Errorf("the watch across the reload ended at %v, want succeed", last.GetStatus())
	}

	// A broken file: the callers in force stay.
	tlstest.WriteFile(t, dir, "tokens", []byte("ops operator\n"))
	reload <- struct{}{}
	eventually(t, "the failed reload is logged", func() (bool, error) {
		return strings.Contains(h.logs.String(), "tokens file does not load"), nil
	})
	if _, err := h.c.DescribeGpuRegions(bearer(ctx(t), newToken), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Errorf("after a failed reload the token in force is refused: %v", err)
	}
	if !strings.Contains(h.logs.String(), dir+"/tokens:1") {
		t.Errorf("the failed reload's log does not name the line:\n%s", h.logs.String())
	}
}

// tlsHarness is a server with TLS and client certificates, and its PKI.
type tlsHarness struct {
	*harness
	ca                   *tlstest.CA
	dir                  string
	reload               chan struct{}
	reader, ops, sanOnly tlstest.Cert
}

// startTLS serves TLS from files in a temporary directory, verifies client
// certificates with a CA of the test's own, and knows the callers of
// extra tokens file lines (nil: no tokens file, certificates only).
func startTLS(t *testing.T, tokens []string, opts ...option) *tlsHarness {
	t.Helper()
	th := &tlsHarness{ca: tlstest.NewCA(t, "e2e CA"), dir: t.TempDir(), reload: make(chan struct{})}
	srv := th.ca.Server(t, "gpubms")
	th.reader = th.ca.Client(t, "ci-bot")
	th.ops = th.ca.Client(t, "ops-bot")
	th.sanOnly = th.ca.Client(t, "", "runner.ci.example")
	certFile := tlstest.WriteFile(t, th.dir, "server.crt", srv.CertPEM)
	keyFile := tlstest.WriteFile(t, th.dir, "server.key", srv.KeyPEM)
	caFile := tlstest.WriteFile(t, th.dir, "ca.crt", th.ca.PEM)
	opts = append([]option{withCountedProvider(), func(c *setup) {
		c.TLSCert, c.TLSKey, c.TLSClientCA = certFile, keyFile, caFile
		c.Reload = th.reload
		if tokens != nil {
			c.AuthTokensFile = tokensFile(t, tokens...)
		}
	}}, opts...)
	th.harness = start(t, opts...)
	return th
}

// dial returns a client of the TLS port presenting cert (nil for none).
func (th *tlsHarness) dial(t *testing.T, cert *tlstest.Cert) *client {
	t.Helper()
	return th.newClient(t, grpc.WithTransportCredentials(credentials.NewTLS(th.ca.ClientConfig(cert))))
}

// https returns an HTTP client of the TLS port presenting cert, recording
// replies like the harness's own.
func (th *tlsHarness) https(cert *tlstest.Cert) *http.Client {
	tr := &http.Transport{TLSClientConfig: th.ca.ClientConfig(cert), ForceAttemptHTTP2: true}
	return &http.Client{Transport: recordingTransport{tr, th.replies}, Timeout: callTimeout}
}

// serverSerial is the serial number of the certificate a new TLS
// connection to addr is shown.
func (th *tlsHarness) serverSerial(t *testing.T, addr string) string {
	t.Helper()
	d := &tls.Dialer{Config: th.ca.ClientConfig(&th.reader)}
	c, err := d.DialContext(ctx(t), "tcp", addr)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestTLS: both listeners speak TLS; a verified client certificate is a
// caller named by its subject, with the default role or the tokens file's;
// tokens still work beside certificates; the JSON face's hop to the gRPC
// server works under TLS.
func TestTLS(t *testing.T) {
	t.Parallel()
	th := startTLS(t, []string{"ops-bot operator -", "tok-user reader " + readerToken})

	t.Run("gRPC", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			cert   *tlstest.Cert
			token  string
			read   codes.Code
			mutate codes.Code
		}{
			{"certificate, default role reader", &th.reader, "", codes.OK, codes.PermissionDenied},
			{"certificate named operator in the tokens file", &th.ops, "", codes.OK, codes.NotFound},
			{"certificate named by its SAN", &th.sanOnly, "", codes.OK, codes.PermissionDenied},
			{"no certificate, no token", nil, "", codes.Unauthenticated, codes.Unauthenticated},
			{"no certificate, a token", nil, readerToken, codes.OK, codes.PermissionDenied},
			{"a wrong token beside a good certificate", &th.ops, wrongToken, codes.Unauthenticated, codes.Unauthenticated},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := th.dial(t, tc.cert)
				cx := bearer(ctx(t), tc.token)
				_, err := c.DescribeGpuRegions(cx, &gpubmsv1.DescribeGpuRegionsRequest{})
				wantCode(t, err, tc.read, "")
				before := th.providerRequests(t)
				_, err = c.OperateGpuPower(cx, &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: []string{"gpu-missing"}})
				wantCode(t, err, tc.mutate, "")
				if sent := th.providerRequests(t) - before; tc.mutate != codes.NotFound && sent != 0 {
					t.Errorf("a refused call sent %d provider requests", sent)
				}
			})
		}
		for name, cert := range map[string]*tlstest.Cert{"ci-bot": &th.reader, "ops-bot": &th.ops, "runner.ci.example": &th.sanOnly} {
			found := false
			for _, l := range th.finishedCalls(t, "DescribeGpuRegions", func(string) bool { return true }) {
				found = found || l.str("caller") == name
			}
			if !found {
				t.Errorf("no call logged with the certificate caller %q (%v)", name, cert.Cert.SerialNumber)
			}
		}
	})

	t.Run("plaintext is refused", func(t *testing.T) {
		c := th.newClient(t)
		c2, cancel := context.WithTimeout(ctx(t), 3*time.Second)
		defer cancel()
		_, err := c.DescribeGpuRegions(bearer(c2, readerToken), &gpubmsv1.DescribeGpuRegionsRequest{})
		if err == nil {
			t.Fatal("a plaintext call to the TLS port succeeded")
		}
	})

	t.Run("a certificate of another CA is refused", func(t *testing.T) {
		stranger := tlstest.NewCA(t, "stranger").Client(t, "ops-bot")
		c := th.dial(t, &stranger)
		_, err := c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{})
		if err == nil {
			t.Fatal("a certificate of another CA was accepted")
		}
	})

	t.Run("HTTPS", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			cert *tlstest.Cert
			hdr  string
			want int
		}{
			{"certificate", &th.reader, "", http.StatusOK},
			{"token", nil, "Bearer " + readerToken, http.StatusOK},
			{"nothing", nil, "", http.StatusUnauthorized},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, "https://"+th.httpAddr+"/v1/regions", nil)
				if tc.hdr != "" {
					req.Header.Set("Authorization", tc.hdr)
				}
				resp, err := th.https(tc.cert).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("got HTTP %d (%s), want %d", resp.StatusCode, b, tc.want)
				}
				if resp.ProtoMajor != 2 {
					t.Errorf("got %s, want HTTP/2 over TLS", resp.Proto)
				}
			})
		}
		// A reader's certificate cannot order over JSON either.
		req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, "https://"+th.httpAddr+"/v1/gpus:power",
			strings.NewReader(`{"operate":"stop","resource_ids":["gpu-missing"]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := th.https(&th.reader).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("reader certificate POST /v1/gpus:power: got %d, want 403", resp.StatusCode)
		}
	})
}

// TestTLSRotation: new certificate files are served without a restart,
// when they change on disk and on a reload; files that do not load keep the
// last good certificate.
func TestTLSRotation(t *testing.T) {
	t.Parallel()
	th := startTLS(t, nil)
	c := th.dial(t, &th.reader)
	if _, err := c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatal(err)
	}
	first := th.serverSerial(t, th.grpcAddr)

	// Changed on disk: picked up by a later handshake on both ports.
	next := th.ca.Server(t, "gpubms")
	tlstest.WriteFile(t, th.dir, "server.key", next.KeyPEM)
	tlstest.WriteFile(t, th.dir, "server.crt", next.CertPEM)
	for _, addr := range []string{th.grpcAddr, th.httpAddr} {
		eventually(t, "the changed certificate is served on "+addr, func() (bool, error) {
			got := th.serverSerial(t, addr)
			return got == next.Cert.SerialNumber.String(), fmt.Errorf("serial %s (first %s)", got, first)
		})
	}

	// A reload takes the files at once.
	third := th.ca.Server(t, "gpubms")
	tlstest.WriteFile(t, th.dir, "server.key", third.KeyPEM)
	tlstest.WriteFile(t, th.dir, "server.crt", third.CertPEM)
	th.reload <- struct{}{}
	eventually(t, "the reloaded certificate is served", func() (bool, error) {
		return th.serverSerial(t, th.grpcAddr) == third.Cert.SerialNumber.String(), nil
	})

	// A broken certificate file keeps the last good one.
	tlstest.WriteFile(t, th.dir, "server.crt", []byte("not a certificate"))
	th.reload <- struct{}{}
	eventually(t, "the failed reload is logged", func() (bool, error) {
		return strings.Contains(th.logs.String(), "certificate files do not load"), nil
	})
	if got := th.serverSerial(t, th.httpAddr); got != third.Cert.SerialNumber.String() {
		t.Errorf("after a broken file, serial %s is served, want the last good %s", got, third.Cert.SerialNumber)
	}
	// The connection made before every rotation still works.
	if _, err := c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Errorf("a connection from before the rotations: %v", err)
	}
}

// TestTLSCertificatesOnly: with client certificates and no tokens, a
// client without a certificate does not get past the handshake.
func TestTLSCertificatesOnly(t *testing.T) {
	t.Parallel()
	th := startTLS(t, nil)
	if _, err := th.dial(t, &th.reader).DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatalf("with a certificate: %v", err)
	}
	c, cancel := context.WithTimeout(ctx(t), 3*time.Second)
	defer cancel()
	_, err := th.dial(t, nil).DescribeGpuRegions(c, &gpubmsv1.DescribeGpuRegionsRequest{})
	if code := status.Code(err); code != codes.Unavailable {
		t.Errorf("without a certificate: got %v (%v), want Unavailable (no handshake)", code, err)
	}
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, "https://"+th.httpAddr+"/v1/regions", nil)
	if resp, err := th.https(nil).Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("HTTPS without a certificate: got HTTP %d, want a failed handshake", resp.StatusCode)
	}
}

// TestBrowserAttacks replays what a hostile page in the user's browser can
// send to a server on loopback: each is refused before anything reaches
// the provider. Allowed origins get proper CORS answers.
func TestBrowserAttacks(t *testing.T) {
	t.Parallel()
	const console = "https://console.example"
	h := start(t, withCountedProvider(), func(c *setup) {
		c.CORSOrigins = []string{console}
		c.HTTPAllowedHosts = []string{"gpubms.internal"}
	})
	_, port, _ := net.SplitHostPort(h.httpAddr)
	power := `{"operate":"stop","resource_ids":["gpu-missing"]}`

	send := func(t *testing.T, method, host, path string, hdr map[string]string, body string) (*http.Response, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx(t), method, "http://"+h.httpAddr+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	for _, tc := range []struct {
		name   string
		method string
		host   string
		hdr    map[string]string
		body   string
		want   int
	}{
		{"a form's text/plain POST from another site", "POST", "", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, power, http.StatusForbidden},
		{"text/plain POST without an Origin", "POST", "", map[string]string{"Content-Type": "text/plain"}, power, http.StatusUnsupportedMediaType},
		{"a form-encoded POST", "POST", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, power, http.StatusUnsupportedMediaType},
		{"JSON from a foreign Origin", "POST", "", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, power, http.StatusForbidden},
		{"a GET from a foreign Origin", "GET", "", map[string]string{"Origin": "http://evil.example"}, "", http.StatusForbidden},
		{"DNS rebinding: a foreign Host", "POST", "evil.example:" + port, map[string]string{"Content-Type": "application/json"}, power, http.StatusMisdirectedRequest},
		{"DNS rebinding with text/plain and Origin", "POST", "evil.example:" + port, map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example:" + port}, power, http.StatusMisdirectedRequest},
		{"preflight from a refused origin", "OPTIONS", "", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}, "", http.StatusForbidden},
		{"an allowed origin from a look-alike", "POST", "", map[string]string{"Content-Type": "application/json", "Origin": console + ".evil.example"}, power, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.providerRequests(t)
			resp, b := send(t, tc.method, tc.host, "/v1/gpus:power", tc.hdr, tc.body)
			if resp.StatusCode != tc.want {
				t.Errorf("got HTTP %d (%s), want %d", resp.StatusCode, b, tc.want)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("a refused request got Access-Control-Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
			}
			if sent := h.providerRequests(t) - before; sent != 0 {
				t.Errorf("%d provider requests, want 0", sent)
			}
			decodeHTTPError(t, b)
		})
	}

	t.Run("preflight from the allowed origin", func(t *testing.T) {
		resp, b := send(t, "OPTIONS", "", "/v1/gpus:power", map[string]string{
			"Origin": console, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type",
		}, "")
		if resp.StatusCode/100 != 2 {
			t.Fatalf("got HTTP %d (%s), want 2xx", resp.StatusCode, b)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != console {
			t.Errorf("Access-Control-Allow-Origin %q, want %q", got, console)
		}
		if got := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "authorization") || !strings.Contains(got, "content-type") {
			t.Errorf("Access-Control-Allow-Headers %q, want authorization and content-type", got)
		}
	})
	t.Run("a call from the allowed origin", func(t *testing.T) {
		resp, b := send(t, "GET", "", "/v1/regions", map[string]string{"Origin": console}, "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != console {
			t.Errorf("got HTTP %d with Access-Control-Allow-Origin %q (%s), want 200 and %q",
				resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), b, console)
		}
	})
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "gpubms.internal", "gpubms.internal:443", "GPUBMS.internal."} {
		t.Run("Host "+host+" is served", func(t *testing.T) {
			if resp, b := send(t, "GET", host, "/v1/regions", nil, ""); resp.StatusCode != http.StatusOK {
				t.Errorf("got HTTP %d (%s), want 200", resp.StatusCode, b)
			}
		})
	}
	t.Run("localhost on another port is not", func(t *testing.T) {
		if resp, b := send(t, "GET", "localhost:1", "/v1/regions", nil, ""); resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("got HTTP %d (%s), want 421", resp.StatusCode, b)
		}
	})
}

// TestJSONStrictness: bodies that are not one JSON value, invalid UTF-8,
// unknown query parameters and wrong methods are clear 4xx, never sent.
func TestJSONStrictness(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider())
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		says                     string // in the error message
	}{
		{"two JSON values", "POST", "/v1/gpus:power", `{"operate":"stop","resource_ids":["a"]}{"operate":"start","resource_ids":["a"]}`, 400, "more than one JSON value"},
		{"trailing text", "POST", "/v1/gpus:power", `{"operate":"stop","resource_ids":["a"]} xyz`, 400, "more than one JSON value"},
		{"invalid UTF-8 in the path", "GET", "/v1/gpus/%ff%fe", "", 400, "UTF-8"},
		{"invalid UTF-8 in a query value", "GET", "/v1/gpus?name=%ff", "", 400, "UTF-8"},
		{"an unknown query parameter", "GET", "/v1/gpus?name=a&colour=red", "", 400, `"colour"`},
		{"a query parameter on a body route", "POST", "/v1/gpus:power?dry=1", `{"operate":"stop","resource_ids":["a"]}`, 400, `"dry"`},
		{"a wrong type names the field in snake_case", "POST", "/v1/regions/CN_Hohhot_B/goods/7685:price", `{"compute_id":"c","instance_charge_type":"PrePaid","amount":"many"}`, 400, "amount"},
		{"a method the route does not have", "DELETE", "/v1/gpus", "", 405, "allowed: GET, POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.providerRequests(t)
			var body any
			if tc.body != "" {
				body = []byte(tc.body)
			}
			code, b := h.httpDo(t, tc.method, tc.path, body, nil)
			if code != tc.want {
				t.Errorf("got HTTP %d (%s), want %d", code, b, tc.want)
			}
			e := decodeHTTPError(t, b)
			if !strings.Contains(e.Message, tc.says) {
				t.Errorf("message %q does not say %q", e.Message, tc.says)
			}
			if tc.want == 400 && e.Code != int(codes.InvalidArgument) {
				t.Errorf("code %d, want InvalidArgument", e.Code)
			}
			if sent := h.providerRequests(t) - before; sent != 0 {
				t.Errorf("%d provider requests, want 0", sent)
			}
		})
	}
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPut, "http://"+h.httpAddr+"/v1/regions", nil)
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Errorf("PUT /v1/regions: got %d with Allow %q, want 405 with Allow GET", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// countingReader is a request body of n bytes that counts how many the
// client's transport took from it.
type countingReader struct {
	left int64
	read atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > r.left {
		n = r.left
	}
	clear(p[:n])
	r.left -= n
	r.read.Add(n)
	return int(n), nil
}

// TestBodyLimits: a 100 MB body is answered without being read — 401 for
// an unauthenticated caller, 413 for an authenticated one — with or without
// a declared length; a gRPC message over the limit is ResourceExhausted.
func TestBodyLimits(t *testing.T) {
	t.Parallel()
	const hundredMB = 100 << 20
	// The transport may push a few MB into the loopback socket buffers
	// before it sees the reply; a body read by the server would be 100 MB.
	const bound = 16 << 20
	h := start(t, withCountedProvider(), withAuthToken(authToken), func(c *setup) { c.HTTPMaxBodyBytes = 64 << 10 })

	for _, tc := range []struct {
		name     string
		token    string
		declared bool
		expect   bool // Expect: 100-continue, as curl sends for large bodies
		want     int
	}{
		{"unauthenticated, declared length", "", true, false, http.StatusUnauthorized},
		{"unauthenticated, declared length, 100-continue", "", true, true, http.StatusUnauthorized},
		{"unauthenticated, chunked", "", false, false, http.StatusUnauthorized},
		{"unauthenticated, chunked, 100-continue", "", false, true, http.StatusUnauthorized},
		{"authenticated, declared length", authToken, true, false, http.StatusRequestEntityTooLarge},
		{"authenticated, declared length, 100-continue", authToken, true, true, http.StatusRequestEntityTooLarge},
		{"authenticated, chunked", authToken, false, false, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingReader{left: hundredMB}
			req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, "http://"+h.httpAddr+"/v1/gpus", io.NopCloser(body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.declared {
				req.ContentLength = hundredMB
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.expect {
				req.Header.Set("Expect", "100-continue")
			}
			// A connection of its own: the server hangs up on a body it
			// will not read.
			cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: callTimeout}}
			before := h.providerRequests(t)
			resp, err := cl.Do(req)
			switch {
			case err == nil:
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("got HTTP %d (%s), want %d", resp.StatusCode, b, tc.want)
				}
			case tc.expect && tc.declared:
				// Refused from the headers: the body is never asked for,
				// so the reply always arrives.
				t.Errorf("got %v, want HTTP %d", err, tc.want)
			default:
				// The server closed the connection while the client still
				// wrote the body it will not read; the reply may be lost.
				t.Logf("no reply (%v): the connection was closed under the body", err)
			}
			n := body.read.Load()
			if n > bound {
				t.Errorf("the server took %d bytes of the body, want at most %d", n, bound)
			}
			if tc.expect && tc.declared && n != 0 {
				t.Errorf("with 100-continue the client sent %d bytes, want none", n)
			}
			if sent := h.providerRequests(t) - before; sent != 0 {
				t.Errorf("%d provider requests, want 0", sent)
			}
		})
	}

	t.Run("gRPC message over the limit", func(t *testing.T) {
		before := h.providerRequests(t)
		_, err := h.c.DescribeGpu(bearer(ctx(t), authToken), &gpubmsv1.DescribeGpuRequest{Name: strings.Repeat("x", 128<<10)})
		wantCode(t, err, codes.ResourceExhausted, "")
		if sent := h.providerRequests(t) - before; sent != 0 {
			t.Errorf("%d provider requests, want 0", sent)
		}
	})
}

// TestConnectionCap: when the HTTP port holds its most connections, a new
// one waits, while the gRPC port keeps answering; a freed slot lets the
// waiting caller in.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	const maxConns = 3
	h := start(t, func(c *setup) { c.MaxConnections = maxConns })
	if _, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatal(err)
	}
	var idle []net.Conn
	for range maxConns {
		c, err := net.Dial("tcp", h.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	get := func(timeout time.Duration) error {
		c, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(c, http.MethodGet, "http://"+h.httpAddr+"/v1/regions", nil)
		cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
	if err := get(500 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("with the HTTP port full: got %v, want the request to wait (deadline exceeded)", err)
	}
	if _, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Errorf("gRPC while the HTTP port is full: %v", err)
	}
	idle[0].Close()
	eventually(t, "a freed slot lets an HTTP request in", func() (bool, error) {
		err := get(2 * time.Second)
		return err == nil, err
	})
	if !strings.Contains(h.logs.String(), `"max_connections_per_listener":3`) {
		t.Error("the connection cap is not logged at start")
	}
}

// TestPerCallerRateLimit: a noisy caller meets its own rate limit, told
// when to retry, while a quiet caller is served.
func TestPerCallerRateLimit(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *setup) {
		c.AuthTokensFile = tokensFile(t, "noisy operator "+noisyToken, "quiet operator "+quietToken)
		c.RateLimitPerCaller = 2
	})
	noisy, quiet := bearer(ctx(t), noisyToken), bearer(ctx(t), quietToken)
	var refused error
	for range 20 {
		if _, err := h.c.DescribeGpuRegions(noisy, &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
			refused = err
			break
		}
	}
	wantCode(t, refused, codes.ResourceExhausted, "")
	var ri *errdetails.RetryInfo
	for _, d := range status.Convert(refused).Details() {
		if x, ok := d.(*errdetails.RetryInfo); ok {
			ri = x
		}
	}
	if ri == nil || ri.GetRetryDelay().AsDuration() <= 0 || ri.GetRetryDelay().AsDuration() > time.Second {
		t.Errorf("RetryInfo %v, want a delay in (0, 1s]", ri)
	}
	if !strings.Contains(status.Convert(refused).Message(), `"noisy"`) {
		t.Errorf("message %q does not name the caller", status.Convert(refused).Message())
	}
	for i := range 2 {
		if _, err := h.c.DescribeGpuRegions(quiet, &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
			t.Errorf("quiet call %d while the noisy caller is limited: %v", i, err)
		}
	}
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, "http://"+h.httpAddr+"/v1/regions", nil)
	req.Header.Set("Authorization", "Bearer "+noisyToken)
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("noisy over HTTP: got %d with Retry-After %q, want 429 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestWatchCap: a caller holding its most watch streams is refused one
// more, another caller is not, and a closed stream frees a slot.
func TestWatchCap(t *testing.T) {
	t.Parallel()
	h := start(t, withTaskDelay(time.Minute), func(c *setup) {
		c.AuthTokensFile = tokensFile(t, "noisy operator "+noisyToken, "quiet operator "+quietToken)
		c.MaxWatchesPerCaller = 2
	})
	quietClient := h.withToken(t, quietToken)
	o := findOffer(t, quietClient, 1)
	created, err := quietClient.CreateGpuInstance(ctx(t), o.createRequest("watched", 1))
	if err != nil {
		t.Fatalf("CreateGpuInstance: %v", err)
	}
	open := func(token string) (context.CancelFunc, error) {
		c, cancel := context.WithCancel(bearer(ctx(t), token))
		s, err := h.c.WatchTask(c, &gpubmsv1.WatchTaskRequest{TaskId: created.GetTaskId()})
		if err == nil {
			_, err = s.Recv()
		}
		if err != nil {
			cancel()
		}
		return cancel, err
	}
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for i := range 2 {
		cancel, err := open(noisyToken)
		if err != nil {
			t.Fatalf("noisy watch %d: %v", i, err)
		}
		cancels = append(cancels, cancel)
	}
	_, err = open(noisyToken)
	wantCode(t, err, codes.ResourceExhausted, "")
	if !strings.Contains(status.Convert(err).Message(), "watch streams") {
		t.Errorf("message %q does not say what was capped", status.Convert(err).Message())
	}
	if cancel, err := open(quietToken); err != nil {
		t.Errorf("a quiet caller's watch beside the capped noisy one: %v", err)
	} else {
		cancels = append(cancels, cancel)
	}
	cancels[0]()
	eventually(t, "a closed watch frees the noisy caller's slot", func() (bool, error) {
		cancel, err := open(noisyToken)
		if err == nil {
			cancels = append(cancels, cancel)
		}
		return err == nil, err
	})
}

// rawCodec sends bytes as they are, to put malformed protobuf on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestMalformedProtobuf: a request that is not valid protobuf is the
// caller's mistake, InvalidArgument, and is never sent.
func TestMalformedProtobuf(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider())
	for _, tc := range []struct {
		name   string
		method string
		stream bool
		msg    []byte
	}{
		// resource_id (field 1, length-delimited) claims 10 bytes, has 2.
		{"truncated", "/gpubms.v1.GpuService/DescribeGpuDetail", false, []byte{0x0a, 0x0a, 'a', 'b'}},
		// resource_id holds bytes that are not UTF-8.
		{"a string that is not UTF-8", "/gpubms.v1.GpuService/DescribeGpuDetail", false, []byte{0x0a, 0x02, 0xff, 0xfe}},
		{"a stream's request that is not UTF-8", "/gpubms.v1.GpuService/WatchTask", true, []byte{0x0a, 0x02, 0xff, 0xfe}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.providerRequests(t)
			var out []byte
			var err error
			if tc.stream {
				var s grpc.ClientStream
				s, err = h.c.conn.NewStream(ctx(t), &grpc.StreamDesc{ServerStreams: true}, tc.method, grpc.ForceCodec(rawCodec{}))
				if err == nil {
					if err = s.SendMsg(tc.msg); err == nil {
						_ = s.CloseSend()
						err = s.RecvMsg(&out)
					}
				}
			} else {
				err = h.c.conn.Invoke(ctx(t), tc.method, tc.msg, &out, grpc.ForceCodec(rawCodec{}))
			}
			wantCode(t, err, codes.InvalidArgument, "")
			if sent := h.providerRequests(t) - before; sent != 0 {
				t.Errorf("%d provider requests, want 0", sent)
			}
		})
	}
	// The server is fine after them.
	if _, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Errorf("after malformed requests: %v", err)
	}
}

// TestOpenRoutes: with callers authenticated, /metrics and /openapi.json
// are open to loopback by default, and need a caller with "none".
func TestOpenRoutes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy string
		want   int
	}{
		{"", http.StatusOK}, // loopback, and the test is on loopback
		{"all", http.StatusOK},
		{"none", http.StatusUnauthorized},
	} {
		t.Run("policy "+cmp.Or(tc.policy, "default"), func(t *testing.T) {
			t.Parallel()
			h := start(t, withAuthToken(authToken), func(c *setup) { c.OpenRoutes = tc.policy })
			for _, path := range []string{"/metrics", "/openapi.json"} {
				if code, b := h.httpDo(t, http.MethodGet, path, nil, nil); code != tc.want {
					t.Errorf("GET %s: got %d (%.100s), want %d", path, code, b, tc.want)
				}
				if code, _ := h.httpDo(t, http.MethodGet, path, nil, http.Header{"Authorization": {"Bearer " + authToken}}); code != http.StatusOK {
					t.Errorf("GET %s with a token: got %d, want 200", path, code)
				}
			}
			// Something for the secrets check to read.
			h.httpDo(t, http.MethodGet, "/v1/regions", nil, nil)
		})
	}
}

// TestServeRefusesExposure: beyond loopback with no caller authentication
// the server does not start, unless told to, and then it warns.
func TestServeRefusesExposure(t *testing.T) {
	t.Parallel()
	serve := func(t *testing.T, allow bool) (error, string) {
		var lc net.ListenConfig
		grpcLn, err := lc.Listen(t.Context(), "tcp", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		httpLn, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ec := emulator.DefaultConfig()
		cfg := app.Config{
			GRPCAddr: grpcLn.Addr().String(), HTTPAddr: httpLn.Addr().String(),
			WatchPollInterval: pollInterval, WatchMaxDuration: time.Minute, WatchMaxPollRate: 10,
			Emulator: true, EmulatorConfig: ec, LogFormat: "json", ShutdownTimeout: time.Second,
			AllowUnauthenticated: allow,
		}
		logs := new(syncBuffer)
		c, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- app.Serve(c, cfg, grpcLn, httpLn, cfg.Logger(logs)) }()
		if allow {
			eventually(t, "the server is up", func() (bool, error) {
				return strings.Contains(logs.String(), "gpubms serving"), nil
			})
		}
		cancel()
		select {
		case err := <-done:
			return err, logs.String()
		case <-time.After(stopTimeout):
			t.Fatal("Serve did not return")
		}
		return nil, ""
	}
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		err, _ := serve(t, false)
		if err == nil || !strings.Contains(err.Error(), "GPUBMS_ALLOW_UNAUTHENTICATED") || !strings.Contains(err.Error(), "GPUBMS_AUTH_TOKENS") {
			t.Errorf("got %v, want a refusal naming the settings that fix it", err)
		}
	})
	t.Run("allowed, with a warning", func(t *testing.T) {
		t.Parallel()
		err, logs := serve(t, true)
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
		for _, want := range []string{"GPUBMS_ALLOW_UNAUTHENTICATED: no caller authentication", "without TLS"} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q:\n%s", want, logs)
			}
		}
	})
}

// TestStalledBodiesDoNotHoldSlots: requests refused from their headers,
// whose declared bodies never come, are answered at once and their
// connections closed, so they cannot fill the HTTP port.
func TestStalledBodiesDoNotHoldSlots(t *testing.T) {
	t.Parallel()
	const maxConns = 3
	h := start(t, withAuthToken(authToken), func(c *setup) { c.MaxConnections = maxConns })
	for i := range maxConns {
		c, err := net.Dial("tcp", h.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/gpus HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", h.httpAddr)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("stalled request %d: no reply: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
			t.Errorf("stalled request %d: got %d (close %v), want 401 and the connection closed", i, resp.StatusCode, resp.Close)
		}
	}
	// The stalled connections are gone at once, not after a timeout: a few
	// tries of 2s each find a slot.
	cl := &http.Client{Timeout: 2 * time.Second, Transport: recordingTransport{&http.Transport{DisableKeepAlives: true}, h.replies}}
	var last error
	for range 5 {
		req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, "http://"+h.httpAddr+"/v1/regions", nil)
		req.Header.Set("Authorization", "Bearer "+authToken)
		resp, err := cl.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		last = err
	}
	t.Fatalf("a normal request beside the stalled ones: %v", last)
}

// TestGatewayIdentityCannotBeSpoofed: the metadata the gateway uses to
// pass on its caller means nothing on a network connection, and request
// headers never become metadata.
func TestGatewayIdentityCannotBeSpoofed(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider(), func(c *setup) {
		c.AuthTokensFile = tokensFile(t, "reader-bot reader "+readerToken)
	})
	spoof := []string{"gpubms-gateway-caller", "root", "gpubms-gateway-role", "operator", "gpubms-gateway-via", "token"}

	c := metadata.AppendToOutgoingContext(ctx(t), spoof...)
	_, err := h.c.DescribeGpuRegions(c, &gpubmsv1.DescribeGpuRegionsRequest{})
	wantCode(t, err, codes.Unauthenticated, "")

	before := h.providerRequests(t)
	err = stopMissing(metadata.AppendToOutgoingContext(bearer(ctx(t), readerToken), spoof...), h)
	wantCode(t, err, codes.PermissionDenied, "")
	if sent := h.providerRequests(t) - before; sent != 0 {
		t.Errorf("%d provider requests, want 0", sent)
	}

	hdr := http.Header{}
	for i := 0; i < len(spoof); i += 2 {
		hdr.Set("Grpc-Metadata-"+spoof[i], spoof[i+1])
	}
	if code, b := h.httpDo(t, http.MethodGet, "/v1/regions", nil, hdr); code != http.StatusUnauthorized {
		t.Errorf("spoofed headers, no token: got %d (%s), want 401", code, b)
	}
	hdr.Set("Authorization", "Bearer "+readerToken)
	code, b := h.httpDo(t, http.MethodPost, "/v1/gpus:power", map[string]any{"operate": "stop", "resource_ids": []string{"gpu-missing"}}, hdr)
	if code != http.StatusForbidden {
		t.Errorf("spoofed headers with a reader token: got %d (%s), want 403", code, b)
	}
	if sent := h.providerRequests(t) - before; sent != 0 {
		t.Errorf("%d provider requests, want 0", sent)
	}
}
