// Command regions lists the regions where GPU servers are sold: the
// smallest program on the Go client.
//
//	go run ./clients/go/examples/regions -addr 127.0.0.1:9090
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "gpubmsd gRPC address")
	insecure := flag.Bool("insecure", true, "plaintext (a loopback server)")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var opts []gpubms.Option
	if *insecure {
		opts = append(opts, gpubms.WithInsecure())
	}
	if tok := os.Getenv("GPUBMS_TOKEN"); tok != "" {
		opts = append(opts, gpubms.WithToken(tok))
	}
	c, err := gpubms.Dial(ctx, *addr, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	resp, err := c.DescribeGpuRegions(ctx, &gpubmsv1.DescribeGpuRegionsRequest{})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range resp.GetRegions() {
		fmt.Println(r.GetRegionId(), r.GetRegionName())
	}
}
