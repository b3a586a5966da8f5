package gpubms_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// exampleService scripts a create that builds two servers, a reinstall that
// fails, and two power tasks.
func exampleService() *fakeService {
	return &fakeService{
		watch: map[string][][]step{
			"task-create": {{
				send(event("task-create", "init")),
				send(event("task-create", "init", "gpu-001", "gpu-002")),
				send(event("task-create", "succeed", "gpu-001", "gpu-002")),
			}},
			"task-reinstall": {{
				send(event("task-reinstall", "init", "gpu-001")),
				send(event("task-reinstall", "failed", "gpu-001")),
			}},
		},
		watchMany: [][]step{{
			send(event("task-stop-1", "init", "gpu-001")),
			send(event("task-stop-2", "init", "gpu-002")),
			send(event("task-stop-2", "succeed", "gpu-002")),
			send(event("task-stop-1", "succeed", "gpu-001")),
		}},
	}
}

func ExampleDial() {
	srv := startServer(exampleService())
	defer srv.stop()
	ctx := context.Background()

	// Against a real deployment, TLS with the system roots is the default:
	//
	//	c, err := gpubms.Dial(ctx, "gpubms.example.com:443", gpubms.WithToken(token))
	//
	// Here the server is in-process, so the connection is plaintext and
	// routed by a custom dialer.
	c, err := gpubms.Dial(ctx, "passthrough:///bufnet",
		gpubms.WithInsecure(),
		gpubms.WithToken("dev-token"),
		srv.dialer(),
	)
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
	// Output:
	// CN_Hohhot_B Hohhot B
}

// A server with a private CA that also verifies client certificates (mTLS),
// reached by IP address while its certificate names gpubms.internal. The
// certificate alone identifies the caller; WithToken could be added too.
// (Not run: it needs the server and the files.)
func ExampleWithTLSFiles() {
	ctx := context.Background()
	c, err := gpubms.Dial(ctx, "10.0.0.7:9090",
		gpubms.WithTLSFiles("/etc/gpubms/ca.pem", "/etc/gpubms/client.pem", "/etc/gpubms/client-key.pem"),
		gpubms.WithServerName("gpubms.internal"),
	)
	if err != nil {
		log.Fatal(err) // a missing or malformed file, named in err
	}
	defer c.Close()

	resp, err := c.DescribeGpuRegions(ctx, &gpubmsv1.DescribeGpuRegionsRequest{})
	if err != nil {
		log.Fatal(err) // Unavailable if either side's certificate is refused
	}
	fmt.Println(len(resp.GetRegions()), "regions")
}

func ExampleNewClient() {
	srv := startServer(exampleService())
	defer srv.stop()

	// A connection made by the caller, who also closes it.
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(bufDialer(srv)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	c := gpubms.NewClient(conn)
	resp, err := c.DescribeGpuRegions(context.Background(), &gpubmsv1.DescribeGpuRegionsRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(resp.GetRegions()), "region")
	// Output:
	// 1 region
}

func ExampleClient_WaitTask() {
	srv := startServer(exampleService())
	defer srv.stop()
	c, err := gpubms.Dial(context.Background(), "passthrough:///bufnet", gpubms.WithInsecure(), srv.dialer())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Bound the whole wait; creating servers can take tens of minutes.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	ev, err := c.WaitTask(ctx, "task-create",
		gpubms.WithProgress(func(ev *gpubmsv1.TaskEvent) {
			fmt.Println("progress:", ev.GetRawStatus(), ev.GetResourceIds())
		}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("done:", ev.GetStatus(), ev.GetResourceIds())
	// Output:
	// progress: init []
	// progress: init [gpu-001 gpu-002]
	// progress: succeed [gpu-001 gpu-002]
	// done: TASK_STATUS_SUCCEED [gpu-001 gpu-002]
}

func ExampleTaskFailedError() {
	srv := startServer(exampleService())
	defer srv.stop()
	c, err := gpubms.Dial(context.Background(), "passthrough:///bufnet", gpubms.WithInsecure(), srv.dialer())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.WaitTask(context.Background(), "task-reinstall")
	var failed *gpubms.TaskFailedError
	if errors.As(err, &failed) {
		fmt.Println("task", failed.TaskID, "failed on", failed.Event.GetResourceIds())
	}
	// Output:
	// task task-reinstall failed on [gpu-001]
}

func ExampleClient_WaitTasks() {
	srv := startServer(exampleService())
	defer srv.stop()
	c, err := gpubms.Dial(context.Background(), "passthrough:///bufnet", gpubms.WithInsecure(), srv.dialer())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// OperateGpuPower starts one task per server; wait for all of them.
	ids := []string{"task-stop-1", "task-stop-2"}
	final, err := c.WaitTasks(context.Background(), ids)
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range ids {
		fmt.Println(id, final[id].GetRawStatus(), final[id].GetResourceIds())
	}
	// Output:
	// task-stop-1 succeed [gpu-001]
	// task-stop-2 succeed [gpu-002]
}

func ExamplePtr() {
	// Optional fields are pointers: nil is "not set, use the provider's
	// default", while Ptr(0) sends an explicit RAID 0.
	req := &gpubmsv1.ReinstallGpuRequest{
		ResourceId: "gpu-001",
		ImageId:    "img-ubuntu-22",
		Raid:       gpubms.Ptr[int32](0),
	}
	fmt.Println(req.Raid != nil, req.GetRaid())
	// Output:
	// true 0
}

// A create priced by a dry run first, then ordered. The Client gives the
// request a request_id and retries Unavailable and Unknown with it, so a
// server restart or a lost reply never orders twice; an outcome that stays
// unknown names the servers the first call may have made. (Not run: it
// needs a server.)
func ExampleOutcomeUnknown() {
	ctx := context.Background()
	c, err := gpubms.Dial(ctx, "gpubms.example.com:443", gpubms.WithToken("token"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	req := &gpubmsv1.CreateGpuInstanceRequest{ /* region, goods, image, ... */ }

	req.ValidateOnly = true
	dry, err := c.CreateGpuInstance(ctx, req)
	if err != nil {
		log.Fatal(err) // NotFound, ResourceExhausted (stock), FailedPrecondition (price limit)
	}
	q := dry.GetValidation().GetQuote()
	fmt.Println("would cost", q.GetTradeAmount(), q.GetCurrency(), dry.GetValidation().GetWarnings())

	req.ValidateOnly = false
	resp, err := c.CreateGpuInstance(ctx, req)
	if ids, unknown := gpubms.OutcomeUnknown(err); unknown {
		log.Fatalf("request %s: its outcome is unknown; adopt %v rather than ordering again", gpubms.RequestID(req), ids)
	}
	if err != nil {
		// Sending req again (the same request_id) is safe whatever err is.
		log.Fatalf("request %s: %v", gpubms.RequestID(req), err)
	}
	fmt.Println("task", resp.GetTaskId())
}
