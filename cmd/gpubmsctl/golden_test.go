package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ with the output the tests get")

// checkGolden compares got with testdata/NAME.golden, or writes it there
// with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/gpubmsctl/ -run %s -update to write it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s\n(if the change is meant, run go test ./cmd/gpubmsctl/ -run '%s' -update)", path, diff, t.Name())
	}
}

// goldenEvents are the scripted tasks of the golden runs.
var goldenEvents = map[string][]*gpubmsv1.TaskEvent{
	"task-create":  {ev("task-create", "init"), ev("task-create", "init", "gpu-001"), ev("task-create", "succeed", "gpu-001")},
	"task-gpu-001": {ev("task-gpu-001", "init", "gpu-001"), ev("task-gpu-001", "succeed", "gpu-001")},
	"task-gpu-002": {ev("task-gpu-002", "init", "gpu-002"), ev("task-gpu-002", "failed", "gpu-002")},
	// A failure in the provider's own words.
	"task-odd": {ev("task-odd", "init", "gpu-003"),
		{TaskId: "task-odd", Status: gpubmsv1.TaskStatus_TASK_STATUS_FAILED, RawStatus: "failed: no stock left", ResourceIds: []string{"gpu-003"}}},
}

// TestGolden runs every command in each output format against the fake
// server and compares stdout with testdata/COMMAND.FORMAT.golden: the
// table printer's alignment (Chinese text included), the one JSON or YAML
// document of each run (--wait included), and --no-headers.
func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
	}{
		{"regions", []string{"regions"}, "", exitOK},
		{"goods", []string{"goods", "--region", "CN_Hohhot_B"}, "", exitOK},
		{"price", []string{"price", "--region", "CN_Hohhot_B", "--goods", "11", "--compute", "cmp-1", "--charge", "PrePaid"}, "", exitOK},
		{"images", []string{"images", "--region", "CN_Hohhot_B", "--compute", "cmp-1"}, "", exitOK},
		{"networks", []string{"networks", "--region", "CN_Hohhot_B"}, "", exitOK},
		{"list", []string{"list"}, "", exitOK},
		{"get", []string{"get", "gpu-001"}, "", exitOK},
		{"task", []string{"task", "task-1"}, "", exitOK},
		{"create", createFlags, password, exitOK},
		{"create-wait", append(append([]string{}, createFlags...), "--wait"), password, exitOK},
		{"create-dry-run", append(append([]string{}, createFlags...), "--dry-run"), password, exitOK},
		{"reinstall-dry-run", []string{"reinstall", "gpu-001", "--image", "img-u22", "--password-stdin", "--dry-run"}, password, exitOK},
		{"power", []string{"power", "stop", "gpu-001", "gpu-002"}, "", exitOK},
		{"power-wait-failed", []string{"power", "start", "gpu-001", "gpu-002", "--wait"}, "", exitTaskFailed},
		{"power-dry-run", []string{"power", "stop", "gpu-001", "gpu-002", "--dry-run"}, "", exitOK},
		{"delete", []string{"delete", "gpu-001", "--yes"}, "", exitOK},
		{"delete-dry-run", []string{"delete", "gpu-001", "gpu-002", "--dry-run"}, "", exitOK},
		{"watch", []string{"watch", "task-gpu-001", "task-gpu-002"}, "", exitTaskFailed},
	}
	for _, tt := range tests {
		for _, format := range []string{"table", "json", "yaml"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				t.Parallel()
				addr := serve(t, &recorder{events: goldenEvents})
				res := runCLI(t, nil, tt.stdin, append([]string{"--addr", addr, "-o", format}, tt.args...)...)
				if res.code != tt.wantCode {
					t.Fatalf("exit: got %d, want %d; stderr:\n%s", res.code, tt.wantCode, res.stderr)
				}
				checkOneDocument(t, format, res.stdout)
				checkGolden(t, tt.name+"."+format, res.stdout)
			})
		}
	}
	// Tables without headers or footers, for scripts.
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"regions", []string{"regions"}},
		{"list", []string{"list"}},
		{"networks", []string{"networks", "--region", "CN_Hohhot_B"}},
	} {
		t.Run(tt.name+"/no-headers", func(t *testing.T) {
			t.Parallel()
			addr := serve(t, &recorder{})
			res := runCLI(t, nil, "", append([]string{"--addr", addr, "--no-headers"}, tt.args...)...)
			if res.code != exitOK {
				t.Fatalf("exit: got %d, want 0; stderr:\n%s", res.code, res.stderr)
			}
			checkGolden(t, tt.name+".no-headers", res.stdout)
		})
	}
}

// checkOneDocument fails unless a json or yaml output is exactly one
// document.
func checkOneDocument(t *testing.T, format, out string) {
	t.Helper()
	switch format {
	case "json":
		dec := json.NewDecoder(strings.NewReader(out))
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, out)
		}
		if dec.More() {
			t.Fatalf("stdout holds more than one JSON document:\n%s", out)
		}
	case "yaml":
		dec := yaml.NewDecoder(strings.NewReader(out))
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("stdout is not YAML: %v\n%s", err, out)
		}
		if err := dec.Decode(&v); err == nil {
			t.Fatalf("stdout holds more than one YAML document:\n%s", out)
		}
	}
}

// TestYAMLIsTheJSONDocument: -o yaml says what -o json says, key for key.
func TestYAMLIsTheJSONDocument(t *testing.T) {
	t.Parallel()
	addr := serve(t, &recorder{events: goldenEvents})
	for _, args := range [][]string{
		{"goods", "--region", "CN_Hohhot_B"},
		{"get", "gpu-001"},
		{"power", "start", "gpu-001", "gpu-002", "--wait"},
	} {
		j := runCLI(t, nil, "", append([]string{"--addr", addr, "-o", "json"}, args...)...)
		y := runCLI(t, nil, "", append([]string{"--addr", addr, "-o", "yaml"}, args...)...)
		var fromJSON, fromYAML any
		if err := json.Unmarshal([]byte(j.stdout), &fromJSON); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if err := yaml.Unmarshal([]byte(y.stdout), &fromYAML); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		// Through JSON again, so that both sides have JSON's types.
		b, err := json.Marshal(fromYAML)
		if err != nil {
			t.Fatal(err)
		}
		var back any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fromJSON, back); diff != "" {
			t.Errorf("%v: yaml differs from json (-json +yaml):\n%s", args, diff)
		}
	}
}

// TestTablePrinter: cells padded by display width, wide characters in any
// column, the last column unpadded, and control characters kept out.
func TestTablePrinter(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := &printer{w: &b, headers: true}
	if err := p.table([]string{"ID", "NAME", "STATE"},
		[]string{"r1", "中国大陆-呼和浩特-可用区B", "运行中"},
		[]string{"r22", "Dallas A", "running"},
		[]string{"r3", "tab\there\nand\x1b[31mred", "-"},
	); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID   NAME                       STATE\n" +
		"r1   中国大陆-呼和浩特-可用区B  运行中\n" +
		"r22  Dallas A                   running\n" +
		"r3   tab here and\uFFFD[31mred       -\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	b.Reset()
	p.headers = false
	if err := p.table([]string{"ID", "NAME"}, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := p.footer("%d in all", 1); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "a  b\n" {
		t.Errorf("--no-headers: got %q, want %q", got, "a  b\n")
	}
}
