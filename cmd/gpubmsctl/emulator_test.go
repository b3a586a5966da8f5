package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	gpubmsd "github.com/gpubms/gpubms/server/app"
	"github.com/gpubms/gpubms/server/emulator"
)

// startGpubms runs the whole server, as gpubmsd wires it, on the embedded
// emulator on loopback ports until the test ends, and returns its gRPC
// address.
func startGpubms(t *testing.T) string {
	t.Helper()
	return startGpubmsWith(t, 100*time.Millisecond)
}

// startGpubmsWith is startGpubms with the emulator's tasks staying init
// for taskDelay.
func startGpubmsWith(t *testing.T, taskDelay time.Duration) string {
	t.Helper()
	ec := emulator.DefaultConfig()
	ec.TaskDelay = taskDelay
	cfg := gpubmsd.Config{
		DataDir: t.TempDir(), GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		WatchPollInterval: 50 * time.Millisecond, WatchMaxDuration: time.Minute, WatchMaxPollRate: 100,
		Emulator: true, EmulatorConfig: ec, LogFormat: "text", ShutdownTimeout: 5 * time.Second,
		LeaseInterval: 50 * time.Millisecond,
	}
	var lc net.ListenConfig
	grpcLn, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		grpcLn.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gpubmsd.Serve(ctx, cfg, grpcLn, httpLn, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return within 15s of its context ending")
		}
	})
	return grpcLn.Addr().String()
}

