package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
	"github.com/gpubms/gpubms/server"
	"github.com/gpubms/gpubms/server/app"
	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/store"
)

// resources lists the ResourceInfo names in err's details.
func resources(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.ResourceInfo); ok {
			out = append(out, ri.GetResourceName())
		}
	}
	slices.Sort(out)
	return out
}

// withRequestID is req with its request_id set.
func withRequestID(req *gpubmsv1.CreateGpuInstanceRequest, id string) *gpubmsv1.CreateGpuInstanceRequest {
	r := proto.Clone(req).(*gpubmsv1.CreateGpuInstanceRequest)
	r.RequestId = proto.String(id)
	return r
}

// serversNamed lists the ids of the servers named name at the provider.
func serversNamed(t *testing.T, c *client, name string) []string {
	t.Helper()
	r, err := c.DescribeGpu(ctx(t), &gpubmsv1.DescribeGpuRequest{Name: name, PageSize: proto.Int32(500)})
	if err != nil {
		t.Fatalf("DescribeGpu(%s): %v", name, err)
	}
	var ids []string
	for _, g := range r.GetRecords() {
		if strings.HasPrefix(g.GetName(), name) {
			ids = append(ids, g.GetResourceId())
		}
	}
	slices.Sort(ids)
	return ids
}

// hangUp answers nothing: it closes the connection, as a lost reply.
func hangUp(t *testing.T, w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Error("the test provider cannot hijack its connection")
		return
	}
	c, _, err := hj.Hijack()
	if err == nil {
		c.Close()
	}
}

// isCreate reports whether r is a CreateGpuInstance whose body names
// instance.
func isCreate(r *http.Request, body []byte, instance string) bool {
	return r.URL.Query().Get("Action") == "CreateGpuInstance" && bytes.Contains(body, []byte(`"InstanceName":"`+instance+`"`))
}

// readBody reads r's body and puts it back for the emulator.
func readBody(r *http.Request) []byte {
	var b bytes.Buffer
	_, _ = b.ReadFrom(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b.Bytes()))
	return b.Bytes()
}

