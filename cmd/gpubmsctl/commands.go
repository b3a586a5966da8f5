package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// maxPasswordLen bounds what is read from stdin; the contract allows 64.
const maxPasswordLen = 4096

func (a *app) regionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "regions",
		Short: "List the regions where GPU servers are sold (DescribeGpuRegions)",
		Example: `  gpubmsctl regions
  gpubmsctl regions -o json
  gpubmsctl regions --no-headers | cut -d ' ' -f 1   # the ids alone`,
		Args: noArgs,
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, _ []string) error {
			_, err := unary(ctx, a, c.DescribeGpuRegions, &gpubmsv1.DescribeGpuRegionsRequest{}, printRegions)
			return err
		}),
	}
}

func (a *app) goodsCommand() *cobra.Command {
	var req gpubmsv1.DescribeGpuGoodsRequest
	cmd := &cobra.Command{
		Use:   "goods --region R",
		Short: "List the goods of a region with their computes and disks (DescribeGpuGoods)",
		Example: `  gpubmsctl goods --region CN_Hohhot_B
  gpubmsctl goods --region CN_Hohhot_B -o yaml`,
		Args: noArgs,
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, _ []string) error {
			_, err := unary(ctx, a, c.DescribeGpuGoods, &req, printGoods)
			return err
		}),
	}
	cmd.Flags().StringVar(&req.RegionId, "region", "", "region id, e.g. CN_Hohhot_B (required)")
	_ = cmd.MarkFlagRequired("region")
	return cmd
}

func (a *app) priceCommand() *cobra.Command {
	var (
		req    gpubmsv1.DescribeGpuGoodsPriceRequest
		months int32
	)
	cmd := &cobra.Command{
		Use:   "price --region R --goods G --compute C --charge PrePaid|PostPaid [--months N] [--amount N]",
		Short: "Price an order of goods (DescribeGpuGoodsPrice)",
		Example: `  gpubmsctl price --region CN_Hohhot_B --goods 7685 --compute 8fbdb61e-b941-46db-89f6-f8953b278ec9 --charge PostPaid
  gpubmsctl price --region CN_Hohhot_B --goods 7685 --compute 8fbdb61e-b941-46db-89f6-f8953b278ec9 \
      --charge PrePaid --months 3 --amount 2 -o json`,
		Args: noArgs,
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, _ []string) error {
			req.PrepaidMonth = optionalInt32(cmd.Flags(), "months", months)
			_, err := unary(ctx, a, c.DescribeGpuGoodsPrice, &req, printPrice)
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.RegionId, "region", "", "region id (required)")
	f.Int64Var(&req.GoodsId, "goods", 0, "goods id (required)")
	f.StringVar(&req.ComputeId, "compute", "", "compute id (required)")
	f.StringVar(&req.InstanceChargeType, "charge", "", "PrePaid or PostPaid (required)")
	f.Int32Var(&months, "months", 0, "prepaid months, 0..36; 0 buys to the end of this month (default: the provider's)")
	f.Int32Var(&req.Amount, "amount", 1, "how many servers, 1..100")
	markRequired(cmd, "region", "goods", "compute", "charge")
	return cmd
}

func (a *app) imagesCommand() *cobra.Command {
	var req gpubmsv1.DescribeGpuImageRequest
	cmd := &cobra.Command{
		Use:   "images --region R [--type public|private] [--compute C] [--os OS]",
		Short: "List the images of a region, by OS family (DescribeGpuImage)",
		Example: `  gpubmsctl images --region CN_Hohhot_B --compute 8fbdb61e-b941-46db-89f6-f8953b278ec9
  gpubmsctl images --region CN_Hohhot_B --compute 8fbdb61e-b941-46db-89f6-f8953b278ec9 --os ubuntu
  gpubmsctl images --region CN_Hohhot_B --type private`,
		Args: noArgs,
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, _ []string) error {
			_, err := unary(ctx, a, c.DescribeGpuImage, &req, printImages)
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.RegionId, "region", "", "region id (required)")
	f.StringVar(&req.ImageType, "type", "public", "public or private")
	f.StringVar(&req.ComputeId, "compute", "", "compute id (required for public images)")
	f.StringVar(&req.OsType, "os", "", "operating system, e.g. ubuntu (default: all)")
	markRequired(cmd, "region")
	return cmd
}