// TestNetworksOnEmulator drives gpubmsctl against a real gpubmsd on the
// emulator: networks, a create that picks the zone's only network and
// runs to a running server, and a create refused (exit 2) where the zone
// has two subnets.
func TestNetworksOnEmulator(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GPUBMS_ADDR": startGpubms(t)}
	hohhotVPC, hohhotSubnet, _ := emulator.DefaultNetwork("CN_Hohhot_B")

	r := runCLI(t, env, "", "networks", "--region", "CN_Hohhot_B")
	if r.code != 0 || !strings.Contains(r.stdout, hohhotVPC) || !strings.Contains(r.stdout, hohhotSubnet) ||
		!strings.Contains(r.stdout, "10.15.0.0/17") || !strings.Contains(r.stdout, "60.165.239.111") {
		t.Fatalf("networks: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	create := func(region string, goods, compute, image string) result {
		return runCLI(t, env, "Cli-e2e-passw0rd", "-o", "json", "create", "--region", region, "--name", "cli",
			"--charge", "PostPaid", "--goods", goods, "--compute", compute, "--image", image, "--password-stdin", "--wait")
	}
	r = create("CN_Hohhot_B", "7685", "8fbdb61e-b941-46db-89f6-f8953b278ec9", "d32af696-5774-4936-8f09-e9f4cf069b31")
	if r.code != 0 {
		t.Fatalf("create in the only network: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "using VPC") || !strings.Contains(r.stderr, hohhotVPC) || !strings.Contains(r.stderr, hohhotSubnet) {
		t.Errorf("create does not say which network it chose:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "Cli-e2e-passw0rd") {
		t.Error("the password was printed")
	}
	r = runCLI(t, env, "", "-o", "json", "list", "--name", "cli")
	var list struct {
		Records []struct {
			State string `json:"state"`
			AppID string `json:"app_id"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 {
		t.Fatalf("list: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(list.Records) != 1 || list.Records[0].State != "running" || list.Records[0].AppID != hohhotVPC {
		t.Errorf("list: got %+v, want one running server in %s", list.Records, hohhotVPC)
	}

	r = create("CN_Qingyang_A", "8001", "c3b0c9d2-7e41-4f0a-9a35-2f1e6b7d8c01", "7e1c2f30-6a7b-4c55-9b0e-3d2a1f0e9c11")
	if r.code != 2 || strings.Count(r.stderr, "--net-id ") < 2 {
		t.Errorf("create where the zone has two subnets: exit %d, want 2 with both choices\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "", "-o", "json", "list", "--name", "cli")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Records) != 1 {
		t.Errorf("after the refused create: %v, %d servers, want 1", err, len(list.Records))
	}
}

// TestVersionOnEmulator: version names the client's build and the
// server's, as GetServerInfo answers it.
func TestVersionOnEmulator(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GPUBMS_ADDR": startGpubms(t)}
	r := runCLI(t, env, "", "version")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], "server: gpubms ") || !strings.Contains(lines[1], "on the emulator") {
		t.Fatalf("version: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "", "version", "-o", "json")
	var doc struct {
		Server struct {
			Emulator bool `json:"emulator"`
		} `json:"server"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || !doc.Server.Emulator {
		t.Errorf("version -o json: %v\n%s", err, r.stdout)
	}
}

// TestCapacityOnEmulator: capacity prints the ranked offers that fit.
func TestCapacityOnEmulator(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GPUBMS_ADDR": startGpubms(t)}
	r := runCLI(t, env, "", "capacity", "--gpu", "a100")
	if r.code != 0 || !strings.Contains(r.stdout, "7955") || !strings.Contains(r.stdout, "8卡A100") || strings.Contains(r.stdout, "7685") ||
		!strings.Contains(r.stdout, "1 offer(s); stock is a hint") {
		t.Fatalf("capacity --gpu a100: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "", "-o", "json", "capacity", "--amount", "2", "--charge", "PostPaid")
	var doc struct {
		Offers []struct {
			GoodsID    string `json:"goods_id"`
			UnitPrice  string `json:"unit_price"`
			TradePrice string `json:"trade_price"`
		} `json:"offers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Offers) != 3 || doc.Offers[0].GoodsID != "7685" || doc.Offers[0].TradePrice != "1332.00" {
		t.Errorf("capacity -o json: %v, %+v\n%s%s", err, doc, r.stdout, r.stderr)
	}
}

// TestReadyAndGoneOnEmulator: create --wait=ready prints one document with
// the servers running and their addresses; delete --wait returns once the
// servers are gone.
func TestReadyAndGoneOnEmulator(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GPUBMS_ADDR": startGpubms(t)}
	r := runCLI(t, env, "Cli-e2e-passw0rd", "-o", "json", "create", "--region", "CN_Hohhot_B", "--name", "ready",
		"--charge", "PostPaid", "--goods", "7685", "--compute", "8fbdb61e-b941-46db-89f6-f8953b278ec9",
		"--image", "d32af696-5774-4936-8f09-e9f4cf069b31", "--amount", "2", "--password-stdin", "--wait=ready")
	var doc struct {
		Tasks   []json.RawMessage `json:"tasks"`
		Servers []struct {
			ResourceID string `json:"resource_id"`
			State      string `json:"state"`
			Networks   struct {
				Cards []struct {
					IP string `json:"ip_address"`
				} `json:"network_cards"`
			} `json:"networks"`
		} `json:"servers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); r.code != 0 || err != nil {
		t.Fatalf("create --wait=ready: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(doc.Tasks) != 1 || len(doc.Servers) != 2 {
		t.Fatalf("create --wait=ready: %d tasks, %d servers; want 1 and 2\n%s", len(doc.Tasks), len(doc.Servers), r.stdout)
	}
	var ids []string
	for _, s := range doc.Servers {
		if s.State != "running" || len(s.Networks.Cards) == 0 || s.Networks.Cards[0].IP == "" {
			t.Errorf("server %+v: want running with an address", s)
		}
		if !strings.Contains(r.stderr, "server "+s.ResourceID+" running") {
			t.Errorf("stderr does not say %s is running:\n%s", s.ResourceID, r.stderr)
		}
		ids = append(ids, s.ResourceID)
	}
	r = runCLI(t, env, "", append([]string{"delete", "--yes", "--wait"}, ids...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "server "+ids[1]+" gone") {
		t.Fatalf("delete --wait: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "", "-o", "json", "list", "--name", "ready")
	if r.code != 0 || strings.Contains(r.stdout, ids[0]) {
		t.Errorf("after delete --wait, list shows the servers:\n%s", r.stdout)
	}
	r = runCLI(t, env, "Cli-e2e-passw0rd", "create", "--region", "CN_Hohhot_B", "--name", "x", "--charge", "PostPaid",
		"--goods", "7685", "--compute", "c", "--image", "i", "--password-stdin", "--wait=soon")
	if r.code != 2 || !strings.Contains(r.stderr, "--wait is task or ready") {
		t.Errorf("--wait=soon: exit %d, want 2\n%s", r.code, r.stderr)
	}
}

// TestFleetOnEmulator: create --ttl sets a lease once the task succeeds;
// fleet, lease and protect show and change what gpubms knows of servers.
func TestFleetOnEmulator(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GPUBMS_ADDR": startGpubms(t)}
	r := runCLI(t, env, "Cli-e2e-passw0rd", "-o", "json", "create", "--region", "CN_Hohhot_B", "--name", "fleet",
		"--charge", "PostPaid", "--goods", "7685", "--compute", "8fbdb61e-b941-46db-89f6-f8953b278ec9",
		"--image", "d32af696-5774-4936-8f09-e9f4cf069b31", "--password-stdin", "--wait", "--ttl", "8h", "--at-expiry", "delete")
	var doc struct {
		Tasks []struct {
			ResourceIDs []string `json:"resource_ids"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); r.code != 0 || err != nil || len(doc.Tasks) != 1 || len(doc.Tasks[0].ResourceIDs) != 1 {
		t.Fatalf("create --ttl: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	id := doc.Tasks[0].ResourceIDs[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = runCLI(t, env, "", "lease", "list", id)
		if r.code == 0 && strings.Contains(r.stdout, "delete") && strings.Contains(r.stdout, "active") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease list %s: exit %d\n%s%s", id, r.code, r.stdout, r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r = runCLI(t, env, "", "protect", id, "--reason", "demo"); r.code != 0 {
		t.Fatalf("protect: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, env, "", "fleet", "--state", "running")
	if r.code != 0 || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "demo") || !strings.Contains(r.stdout, "delete 20") {
		t.Errorf("fleet: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "", "delete", "--yes", id)
	if r.code != 1 || !strings.Contains(r.stderr, "protected") {
		t.Errorf("delete of a protected server: exit %d, want 1 naming the protection\n%s", r.code, r.stderr)
	}
	if r = runCLI(t, env, "", "lease", "clear", id); r.code != 0 || !strings.Contains(r.stdout, "cleared "+id) {
		t.Errorf("lease clear: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = runCLI(t, env, "", "fleet", "--unleased", "--older-than", "1h"); r.code != 0 || strings.Contains(r.stdout, id) {
		t.Errorf("fleet --older-than 1h lists a server made just now:\n%s", r.stdout)
	}
	if r = runCLI(t, env, "", "lease", "set", id); r.code != 2 {
		t.Errorf("lease set without --ttl or --at: exit %d, want 2", r.code)
	}
}