// TestIdempotentCreate: with a request_id, a create reaches the provider
// once however it is repeated — one after another, ten at once from
// several connections, after the caller gave up, after a lost reply — and
// a refused one may be tried again.
func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider())
	o := findOffer(t, h.c, 4)
	creates := func() int { return h.provider.calls("CreateGpuInstance") }

	t.Run("sequential", func(t *testing.T) {
		req := withRequestID(o.createRequest("seq", 1), "seq-1")
		before := creates()
		first, err := h.c.CreateGpuInstance(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		second, err := h.c.CreateGpuInstance(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if first.GetTaskId() == "" || second.GetTaskId() != first.GetTaskId() {
			t.Errorf("task ids %q then %q, want the same one twice", first.GetTaskId(), second.GetTaskId())
		}
		if n := creates() - before; n != 1 {
			t.Errorf("%d creates reached the provider, want 1", n)
		}

		// The same request_id for another request.
		other := withRequestID(o.createRequest("seq-other", 1), "seq-1")
		_, err = h.c.CreateGpuInstance(ctx(t), other)
		wantCode(t, err, codes.AlreadyExists, server.ReasonRequestIDReused)
		if n := creates() - before; n != 1 {
			t.Errorf("%d creates reached the provider after a reused id, want 1", n)
		}
	})

	t.Run("concurrent, several connections", func(t *testing.T) {
		req := withRequestID(o.createRequest("conc", 1), "conc-1")
		clients := []*client{h.c, h.newClient(t), h.newClient(t)}
		before := creates()
		var wg sync.WaitGroup
		tasks := make([]string, 10)
		errs := make([]error, 10)
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := clients[i%len(clients)].CreateGpuInstance(ctx(t), req)
				tasks[i], errs[i] = r.GetTaskId(), err
			}()
		}
		wg.Wait()
		for i := range 10 {
			if errs[i] != nil {
				t.Errorf("call %d: %v", i, errs[i])
			} else if tasks[i] != tasks[0] {
				t.Errorf("call %d: task %q, want %q like the first", i, tasks[i], tasks[0])
			}
		}
		if n := creates() - before; n != 1 {
			t.Errorf("%d creates reached the provider, want 1", n)
		}
	})

	t.Run("a refused call may be tried again", func(t *testing.T) {
		req := withRequestID(o.createRequest("refused", 1), "refused-1")
		h.provider.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if isCreate(r, readBody(r), "refused") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"Code":"InstanceError","Message":"实例状态不允许","RequestId":"rid-refused"}`)
				return
			}
			next.ServeHTTP(w, r)
		})
		_, err := h.c.CreateGpuInstance(ctx(t), req)
		h.provider.setIntercept(nil)
		wantCode(t, err, codes.FailedPrecondition, "InstanceError")
		before := creates()
		r, err := h.c.CreateGpuInstance(ctx(t), req)
		if err != nil {
			t.Fatalf("the same request_id after a refusal: %v", err)
		}
		if r.GetTaskId() == "" || creates()-before != 1 {
			t.Errorf("after a refusal the retry sent %d creates and got task %q, want 1 and a task", creates()-before, r.GetTaskId())
		}
	})

	t.Run("the caller gives up, the call goes on", func(t *testing.T) {
		req := withRequestID(o.createRequest("slow", 1), "slow-1")
		h.provider.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if isCreate(r, readBody(r), "slow") {
				time.Sleep(time.Second)
			}
			next.ServeHTTP(w, r)
		})
		defer h.provider.setIntercept(nil)
		before := creates()
		short, cancel := context.WithTimeout(ctx(t), 200*time.Millisecond)
		_, err := h.c.CreateGpuInstance(short, req)
		cancel()
		wantCode(t, err, codes.DeadlineExceeded, "")
		var task string
		eventually(t, "the retry gets the recorded reply", func() (bool, error) {
			r, err := h.c.CreateGpuInstance(ctx(t), req)
			task = r.GetTaskId()
			return err == nil, err
		})
		if task == "" || creates()-before != 1 {
			t.Errorf("got task %q with %d creates at the provider, want a task and 1", task, creates()-before)
		}
	})

	t.Run("a lost reply is never sent again", func(t *testing.T) {
		req := withRequestID(o.createRequest("lost", 2), "lost-1")
		h.provider.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if isCreate(r, readBody(r), "lost") {
				next.ServeHTTP(httptest.NewRecorder(), r) // the provider acts...
				hangUp(t, w)                              // ...and its reply is lost
				return
			}
			next.ServeHTTP(w, r)
		})
		_, err := h.c.CreateGpuInstance(ctx(t), req)
		h.provider.setIntercept(nil)
		wantCode(t, err, codes.Unknown, server.ReasonUpstreamOutcomeUnknown)
		before := creates()
		_, err = h.c.CreateGpuInstance(ctx(t), req)
		wantCode(t, err, codes.FailedPrecondition, server.ReasonRequestOutcomeUnknown)
		if n := creates() - before; n != 0 {
			t.Errorf("the retry sent %d creates, want 0", n)
		}
		made := serversNamed(t, h.c, "lost")
		if len(made) != 2 || !slices.Equal(resources(err), made) {
			t.Errorf("the error lists %v, want the servers the lost call made %v", resources(err), made)
		}
		if !strings.Contains(h.logs.String(), "outcome is unknown") {
			t.Error("the unknown outcome is not logged")
		}
	})

	t.Run("audit trail", func(t *testing.T) {
		fl := gpubmsv1.NewFleetServiceClient(h.c.conn)
		r, err := fl.ListAuditEvents(ctx(t), &gpubmsv1.ListAuditEventsRequest{Rpc: "CreateGpuInstance", PageSize: proto.Int32(500)})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string][]*gpubmsv1.AuditEvent{}
		for _, ev := range r.GetEvents() {
			byID[ev.GetRequestId()] = append(byID[ev.GetRequestId()], ev)
			if ev.GetCaller() != "anonymous" {
				t.Errorf("event caller %q, want anonymous", ev.GetCaller())
			}
			var req gpubmsv1.CreateGpuInstanceRequest
			if err := ev.GetRequest().UnmarshalTo(&req); err != nil {
				t.Errorf("event request: %v", err)
			} else if req.GetPassword() != "" {
				t.Error("an audit event holds the password")
			}
		}
		count := func(id, code string, replayed bool) int {
			n := 0
			for _, ev := range byID[id] {
				if ev.GetCode() == code && ev.GetReplayed() == replayed {
					n++
				}
			}
			return n
		}
		for _, c := range []struct {
			id, code string
			replayed bool
			want     int
		}{
			{"seq-1", "OK", false, 1},
			{"seq-1", "OK", true, 1},
			{"seq-1", "AlreadyExists", false, 1},
			{"conc-1", "OK", false, 1},
			{"conc-1", "OK", true, 9},
			{"refused-1", "FailedPrecondition", false, 1},
			{"refused-1", "OK", false, 1},
			{"lost-1", "Unknown", false, 1},
			{"lost-1", "FailedPrecondition", true, 1},
		} {
			if got := count(c.id, c.code, c.replayed); got != c.want {
				t.Errorf("request %s: %d events with code %s replayed %v, want %d", c.id, got, c.code, c.replayed, c.want)
			}
		}
		for _, ev := range byID["seq-1"] {
			if ev.GetCode() == "OK" && len(ev.GetTaskIds()) != 1 {
				t.Errorf("a successful create's event has task ids %v, want one", ev.GetTaskIds())
			}
		}
		if ev := byID["refused-1"]; len(ev) > 0 && ev[len(ev)-1].GetProviderRequestId() != "rid-refused" {
			t.Errorf("refused event's provider request id %q, want rid-refused", ev[len(ev)-1].GetProviderRequestId())
		}
	})
}

// TestRecordsSurviveRestart: a request_id answered before a restart is
// answered from its record after it, with one create at the provider; and
// no password is in the store file.
func TestRecordsSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prov := newProvider(t, emulator.DefaultConfig())
	useProvider := func(c *setup) { c.provider, c.DataDir = prov, dir }
	h1 := start(t, useProvider)
	o := findOffer(t, h1.c, 2)
	req := withRequestID(o.createRequest("restart", 1), "restart-1")
	first, err := h1.c.CreateGpuInstance(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := h1.stop(); err != nil {
		t.Fatalf("first server: %v", err)
	}

	h2 := start(t, useProvider)
	second, err := h2.c.CreateGpuInstance(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if second.GetTaskId() != first.GetTaskId() {
		t.Errorf("after the restart: task %q, want %q", second.GetTaskId(), first.GetTaskId())
	}
	if n := prov.calls("CreateGpuInstance"); n != 1 {
		t.Errorf("%d creates reached the provider, want 1", n)
	}
	if err := h2.stop(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(createPassword)) {
		t.Error("the store file holds the instance password")
	}
	if !bytes.Contains(db, []byte("restart-1")) {
		t.Error("the store file has no record of the request (the check above would prove nothing)")
	}
}

// TestRecordsExpire: after GPUBMS_IDEMPOTENCY_TTL a request_id is
// forgotten, and the same call orders again.
func TestRecordsExpire(t *testing.T) {
	t.Parallel()
	// A record lives the TTL, but at least as long as a call may wait on
	// it: the mutation timeout and a little more.
	h := start(t, withCountedProvider(), func(c *setup) {
		c.IdempotencyTTL, c.MutationTimeout = 300*time.Millisecond, 100*time.Millisecond
	})
	o := findOffer(t, h.c, 2)
	req := withRequestID(o.createRequest("ttl", 1), "ttl-1")
	if _, err := h.c.CreateGpuInstance(ctx(t), req); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.CreateGpuInstance(ctx(t), req); err != nil {
		t.Fatal(err)
	}
	if n := h.provider.calls("CreateGpuInstance"); n != 1 {
		t.Fatalf("within the TTL: %d creates, want 1", n)
	}
	time.Sleep(1600 * time.Millisecond)
	if _, err := h.c.CreateGpuInstance(ctx(t), req); err != nil {
		t.Fatal(err)
	}
	if n := h.provider.calls("CreateGpuInstance"); n != 2 {
		t.Errorf("after the TTL: %d creates, want 2", n)
	}
}

// TestDataDirHasOneOwner: a second server on the same data directory does
// not start, and says why.
func TestDataDirHasOneOwner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := start(t, func(c *setup) { c.DataDir = dir })
	if _, err := h.c.DescribeGpuRegions(ctx(t), &gpubmsv1.DescribeGpuRegionsRequest{}); err != nil {
		t.Fatal(err)
	}
	var lc net.ListenConfig
	g, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{
		DataDir: dir, GRPCAddr: g.Addr().String(), HTTPAddr: hl.Addr().String(),
		WatchPollInterval: pollInterval, WatchMaxDuration: time.Minute, WatchMaxPollRate: 10,
		Emulator: true, EmulatorConfig: emulator.DefaultConfig(), LogFormat: "json", ShutdownTimeout: time.Second,
	}
	err = app.Serve(context.Background(), cfg, g, hl, cfg.Logger(new(syncBuffer)))
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Errorf("second server on %s: %v, want ErrLocked naming the directory", dir, err)
	}
}

// TestValidateOnly: a dry run checks against the catalogue and the
// servers, quotes a create, and sends nothing that changes anything.
func TestValidateOnly(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider())
	o := findOffer(t, h.c, 2)
	mutations := func() int {
		n := 0
		for _, a := range []string{"CreateGpuInstance", "ReinstallGpu", "OperateGpuPower", "DeleteGpuInstances"} {
			n += h.provider.calls(a)
		}
		return n
	}

	t.Run("create", func(t *testing.T) {
		req := o.createRequest("dry", 2)
		req.ValidateOnly = true
		req.RequestId = proto.String("dry-1")
		req.AutoRenew = nil
		r, err := h.c.CreateGpuInstance(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		q := r.GetValidation().GetQuote()
		if r.GetTaskId() != "" || q.GetTradeAmount() == "" || q.GetUnitPrice() == "" || q.GetCurrency() == "" {
			t.Errorf("got task %q and quote %v, want no task and a quote", r.GetTaskId(), q)
		}
		if r.GetValidation().Stock == nil || r.GetValidation().GetStock() < 2 {
			t.Errorf("stock %v, want the compute's (at least 2)", r.GetValidation().Stock)
		}
		if o.chargeType == "PrePaid" && !slices.ContainsFunc(r.GetValidation().GetWarnings(), func(w string) bool { return strings.Contains(w, "AutoRenew") }) {
			t.Errorf("warnings %v, want the AutoRenew one for a prepaid order", r.GetValidation().GetWarnings())
		}
		if n := mutations(); n != 0 {
			t.Errorf("%d mutating requests reached the provider, want 0", n)
		}
		// A dry run keeps no record: the same request_id orders for real.
		req.ValidateOnly = false
		if r, err := h.c.CreateGpuInstance(ctx(t), req); err != nil || r.GetTaskId() == "" {
			t.Errorf("the real call after a dry run with its request_id: %v, %v", r, err)
		}
	})

	for _, tc := range []struct {
		name  string
		edit  func(*gpubmsv1.CreateGpuInstanceRequest)
		code  codes.Code
		field string
	}{
		{"more than in stock", func(r *gpubmsv1.CreateGpuInstanceRequest) { r.Amount = 100 }, codes.ResourceExhausted, "amount"},
		{"an image not offered", func(r *gpubmsv1.CreateGpuInstanceRequest) { r.ImageId = "no-such-image" }, codes.NotFound, "image_id"},
		{"a compute not of the goods", func(r *gpubmsv1.CreateGpuInstanceRequest) { r.ComputeId = "no-such-compute" }, codes.NotFound, "compute_id"},
		{"an unknown VPC", func(r *gpubmsv1.CreateGpuInstanceRequest) { r.VpcNetwork.VpcId = "no-such-vpc" }, codes.NotFound, "vpc_network.vpc_id"},
		{"an unknown subnet", func(r *gpubmsv1.CreateGpuInstanceRequest) { r.VpcNetwork.NetId = "no-such-subnet" }, codes.NotFound, "vpc_network.net_id"},
		{"an address outside the subnet", func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.Segments = []*gpubmsv1.Segment{{SegmentId: "seg", Address: "192.168.7.7"}}
		}, codes.InvalidArgument, "vpc_network.segments[0].address"},
		{"the subnet's network address", func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.Segments = []*gpubmsv1.Segment{{SegmentId: "seg", Address: o.cidr.Masked().Addr().String()}}
		}, codes.InvalidArgument, "vpc_network.segments[0].address"},
		{"the subnet's gateway", func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.Segments = []*gpubmsv1.Segment{{SegmentId: "seg", Address: o.cidr.Masked().Addr().Next().String()}}
		}, codes.InvalidArgument, "vpc_network.segments[0].address"},
		{"the subnet's broadcast address", func(r *gpubmsv1.CreateGpuInstanceRequest) {
			last := o.cidr.Masked().Addr()
			for range 1<<(32-o.cidr.Bits()) - 1 {
				last = last.Next()
			}
			r.VpcNetwork.Segments = []*gpubmsv1.Segment{{SegmentId: "seg", Address: last.String()}}
		}, codes.InvalidArgument, "vpc_network.segments[0].address"},
		{"an unknown EIP", func(r *gpubmsv1.CreateGpuInstanceRequest) {
			r.VpcNetwork.ReserveEip, r.VpcNetwork.EipIdList = proto.Bool(true), []string{"no-such-eip"}
		}, codes.NotFound, "vpc_network.eip_id_list[0]"},
	} {
		t.Run("create with "+tc.name, func(t *testing.T) {
			before := mutations()
			req := o.createRequest("dry-bad", 1)
			req.ValidateOnly = true
			tc.edit(req)
			_, err := h.c.CreateGpuInstance(ctx(t), req)
			wantCode(t, err, tc.code, "")
			var fields []string
			for _, d := range status.Convert(err).Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if !slices.Contains(fields, tc.field) {
				t.Errorf("the error names %v, want %s", fields, tc.field)
			}
			if n := mutations() - before; n != 0 {
				t.Errorf("%d mutating requests, want 0", n)
			}
		})
	}

	t.Run("power and delete", func(t *testing.T) {
		created, err := h.c.CreateGpuInstance(ctx(t), o.createRequest("drysrv", 1))
		if err != nil {
			t.Fatal(err)
		}
		watchTask(t, h.c, created.GetTaskId())
		ids := serversNamed(t, h.c, "drysrv")
		before := mutations()
		r, err := h.c.OperateGpuPower(ctx(t), &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: ids, ValidateOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if s := r.GetValidation().GetServers(); len(s) != 1 || s[0].GetState() != "running" || s[0].GetResourceId() != ids[0] {
			t.Errorf("servers %v, want %s running", s, ids[0])
		}
		_, err = h.c.OperateGpuPower(ctx(t), &gpubmsv1.OperateGpuPowerRequest{Operate: "start", ResourceIds: ids, ValidateOnly: true})
		wantCode(t, err, codes.FailedPrecondition, "")
		_, err = h.c.OperateGpuPower(ctx(t), &gpubmsv1.OperateGpuPowerRequest{Operate: "stop", ResourceIds: []string{"gpu-missing"}, ValidateOnly: true})
		wantCode(t, err, codes.NotFound, "")
		d, err := h.c.DeleteGpuInstances(ctx(t), &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: ids, ValidateOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.GetValidation().GetServers()) != 1 || len(d.GetValidation().GetWarnings()) == 0 {
			t.Errorf("delete dry run: %v, want the server and the warning about running servers", d.GetValidation())
		}
		if n := mutations() - before; n != 0 {
			t.Errorf("%d mutating requests, want 0", n)
		}
		// The dry runs are in the audit trail.
		ev, err := gpubmsv1.NewFleetServiceClient(h.c.conn).ListAuditEvents(ctx(t), &gpubmsv1.ListAuditEventsRequest{ResourceId: ids[0]})
		if err != nil {
			t.Fatal(err)
		}
		dry := 0
		for _, e := range ev.GetEvents() {
			if e.GetValidateOnly() {
				dry++
			}
		}
		if dry != 3 {
			t.Errorf("%d dry-run events for %s, want 3", dry, ids[0])
		}
	})
}

// TestSpendGuard: a create quoted above GPUBMS_MAX_ORDER_PRICE is refused
// before it is sent, with the quote in the error.
func TestSpendGuard(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider(), func(c *setup) { c.MaxOrderPrice = "1.00" })
	o := findOffer(t, h.c, 1)
	_, err := h.c.CreateGpuInstance(ctx(t), withRequestID(o.createRequest("guarded", 1), "guard-1"))
	wantCode(t, err, codes.FailedPrecondition, server.ReasonOrderPriceLimit)
	md := errorInfo(err).GetMetadata()
	if md["trade_amount"] == "" || md["limit"] != "1.00" {
		t.Errorf("ErrorInfo metadata %v, want the quote and the limit", md)
	}
	if n := h.provider.calls("CreateGpuInstance"); n != 0 {
		t.Errorf("%d creates reached the provider, want 0", n)
	}
	dry := o.createRequest("guarded", 1)
	dry.ValidateOnly = true
	_, err = h.c.CreateGpuInstance(ctx(t), dry)
	wantCode(t, err, codes.FailedPrecondition, server.ReasonOrderPriceLimit)

	h2 := start(t, withCountedProvider(), func(c *setup) { c.MaxOrderPrice = "100000000" })
	if _, err := h2.c.CreateGpuInstance(ctx(t), o.createRequest("guarded", 1)); err != nil {
		t.Errorf("under the limit: %v", err)
	}
}

// TestAuditVisibility: a reader sees its own events only, an operator
// everyone's; a reader refused a mutation is in the trail.
func TestAuditVisibility(t *testing.T) {
	t.Parallel()
	h := start(t, withCountedProvider(), func(c *setup) {
		c.AuthTokensFile = tokensFile(t, "reader-bot reader "+readerToken, "ops operator "+opsToken)
	})
	fl := gpubmsv1.NewFleetServiceClient(h.c.conn)
	wantCode(t, stopMissing(bearer(ctx(t), opsToken), h), codes.NotFound, "")
	wantCode(t, stopMissing(bearer(ctx(t), readerToken), h), codes.PermissionDenied, "")

	mine, err := fl.ListAuditEvents(bearer(ctx(t), readerToken), &gpubmsv1.ListAuditEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine.GetEvents()) != 1 || mine.GetEvents()[0].GetCaller() != "reader-bot" || mine.GetEvents()[0].GetCode() != "PermissionDenied" {
		t.Errorf("the reader sees %v, want its own refused call only", mine.GetEvents())
	}
	_, err = fl.ListAuditEvents(bearer(ctx(t), readerToken), &gpubmsv1.ListAuditEventsRequest{Caller: "ops"})
	wantCode(t, err, codes.PermissionDenied, "")

	all, err := fl.ListAuditEvents(bearer(ctx(t), opsToken), &gpubmsv1.ListAuditEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.GetEvents()) != 2 || all.GetEvents()[0].GetCaller() != "reader-bot" || all.GetEvents()[1].GetCaller() != "ops" {
		t.Errorf("the operator sees %v, want both, newest first", all.GetEvents())
	}
	code, b := h.httpDo(t, http.MethodGet, "/v1/audit?rpc=OperateGpuPower&resource_id=gpu-missing", nil, http.Header{"Authorization": {"Bearer " + opsToken}})
	if code != http.StatusOK || strings.Count(string(b), `"rpc":"OperateGpuPower"`) != 2 {
		t.Errorf("GET /v1/audit: %d %s, want both events", code, b)
	}
}

// TestLoadSharedRequestIDs hammers creates: several callers per request
// id, concurrently, against a provider that refuses some creates, loses
// the replies of others (after or before acting). Each caller retries
// until it is told the outcome. Whatever happens, each request id orders at
// most once, a caller told success saw the order that was made, and an
// order nobody was told about is listed to every caller who asks.
func TestLoadSharedRequestIDs(t *testing.T) {
	t.Parallel()
	ids, perID := 10, 4
	if testing.Short() {
		ids, perID = 5, 3
	}
	h := start(t, withCountedProvider())
	o := findOffer(t, h.c, int32(ids))
	// What the provider does with each create, by request id (its
	// instance name "loadNN-") and by how many creates of that id came
	// before: every path, deterministically.
	plans := [][]string{
		{"refuse", "pass"},           // throttled, then ordered on a retry
		{"act-lose"},                 // ordered, but the reply is lost
		{"lose"},                     // lost before the provider acted
		{"refuse", "refuse", "pass"}, // throttled twice
		{"act-internal"},             // ordered, then InternalError: the outcome is unknown, never sent again
		{"pass"},
	}
	var planMu sync.Mutex
	seen := map[string]int{}
	name := regexp.MustCompile(`"InstanceName":"(load[0-9]+)-"`)
	h.provider.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		m := name.FindSubmatch(readBody(r))
		if r.URL.Query().Get("Action") != "CreateGpuInstance" || m == nil {
			next.ServeHTTP(w, r)
			return
		}
		var i int
		fmt.Sscanf(string(m[1]), "load%d", &i)
		planMu.Lock()
		plan := plans[i%len(plans)]
		step := plan[min(seen[string(m[1])], len(plan)-1)]
		seen[string(m[1])]++
		planMu.Unlock()
		switch step {
		case "refuse": // turned away before acting: may be sent again
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"Code":"Throttling","Message":"请求过于频繁"}`)
		case "act-internal":
			next.ServeHTTP(httptest.NewRecorder(), r)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"Code":"InternalError","Message":"系统内部错误"}`)
		case "act-lose":
			next.ServeHTTP(httptest.NewRecorder(), r)
			hangUp(t, w)
		case "lose":
			hangUp(t, w)
		default:
			next.ServeHTTP(w, r)
		}
	})
	clients := []*client{h.c, h.newClient(t), h.newClient(t)}
	type outcome struct {
		task    string
		unknown []string // servers listed by REQUEST_OUTCOME_UNKNOWN
		err     error
	}
	results := make([][]outcome, ids)
	var wg sync.WaitGroup
	for i := range ids {
		results[i] = make([]outcome, perID)
		req := withRequestID(o.createRequest(fmt.Sprintf("load%02d-", i), 1), fmt.Sprintf("load-%02d", i))
		for j := range perID {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := clients[(i+j)%len(clients)]
				var res outcome
			attempts:
				for range 8 {
					r, err := c.CreateGpuInstance(ctx(t), req)
					res = outcome{task: r.GetTaskId(), err: err}
					switch status.Code(err) {
					case codes.Unavailable, codes.Unknown, codes.Aborted:
						continue // outcome not known yet: ask again, same id
					case codes.FailedPrecondition:
						res.unknown = resources(err)
					}
					break attempts
				}
				results[i][j] = res
			}()
		}
	}
	wg.Wait()
	h.provider.setIntercept(nil)

	orders := 0
	for i := range ids {
		made := serversNamed(t, h.c, fmt.Sprintf("load%02d-", i))
		orders += len(made)
		if len(made) > 1 {
			t.Errorf("request id load-%02d ordered %d times", i, len(made))
		}
		var tasks []string
		for j, res := range results[i] {
			switch {
			case res.err == nil:
				tasks = append(tasks, res.task)
				if len(made) != 1 {
					t.Errorf("load-%02d caller %d was told success, but %d servers exist", i, j, len(made))
				}
			case res.unknown != nil:
				if !slices.Equal(res.unknown, made) {
					t.Errorf("load-%02d caller %d was listed %v, but the servers are %v", i, j, res.unknown, made)
				}
			case status.Code(res.err) == codes.FailedPrecondition && errorInfo(res.err).GetReason() == server.ReasonRequestOutcomeUnknown:
				if len(made) != 0 {
					t.Errorf("load-%02d caller %d was listed nothing, but %v exist", i, j, made)
				}
			default:
				// Still refused after its attempts: nothing may exist
				// unless another caller of the id was told.
				t.Logf("load-%02d caller %d ended with %v", i, j, res.err)
			}
		}
		for _, task := range tasks {
			if task != tasks[0] {
				t.Errorf("load-%02d callers were told tasks %v, want one", i, tasks)
				break
			}
		}
	}
	creates := h.provider.calls("CreateGpuInstance")
	t.Logf("%d request ids × %d callers: %d creates reached the provider, %d orders made", ids, perID, creates, orders)
	// Each id orders at most once; ids whose plan ends in "pass" or
	// "act-lose" order exactly once; each plan's creates reach the provider
	// once per step, however many callers share the id.
	wantOrders, wantCreates := 0, 0
	for i := range ids {
		plan := plans[i%len(plans)]
		wantCreates += len(plan)
		if last := plan[len(plan)-1]; last == "pass" || last == "act-lose" || last == "act-internal" {
			wantOrders++
		}
	}
	if orders != wantOrders || creates != wantCreates {
		t.Errorf("%d orders and %d creates at the provider, want %d and %d", orders, creates, wantOrders, wantCreates)
	}
}

// TestShutdownFinishesMutations: a create whose caller left is still in
// flight at SIGTERM; it finishes, and is recorded, before the store closes.
func TestShutdownFinishesMutations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prov := newProvider(t, emulator.DefaultConfig())
	useProvider := func(c *setup) { c.provider, c.DataDir = prov, dir }
	h := start(t, useProvider)
	o := findOffer(t, h.c, 1)
	req := withRequestID(o.createRequest("drain", 1), "drain-1")
	reached := make(chan struct{})
	var once sync.Once
	prov.setIntercept(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if isCreate(r, readBody(r), "drain") {
			once.Do(func() { close(reached) })
			time.Sleep(500 * time.Millisecond)
		}
		next.ServeHTTP(w, r)
	})
	short, cancel := context.WithCancel(ctx(t))
	go func() {
		<-reached
		cancel() // the caller leaves while the provider works
	}()
	_, err := h.c.CreateGpuInstance(short, req)
	wantCode(t, err, codes.Canceled, "")
	if err := h.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	prov.setIntercept(nil)

	// The record is done: a new server on the same store replays it.
	h2 := start(t, useProvider)
	r, err := h2.c.CreateGpuInstance(ctx(t), req)
	if err != nil || r.GetTaskId() == "" {
		t.Fatalf("after the restart: %v, %v; want the recorded task", r, err)
	}
	if n := prov.calls("CreateGpuInstance"); n != 1 {
		t.Errorf("%d creates reached the provider, want 1", n)
	}
}