func (a *app) listCommand() *cobra.Command {
	var (
		req            gpubmsv1.DescribeGpuRequest
		page, pageSize int32
	)
	cmd := &cobra.Command{
		Use:   "list [--name N] [--app-id A] [--page N] [--page-size N]",
		Short: "List servers (DescribeGpu)",
		Example: `  gpubmsctl list
  gpubmsctl list --name web --page 2 --page-size 50
  gpubmsctl list -o json`,
		Args: noArgs,
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, _ []string) error {
			req.PageNumber = optionalInt32(cmd.Flags(), "page", page)
			req.PageSize = optionalInt32(cmd.Flags(), "page-size", pageSize)
			_, err := unary(ctx, a, c.DescribeGpu, &req, printList)
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "only servers with this name")
	f.StringVar(&req.AppId, "app-id", "", "only servers in this VPC (virtual data centre)")
	f.Int32Var(&page, "page", 0, "page number, from 1 (default: the provider's, 1)")
	f.Int32Var(&pageSize, "page-size", 0, "page size (default: the provider's, 500)")
	return cmd
}

func (a *app) getCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Describe one server (DescribeGpuDetail)",
		Example: `  gpubmsctl get gpu-001
  gpubmsctl get gpu-001 -o yaml`,
		Args: exactArgs(1, "a server id"),
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, args []string) error {
			_, err := unary(ctx, a, c.DescribeGpuDetail, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: args[0]}, printDetail)
			return err
		}),
	}
}

