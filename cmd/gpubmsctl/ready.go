package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// What --wait follows on create: the task (--wait, --wait=task) or the task
// and then every server it made until running (--wait=ready).
const (
	waitTask  = "task"
	waitReady = "ready"
)

// waitServers waits until every server is in state until, saying each on
// stderr as it gets there, and returns their details (for running) in
// order; for gone it returns none.
func (a *app) waitServers(ctx context.Context, c *gpubms.Client, ids []string, until gpubmsv1.GpuState) ([]*gpubmsv1.DescribeGpuDetailResponse, error) {
	start := time.Now()
	var out []*gpubmsv1.DescribeGpuDetailResponse
	for _, id := range ids {
		if _, err := c.WaitGpu(ctx, id, until); err != nil {
			return out, err
		}
		word := strings.ToLower(strings.TrimPrefix(until.String(), "GPU_STATE_"))
		fmt.Fprintf(a.stderr, "gpubmsctl: server %s %s (%s)\n", id, word, time.Since(start).Round(time.Second))
		if until != gpubmsv1.GpuState_GPU_STATE_RUNNING {
			continue
		}
		d, err := c.DescribeGpuDetail(ctx, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: id})
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

// createAndWaitReady is create --wait=ready: the task to success, then each
// server to running, then one document (or table) with the servers and
// their addresses.
func createAndWaitReady(ctx context.Context, a *app, c *gpubms.Client, resp *gpubmsv1.CreateGpuInstanceResponse) error {
	if a.output == formatTable {
		if err := printTaskID(a.printer(), resp); err != nil {
			return err
		}
	}
	evs, err := a.waitTasks(ctx, c, []string{resp.GetTaskId()}, nil)
	var servers []*gpubmsv1.DescribeGpuDetailResponse
	if err == nil && len(evs) == 1 {
		ids := slices.Clone(evs[0].GetResourceIds())
		servers, err = a.waitServers(ctx, c, ids, gpubmsv1.GpuState_GPU_STATE_RUNNING)
	}
	if a.output == formatTable {
		if len(servers) > 0 {
			if perr := printReady(a.printer(), servers); perr != nil {
				return perr
			}
		}
		return err
	}
	if werr := a.writeWaitDocument(resp, evs, servers); werr != nil {
		return werr
	}
	return err
}

// printReady is the table of servers ready: id, name, state and addresses.
func printReady(p *printer, servers []*gpubmsv1.DescribeGpuDetailResponse) error {
	rows := make([][]string, 0, len(servers))
	for _, s := range servers {
		var private, public []string
		for _, n := range s.GetNetworks().GetNetworkCards() {
			if ip := n.GetIpAddress(); ip != "" {
				private = append(private, ip)
			}
			if ip := n.GetEipAddress(); ip != "" {
				public = append(public, ip)
			}
		}
		rows = append(rows, []string{s.GetResourceId(), s.GetName(), s.GetState(), orDash(strings.Join(private, ",")), orDash(strings.Join(public, ","))})
	}
	return p.table([]string{"RESOURCE ID", "NAME", "STATE", "PRIVATE IP", "EIP"}, rows...)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
