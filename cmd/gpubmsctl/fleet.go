package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

func (a *app) fleetCommand() *cobra.Command {
	var (
		req        gpubmsv1.ListFleetRequest
		expiringIn time.Duration
		olderThan  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "fleet [--caller C] [--unleased] [--unprotected] [--state S] [--older-than D] [--expiring-in D]",
		Short: "List every server with its creator, lease and protection (ListFleet)",
		Example: `  gpubmsctl fleet
  gpubmsctl fleet --unleased --unprotected --older-than 24h   # the forgotten ones
  gpubmsctl fleet --expiring-in 1h -o json`,
		Args: noArgs,
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("older-than") {
				req.CreatedBefore = timestamppb.New(time.Now().Add(-olderThan))
			}
			if cmd.Flags().Changed("expiring-in") {
				req.ExpiringBefore = timestamppb.New(time.Now().Add(expiringIn))
			}
			_, err := unary(ctx, a, c.ListFleet, &req, printFleet)
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.Caller, "caller", "", "only servers this caller created through gpubms")
	f.BoolVar(&req.Unleased, "unleased", false, "only servers with no lease still to act")
	f.BoolVar(&req.Unprotected, "unprotected", false, "only servers not protected")
	f.StringVar(&req.State, "state", "", "only servers in this state, e.g. running")
	f.DurationVar(&olderThan, "older-than", 0, "only servers created longer ago than this")
	f.DurationVar(&expiringIn, "expiring-in", 0, "only servers whose lease acts within this")
	return cmd
}

func printFleet(p *printer, r *gpubmsv1.ListFleetResponse) error {
	rows := make([][]string, 0, len(r.GetServers()))
	for _, s := range r.GetServers() {
		lease := "-"
		if l := s.GetLease(); l != nil {
			lease = strings.ToLower(strings.TrimPrefix(l.GetAction().String(), "LEASE_ACTION_")) + " " +
				l.GetExpireAt().AsTime().UTC().Format(time.RFC3339) + " (" + strings.ToLower(strings.TrimPrefix(l.GetState().String(), "LEASE_STATE_")) + ")"
		}
		prot := "-"
		if s.GetProtection() != nil {
			prot = orDash(s.GetProtection().GetReason())
			if prot == "-" {
				prot = "yes"
			}
		}
		created := "-"
		if s.CreateTime != nil {
			created = s.GetCreateTime().AsTime().UTC().Format(time.RFC3339)
		}
		price := "-"
		if s.GetUnitPrice() != "" {
			price = s.GetUnitPrice() + " " + s.GetCurrency()
		}
		rows = append(rows, []string{
			s.GetServer().GetResourceId(), s.GetServer().GetName(), s.GetServer().GetRegionId(), s.GetServer().GetState(),
			orDash(s.GetCreator()), created, lease, prot, price,
		})
	}
	if err := p.table([]string{"RESOURCE ID", "NAME", "REGION", "STATE", "CREATOR", "CREATED", "LEASE", "PROTECTED", "UNIT PRICE"}, rows...); err != nil {
		return err
	}
	return p.footer("%d server(s)", len(r.GetServers()))
}