func (a *app) createCommand() *cobra.Command {
	var (
		req                       gpubmsv1.CreateGpuInstanceRequest
		vpc                       gpubmsv1.VpcNetwork
		reserveEIP, passwordStdin bool
		wait                      bool
		waitMode                  string
		leaseTTL                  time.Duration
		atExpiry                  string
		months, autoRenew, raid   int32
		segments, partitions      []string
		mut                       mutationFlags
	)
	cmd := &cobra.Command{
		Use:   "create --region R [--vpc-id V --net-id N] --name NAME --charge C --goods G --compute C --image I --password-stdin [flags]",
		Short: "Order servers and start the task that builds them (CreateGpuInstance)",
		Long: `Order servers and start the task that builds them (CreateGpuInstance).

The root password is read from standard input (--password-stdin), e.g.
  printf '%s' "$ROOT_PASSWORD" | gpubmsctl create ... --password-stdin
It is never printed, and a dry run needs it too. The task id is printed;
--wait follows the task to its end.

Without --vpc-id or --net-id, create asks the server for the region's
networks (FindNetworks, as gpubmsctl networks does). When the zone has
exactly one VPC with exactly one subnet, and it agrees with the --vpc-id or
--net-id given alone, if any, create uses it and says so on stderr; a dry
run does the same. Otherwise (no network, several, or none that agrees)
it lists the choices on stderr with the flags to add, and exits with
status 2 without creating anything. With both flags no such call is made.
` + waitHelp + mutationHelp + `

For create, --dry-run prints the quote (total, unit price, currency), the
stock when the provider reports it, and the warnings (e.g. that a prepaid
order renews itself unless --auto-renew 0). If a create fails with
REQUEST_OUTCOME_UNKNOWN, the servers the first call may have made are
listed: adopt them (gpubmsctl get ID) rather than creating again.`,
		Example: `  printf '%s' "$PW" | gpubmsctl create --region CN_Hohhot_B --vpc-id vpc-1 --net-id net-1 \
      --name web --charge PostPaid --goods 11 --compute cmp-1 --image img-u22 --password-stdin --dry-run
  printf '%s' "$PW" | gpubmsctl create --region CN_Hohhot_B --name web --charge PostPaid \
      --goods 11 --compute cmp-1 --image img-u22 --password-stdin   # the zone's only network
  printf '%s' "$PW" | gpubmsctl create ... --password-stdin --wait
  printf '%s' "$PW" | gpubmsctl create ... --password-stdin --request-id 3f2c9a1e-...   # repeat safely`,
		Args: noArgs,
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			var err error
			if req.Password, err = a.readPassword(passwordStdin); err != nil {
				return err
			}
			if f.Changed("reserve-eip") {
				vpc.ReserveEip = &reserveEIP
			}
			if vpc.Segments, err = parseSegments(segments); err != nil {
				return err
			}
			if req.CustomPartition, req.CustomPartitionSize, err = parsePartitions(partitions); err != nil {
				return err
			}
			req.VpcNetwork = &vpc
			if vpc.VpcId == "" || vpc.NetId == "" {
				if err := a.pickNetwork(ctx, c, req.RegionId, &vpc); err != nil {
					return err
				}
			}
			req.PrepaidMonth = optionalInt32(f, "months", months)
			req.AutoRenew = optionalInt32(f, "auto-renew", autoRenew)
			req.Raid = optionalInt32(f, "raid", raid)
			req.RequestId, req.ValidateOnly = mut.requestID.ptr(), mut.dryRun
			if leaseTTL > 0 {
				action, err := leaseAction(atExpiry)
				if err != nil {
					return err
				}
				req.LeaseTtl, req.LeaseAction = durationpb.New(leaseTTL), action
			} else if f.Changed("at-expiry") {
				return usagef("--at-expiry needs --ttl")
			}

			switch waitMode {
			case "", waitTask, waitReady:
			default:
				return usagef("--wait is task or ready, not %q", waitMode)
			}
			wait = waitMode != ""
			a.begin(&mut, &req, &wait)
			if !wait {
				waitMode = ""
			}
			if mut.dryRun {
				_, err := unary(ctx, a, c.CreateGpuInstance, &req, validated[*gpubmsv1.CreateGpuInstanceResponse](printQuote))
				return a.dryRunDone(err)
			}
			resp, err := call(ctx, a, c.CreateGpuInstance, &req)
			if err != nil {
				return err
			}
			if waitMode == waitReady {
				return createAndWaitReady(ctx, a, c, resp)
			}
			return replyAndWait(ctx, a, c, resp, []string{resp.GetTaskId()}, wait, printTaskID)
		}),
	}
	f := cmd.Flags()
	mut.add(f)
	f.StringVar(&req.RegionId, "region", "", "region id (required)")
	f.StringVar(&vpc.VpcId, "vpc-id", "", "VPC id (default: the zone's only VPC, see gpubmsctl networks)")
	f.StringVar(&vpc.NetId, "net-id", "", "subnet id (default: the zone's only subnet, see gpubmsctl networks)")
	f.BoolVar(&reserveEIP, "reserve-eip", false, "keep an EIP for each server (default: the provider's, false)")
	f.StringArrayVar(&vpc.EipIdList, "eip", nil, "EIP id to use, one per server (repeatable; needs --reserve-eip)")
	f.StringArrayVar(&segments, "segment", nil, "private address as SEGMENT_ID=ADDRESS, one per server (repeatable)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the root password from standard input (required)")
	f.StringVar(&req.InstanceName, "name", "", "host name prefix (required)")
	f.StringVar(&req.AssignHostNo, "host-no", "", "host number, digits")
	f.StringVar(&req.InstanceChargeType, "charge", "", "PrePaid or PostPaid (required)")
	f.Int32Var(&months, "months", 0, "prepaid months, 0..36 (default: the provider's, 0)")
	f.Int32Var(&autoRenew, "auto-renew", 0, "1 renews a prepaid order automatically, 0 does not (default: the provider's, 1)")
	f.Int64Var(&req.GoodsId, "goods", 0, "goods id (required)")
	f.StringVar(&req.ComputeId, "compute", "", "compute id (required)")
	f.StringVar(&req.ImageId, "image", "", "image id (required)")
	f.StringVar(&req.BondMode, "bond-mode", "", "noBond, bond1 or bond6 (default: the provider's, noBond)")
	f.Int32Var(&raid, "raid", 0, "data disk RAID: 0, 1, 5, 10, -1 (pass-through) or -2 (none); 0 is sent when given")
	f.Int32Var(&req.Amount, "amount", 1, "how many servers, 1..100")
	f.StringArrayVar(&partitions, "partition", nil, "system disk partition as PATH:GB, the first one /, e.g. /:100 swap:16 (repeatable)")
	f.StringVar(&req.SubjectId, "subject-id", "", "trial credit id")
	f.StringVar(&req.PortMode, "port-mode", "", "switch port mode: trunk or access (default: the provider's)")
	f.DurationVar(&leaseTTL, "ttl", 0, "give every server made a lease: it ends this long after the task succeeds, e.g. 8h")
	f.StringVar(&atExpiry, "at-expiry", "stop", "what the --ttl lease does: stop or delete")
	f.StringVar(&waitMode, "wait", "", "follow the task until it ends (--wait), or then every server until running (--wait=ready), printing progress on stderr")
	f.Lookup("wait").NoOptDefVal = waitTask
	markRequired(cmd, "region", "name", "charge", "goods", "compute", "image")
	return cmd
}

