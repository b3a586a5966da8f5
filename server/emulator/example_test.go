package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/gpubms/gpubms/server/emulator"
	"github.com/gpubms/gpubms/server/signature"
)

// Run an emulator on a loopback port and call it as a provider client would.
func Example() {
	emu, err := emulator.New(emulator.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- emulator.Serve(ctx, ln, emu) }()
	defer func() { stop(); <-done }()

	creds := emu.Credentials()
	q := signature.Common(nil, "DescribeGpuRegions", creds.AccessKeyID, uuid.NewString(), time.Now())
	resp, err := http.Get(emulator.BaseURL(ln) + "/?" + signature.SignedQuery(http.MethodGet, q, creds.AccessKeySecret))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var reply struct {
		Code string
		Data []struct{ RegionID, RegionName string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		panic(err)
	}
	fmt.Println(reply.Code, reply.Data[0].RegionID, reply.Data[0].RegionName)
	// Output: Success CN_Hohhot_B 中国大陆-呼和浩特-可用区B
}