func (a *app) leaseCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lease set|list|clear",
		Short: "Give servers an end: stop or delete them at a time (SetLease, ListLeases, ClearLease)",
		Example: `  gpubmsctl lease set gpu-001 --ttl 8h --at-expiry delete
  gpubmsctl lease list
  gpubmsctl lease clear gpu-001`,
	}
	var (
		ttl      time.Duration
		at       string
		stopIn   time.Duration
		atExpiry string
	)
	set := &cobra.Command{
		Use:   "set ID... (--ttl D | --at TIME) [--at-expiry stop|delete] [--stop-in D]",
		Short: "Set the servers' lease, replacing theirs",
		Example: `  gpubmsctl lease set gpu-001 gpu-002 --ttl 8h
  gpubmsctl lease set gpu-001 --at 2026-12-24T18:00:00+08:00 --at-expiry delete --stop-in 6h`,
		Args: minArgs(1, "at least one server id"),
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, args []string) error {
			req := &gpubmsv1.SetLeaseRequest{ResourceIds: args}
			switch {
			case at != "" && ttl != 0:
				return usagef("give --ttl or --at, not both")
			case at != "":
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usagef("--at %q is not an RFC 3339 time, e.g. 2026-12-24T18:00:00+08:00", at)
				}
				req.ExpireAt = timestamppb.New(t)
			case ttl > 0:
				req.Ttl = durationpb.New(ttl)
			default:
				return usagef("lease set needs --ttl or --at")
			}
			action, err := leaseAction(atExpiry)
			if err != nil {
				return err
			}
			req.Action = action
			if stopIn > 0 {
				req.StopAt = timestamppb.New(time.Now().Add(stopIn))
			}
			_, err = unary(ctx, a, c.SetLease, req, func(p *printer, r *gpubmsv1.SetLeaseResponse) error {
				return printLeases(p, &gpubmsv1.ListLeasesResponse{Leases: r.GetLeases()})
			})
			return err
		}),
	}
	set.Flags().DurationVar(&ttl, "ttl", 0, "the lease acts this long from now, e.g. 8h")
	set.Flags().StringVar(&at, "at", "", "the lease acts at this time (RFC 3339)")
	set.Flags().StringVar(&atExpiry, "at-expiry", "stop", "what it does then: stop or delete")
	set.Flags().DurationVar(&stopIn, "stop-in", 0, "with delete: stop the server this long from now already")
	list := &cobra.Command{
		Use:     "list [ID]",
		Short:   "List the leases, soonest first",
		Example: "  gpubmsctl lease list\n  gpubmsctl lease list gpu-001 -o json",
		Args:    maxArgs(1, "at most one server id"),
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, args []string) error {
			req := &gpubmsv1.ListLeasesRequest{}
			if len(args) == 1 {
				req.ResourceId = args[0]
			}
			_, err := unary(ctx, a, c.ListLeases, req, printLeases)
			return err
		}),
	}
	clear := &cobra.Command{
		Use:     "clear ID...",
		Short:   "Remove the servers' leases: they no longer end",
		Example: "  gpubmsctl lease clear gpu-001 gpu-002",
		Args:    minArgs(1, "at least one server id"),
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, args []string) error {
			_, err := unary(ctx, a, c.ClearLease, &gpubmsv1.ClearLeaseRequest{ResourceIds: args}, func(p *printer, r *gpubmsv1.ClearLeaseResponse) error {
				return p.printf("cleared %s\n", orDash(strings.Join(r.GetCleared(), " ")))
			})
			return err
		}),
	}
	cmd.AddCommand(set, list, clear)
	return cmd
}

// leaseAction is the LeaseAction of --at-expiry.
func leaseAction(s string) (gpubmsv1.LeaseAction, error) {
	switch s {
	case "", "stop":
		return gpubmsv1.LeaseAction_LEASE_ACTION_STOP, nil
	case "delete":
		return gpubmsv1.LeaseAction_LEASE_ACTION_DELETE, nil
	}
	return 0, usagef("--at-expiry is stop or delete, not %q", s)
}

func printLeases(p *printer, r *gpubmsv1.ListLeasesResponse) error {
	rows := make([][]string, 0, len(r.GetLeases()))
	for _, l := range r.GetLeases() {
		stop := "-"
		if l.StopAt != nil {
			stop = l.GetStopAt().AsTime().UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{
			l.GetResourceId(), strings.ToLower(strings.TrimPrefix(l.GetAction().String(), "LEASE_ACTION_")),
			l.GetExpireAt().AsTime().UTC().Format(time.RFC3339), stop,
			strings.ToLower(strings.TrimPrefix(l.GetState().String(), "LEASE_STATE_")), orDash(l.GetCaller()), orDash(l.GetLastError()),
		})
	}
	return p.table([]string{"RESOURCE ID", "ACTION", "EXPIRES", "STOPS", "STATE", "SET BY", "LAST ERROR"}, rows...)
}

func (a *app) protectCommand(protect bool) *cobra.Command {
	var reason string
	use, short, example := "protect ID... [--reason TEXT]", "Protect servers from delete and reinstall (SetProtection)",
		`  gpubmsctl protect gpu-001 --reason "training until Friday"`
	if !protect {
		use, short, example = "unprotect ID...", "Lift the servers' protection (SetProtection)", "  gpubmsctl unprotect gpu-001"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Example: example,
		Args: minArgs(1, "at least one server id"),
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, args []string) error {
			req := &gpubmsv1.SetProtectionRequest{ResourceIds: args, Protected: protect, Reason: reason}
			_, err := unary(ctx, a, c.SetProtection, req, func(p *printer, r *gpubmsv1.SetProtectionResponse) error {
				word := "protected"
				if !protect {
					word = "unprotected"
				}
				return p.printf("%s %s\n", word, strings.Join(args, " "))
			})
			return err
		}),
	}
	if protect {
		cmd.Flags().StringVar(&reason, "reason", "", "why, for whoever meets the refusal")
	}
	return cmd
}