func (a *app) reinstallCommand() *cobra.Command {
	var (
		req                 gpubmsv1.ReinstallGpuRequest
		passwordStdin, wait bool
		raid                int32
		partitions          []string
		mut                 mutationFlags
	)
	cmd := &cobra.Command{
		Use:   "reinstall ID --image I --password-stdin [--raid N] [--partition PATH:GB ...] [--wait] [--dry-run] [--request-id ID]",
		Short: "Reinstall a server's operating system (ReinstallGpu)",
		Long: `Reinstall a server's operating system (ReinstallGpu).

The new root password is read from standard input (--password-stdin) and is
never printed; a dry run needs it too. The task ids are printed; --wait
follows them to their end.
` + waitHelp + mutationHelp,
		Example: `  printf '%s' "$PW" | gpubmsctl reinstall gpu-001 --image img-u22 --password-stdin --dry-run
  printf '%s' "$PW" | gpubmsctl reinstall gpu-001 --image img-u22 --password-stdin --wait`,
		Args: exactArgs(1, "a server id"),
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, args []string) error {
			var err error
			if req.Password, err = a.readPassword(passwordStdin); err != nil {
				return err
			}
			if req.CustomPartition, req.CustomPartitionSize, err = parsePartitions(partitions); err != nil {
				return err
			}
			req.ResourceId = args[0]
			req.Raid = optionalInt32(cmd.Flags(), "raid", raid)
			req.RequestId, req.ValidateOnly = mut.requestID.ptr(), mut.dryRun

			a.begin(&mut, &req, &wait)
			if mut.dryRun {
				_, err := unary(ctx, a, c.ReinstallGpu, &req, validated[*gpubmsv1.ReinstallGpuResponse](printAffected))
				return a.dryRunDone(err)
			}
			resp, err := call(ctx, a, c.ReinstallGpu, &req)
			if err != nil {
				return err
			}
			return replyAndWait(ctx, a, c, resp, resp.GetTaskIds(), wait, printTaskIDs)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.ImageId, "image", "", "image id (required)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the new root password from standard input (required)")
	f.Int32Var(&raid, "raid", 0, "data disk RAID: 0, 1, 5, 10, -1 (pass-through) or -2 (none); 0 is sent when given")
	f.StringArrayVar(&partitions, "partition", nil, "system disk partition as PATH:GB, the first one / (repeatable)")
	f.BoolVar(&wait, "wait", false, "follow the tasks until they end, printing progress on stderr")
	mut.add(f)
	markRequired(cmd, "image")
	return cmd
}

func (a *app) powerCommand() *cobra.Command {
	var (
		wait bool
		mut  mutationFlags
	)
	cmd := &cobra.Command{
		Use:   "power start|stop|reset ID... [--wait] [--dry-run] [--request-id ID]",
		Short: "Start, stop or reset servers, one task each (OperateGpuPower)",
		Long: `Start, stop or reset servers, one task each (OperateGpuPower).

The servers' task ids are printed; --wait follows them to their end.
` + waitHelp + mutationHelp,
		Example: `  gpubmsctl power stop gpu-001 gpu-002 --dry-run
  gpubmsctl power stop gpu-001 gpu-002 --wait`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usagef("power needs an operation (start, stop or reset) and at least one server id")
			}
			switch args[0] {
			case "start", "stop", "reset":
				return nil
			}
			return usagef("power operation must be start, stop or reset, not %q", args[0])
		},
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, args []string) error {
			req := &gpubmsv1.OperateGpuPowerRequest{Operate: args[0], ResourceIds: args[1:],
				RequestId: mut.requestID.ptr(), ValidateOnly: mut.dryRun}
			a.begin(&mut, req, &wait)
			if mut.dryRun {
				_, err := unary(ctx, a, c.OperateGpuPower, req, validated[*gpubmsv1.OperateGpuPowerResponse](printAffected))
				return a.dryRunDone(err)
			}
			resp, err := call(ctx, a, c.OperateGpuPower, req)
			if err != nil {
				return err
			}
			return replyAndWait(ctx, a, c, resp, resp.GetTaskIds(), wait, printPower)
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the tasks until they end, printing progress on stderr")
	mut.add(cmd.Flags())
	return cmd
}

func (a *app) deleteCommand() *cobra.Command {
	var (
		yes, wait bool
		mut       mutationFlags
	)
	cmd := &cobra.Command{
		Use:   "delete ID... --yes | --dry-run",
		Short: "Delete servers (DeleteGpuInstances); --yes is required",
		Long: `Delete servers and their data (DeleteGpuInstances). --yes confirms it;
--dry-run, which deletes nothing, needs no --yes.
` + mutationHelp,
		Example: `  gpubmsctl delete gpu-001 gpu-002 --dry-run
  gpubmsctl delete gpu-001 gpu-002 --yes
  gpubmsctl delete gpu-001 --yes --wait   # until the provider no longer knows it`,
		Args: minArgs(1, "at least one server id"),
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, args []string) error {
			if !yes && !mut.dryRun {
				return usagef("delete destroys %d server(s) and their data: add --yes to confirm (or --dry-run to see what it would do)", len(args))
			}
			req := &gpubmsv1.DeleteGpuInstancesRequest{ResourceIds: args, RequestId: mut.requestID.ptr(), ValidateOnly: mut.dryRun}
			a.begin(&mut, req, &wait)
			if mut.dryRun {
				_, err := unary(ctx, a, c.DeleteGpuInstances, req, validated[*gpubmsv1.DeleteGpuInstancesResponse](printAffected))
				return a.dryRunDone(err)
			}
			if wait && a.output != formatTable {
				// One document: the reply, once every server is gone.
				if _, err := call(ctx, a, c.DeleteGpuInstances, req); err != nil {
					return err
				}
				if _, err := a.waitServers(ctx, c, args, gpubmsv1.GpuState_GPU_STATE_GONE); err != nil {
					return err
				}
				return show(a, &gpubmsv1.DeleteGpuInstancesResponse{}, nil)
			}
			_, err := unary(ctx, a, c.DeleteGpuInstances, req,
				func(p *printer, _ *gpubmsv1.DeleteGpuInstancesResponse) error {
					return p.printf("deleted %s\n", strings.Join(args, " "))
				})
			if err != nil || !wait {
				return err
			}
			_, err = a.waitServers(ctx, c, args, gpubmsv1.GpuState_GPU_STATE_GONE)
			return err
		}),
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion (not needed with --dry-run)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the provider no longer knows the servers (WatchGpu until gone)")
	mut.add(cmd.Flags())
	return cmd
}

func (a *app) taskCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "task ID",
		Short: "Report a task's status once (DescribeGpuTask)",
		Example: `  gpubmsctl task 3f2c9a1e
  gpubmsctl task 3f2c9a1e -o json`,
		Args: exactArgs(1, "a task id"),
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, args []string) error {
			_, err := unary(ctx, a, c.DescribeGpuTask, &gpubmsv1.DescribeGpuTaskRequest{TaskId: args[0]}, printTask(args[0]))
			return err
		}),
	}
}

func (a *app) watchCommand() *cobra.Command {
	var events bool
	cmd := &cobra.Command{
		Use:   "watch ID... [--events]",
		Short: "Follow tasks until all end, then print their final states (WatchTask/WatchTasks)",
		Long: `Follow tasks until all end, then print their final states (WatchTask/WatchTasks).

While it waits, stderr shows the tasks: on a terminal a line per task
redrawn in place (spinner, status, elapsed time, servers), elsewhere a line
per change ("TASK STATUS RESOURCES"). At the end stdout gets the tasks'
final states: a table, or with -o json or yaml one document
{"tasks": [...]}. Ctrl-C stops the watching, not the tasks (exit status 130).

--events prints every event on stdout as it happens instead: -o table a
line per change, heartbeats skipped; json one object a line, heartbeats
included; yaml a document per event. A server restart is ridden out by
attaching again. Exit status 3 if a task failed.`,
		Example: `  gpubmsctl watch 3f2c9a1e
  gpubmsctl watch 3f2c9a1e 77b0d2c4 -o json
  gpubmsctl watch 3f2c9a1e --events -o json | jq -r .raw_status`,
		Args: minArgs(1, "at least one task id"),
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, args []string) error {
			if events {
				_, err := a.waitTasks(ctx, c, args, a.printEvent)
				return err
			}
			evs, err := a.waitTasks(ctx, c, args, nil)
			if a.output == formatTable {
				if !slices.ContainsFunc(evs, func(ev *gpubmsv1.TaskEvent) bool { return !isTerminal(ev) }) {
					if perr := printTaskStates(a.printer(), evs); perr != nil {
						return perr
					}
				}
				return err
			}
			tasks, merr := marshalEvents(evs)
			if merr != nil {
				return merr
			}
			if werr := a.writeValue(tasksDocument{Tasks: tasks}); werr != nil {
				return werr
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&events, "events", false, "print every event on stdout as it happens, instead of the progress display and the final states")
	return cmd
}

// printEvent prints one event as it arrives, for watch --events: a JSON
// line or a YAML document (heartbeats included), or a text line
// (heartbeats skipped).
func (a *app) printEvent(ev *gpubmsv1.TaskEvent) {
	switch a.output {
	case formatJSON:
		if b, err := marshalProto(ev); err == nil {
			fmt.Fprintf(a.stdout, "%s\n", b)
		}
	case formatYAML:
		b, err := marshalProto(ev)
		if err != nil {
			return
		}
		if y, err := jsonToYAML(b); err == nil {
			fmt.Fprintf(a.stdout, "---\n%s", y)
		}
	default:
		if !ev.GetHeartbeat() {
			fmt.Fprintln(a.stdout, cell(eventLine(ev)))
		}
	}
}

// readPassword reads a password from stdin when --password-stdin is set: the
// whole input, less one trailing newline.
func (a *app) readPassword(fromStdin bool) (string, error) {
	if !fromStdin {
		return "", usagef("a password is required: pass --password-stdin and write it on standard input")
	}
	b, err := io.ReadAll(io.LimitReader(a.stdin, maxPasswordLen+1))
	if err != nil {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	if len(b) > maxPasswordLen {
		return "", usagef("the password on standard input is longer than %d bytes", maxPasswordLen)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", usagef("the password on standard input is empty")
	}
	return pw, nil
}

// optionalInt32 returns a pointer to v when the flag was given, nil otherwise,
// so an unset flag leaves the field absent and an explicit 0 is sent.
func optionalInt32(f *pflag.FlagSet, name string, v int32) *int32 {
	if !f.Changed(name) {
		return nil
	}
	return &v
}

// parsePartitions splits PATH:GB values into the two index-aligned lists.
func parsePartitions(values []string) ([]string, []int32, error) {
	var paths []string
	var sizes []int32
	for _, v := range values {
		i := strings.LastIndex(v, ":")
		if i <= 0 {
			return nil, nil, usagef("--partition %q: want PATH:GB, e.g. /:100", v)
		}
		size, err := strconv.ParseInt(v[i+1:], 10, 32)
		if err != nil || size <= 0 {
			return nil, nil, usagef("--partition %q: the size must be a positive number of GB", v)
		}
		paths = append(paths, v[:i])
		sizes = append(sizes, int32(size))
	}
	return paths, sizes, nil
}

// parseSegments reads SEGMENT_ID=ADDRESS values.
func parseSegments(values []string) ([]*gpubmsv1.Segment, error) {
	var out []*gpubmsv1.Segment
	for _, v := range values {
		id, addr, ok := strings.Cut(v, "=")
		if !ok || id == "" || addr == "" {
			return nil, usagef("--segment %q: want SEGMENT_ID=ADDRESS", v)
		}
		out = append(out, &gpubmsv1.Segment{SegmentId: id, Address: addr})
	}
	return out, nil
}

func markRequired(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		_ = cmd.MarkFlagRequired(n)
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.Name(), args)
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %s, got %d argument(s)", cmd.Name(), what, len(args))
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s needs %s", cmd.Name(), what)
		}
		return nil
	}
}

func maxArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("%s takes %s, got %d argument(s)", cmd.Name(), what, len(args))
		}
		return nil
	}
}
