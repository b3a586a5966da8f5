package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

func (a *app) networksCommand() *cobra.Command {
	var req gpubmsv1.FindNetworksRequest
	cmd := &cobra.Command{
		Use:   "networks --region R",
		Short: "List the VPCs, subnets and free EIPs a create may use in a region (FindNetworks)",
		Long: `List the VPCs, subnets and free EIPs a create may use in a region (FindNetworks).

The first table has a line per subnet in the region's zone, with its VPC:
the --vpc-id and --net-id of create. The second lists the region's EIPs
that are not bound yet, with their bandwidth in Mbps: the --eip of create
(with --reserve-eip). The last line names the network API's region of the
zone and counts them (--no-headers drops it). -o json or yaml prints the
reply.

create without --vpc-id and --net-id asks the same question: it uses the
zone's network when there is only one, and lists these choices otherwise.`,
		Example: `  gpubmsctl networks --region CN_Hohhot_B
  gpubmsctl -o json networks --region CN_Hohhot_B
  gpubmsctl networks --region CN_Hohhot_B -o yaml`,
		Args: noArgs,
		RunE: a.runE(func(ctx context.Context, c *gpubms.Client, _ *cobra.Command, _ []string) error {
			_, err := unary(ctx, a, c.FindNetworks, &req, printNetworks)
			return err
		}),
	}
	cmd.Flags().StringVar(&req.RegionId, "region", "", "region id, e.g. CN_Hohhot_B (required)")
	markRequired(cmd, "region")
	return cmd
}

// printNetworks shows a FindNetworks reply: its subnets with their VPCs,
// the free EIPs, and a line of counts.
func printNetworks(p *printer, r *gpubmsv1.FindNetworksResponse) error {
	var rows [][]string
	vpcs := 0
	for _, ch := range r.GetVpcs() {
		v := ch.GetVpc()
		if len(ch.GetSubnets()) > 0 {
			vpcs++
		}
		for _, s := range ch.GetSubnets() {
			rows = append(rows, []string{
				cmp.Or(v.GetVpcId(), s.GetVpcId(), "-"), cmp.Or(v.GetVpcName(), s.GetVpcName(), "-"),
				cmp.Or(s.GetSubnetId(), "-"), cmp.Or(s.GetSubnetName(), "-"), cmp.Or(s.GetSubnetSegment(), "-"), itoa(s.GetUsedIpNum()),
			})
		}
	}
	subnets := len(rows)
	if err := p.table([]string{"VPC ID", "VPC NAME", "SUBNET ID", "SUBNET NAME", "CIDR", "USED IPS"}, rows...); err != nil {
		return err
	}
	if err := p.printf("\n"); err != nil {
		return err
	}
	rows = rows[:0]
	for _, e := range r.GetFreeEips() {
		mbps := "-"
		if e.GetBandwidth() != nil {
			mbps = itoa(e.GetBandwidth().GetQos())
		}
		rows = append(rows, []string{cmp.Or(e.GetId(), "-"), cmp.Or(e.GetIp(), "-"), mbps})
	}
	if err := p.table([]string{"FREE EIP ID", "IP", "MBPS"}, rows...); err != nil {
		return err
	}
	return p.footer("%s (network region %s): %d subnet(s) in %d VPC(s), %d free EIP(s)",
		r.GetRegionId(), cmp.Or(r.GetRegionCode(), "-"), subnets, vpcs, len(r.GetFreeEips()))
}

// network is one choice of a create's vpc_network: a subnet and its VPC.
type network struct {
	vpcID, vpcName, netID, netName, cidr string
}

// networkChoices lists the subnets of a FindNetworks reply with their VPCs.
func networkChoices(r *gpubmsv1.FindNetworksResponse) []network {
	var out []network
	for _, ch := range r.GetVpcs() {
		v := ch.GetVpc()
		for _, s := range ch.GetSubnets() {
			out = append(out, network{
				vpcID: cmp.Or(v.GetVpcId(), s.GetVpcId()), vpcName: cmp.Or(v.GetVpcName(), s.GetVpcName()),
				netID: s.GetSubnetId(), netName: s.GetSubnetName(), cidr: s.GetSubnetSegment(),
			})
		}
	}
	return out
}

// matches reports whether n agrees with the ids given (empty: not given).
func (n network) matches(vpcID, netID string) bool {
	return (vpcID == "" || vpcID == n.vpcID) && (netID == "" || netID == n.netID)
}

// nameAndID is "name (id)", or the id alone when there is no name.
func nameAndID(name, id string) string {
	if name == "" {
		return id
	}
	return name + " (" + id + ")"
}

// pickNetwork fills in a create's missing --vpc-id or --net-id. It asks
// FindNetworks for the region; when the zone has exactly one VPC with
// exactly one subnet, and it agrees with the id that was given if one was,
// or when exactly one of several networks agrees with the id given, it uses
// that network and says so on stderr. Otherwise it returns a usage error
// (exit status 2) listing the choices and the flags to add.
func (a *app) pickNetwork(ctx context.Context, c *gpubms.Client, region string, vpc *gpubmsv1.VpcNetwork) error {
	ctx, cancel := a.callContext(ctx)
	defer cancel()
	resp, err := c.FindNetworks(ctx, &gpubmsv1.FindNetworksRequest{RegionId: region})
	if err != nil {
		return prefixStatus(err, fmt.Sprintf("FindNetworks %s, to choose --vpc-id and --net-id: ", region))
	}
	choices := networkChoices(resp)
	// The choices that agree with a flag given alone, when there are any.
	var agree []network
	for _, n := range choices {
		if n.matches(vpc.GetVpcId(), vpc.GetNetId()) {
			agree = append(agree, n)
		}
	}
	if len(agree) == 1 && (len(choices) == 1 || vpc.GetVpcId() != "" || vpc.GetNetId() != "") {
		n := agree[0]
		why := "the only network in " + region
		if len(choices) > 1 {
			why = "the only network in " + region + " that matches"
		}
		vpc.VpcId, vpc.NetId = n.vpcID, n.netID
		fmt.Fprintf(a.stderr, "gpubmsctl: using VPC %s, subnet %s %s: %s\n",
			nameAndID(n.vpcName, n.vpcID), nameAndID(n.netName, n.netID), cmp.Or(n.cidr, "-"), why)
		return nil
	}

	var missing []string
	var given []string
	if vpc.GetVpcId() == "" {
		missing = append(missing, "--vpc-id")
	} else {
		given = append(given, "--vpc-id "+vpc.GetVpcId())
	}
	if vpc.GetNetId() == "" {
		missing = append(missing, "--net-id")
	} else {
		given = append(given, "--net-id "+vpc.GetNetId())
	}
	need := "create needs " + strings.Join(missing, " and ")
	if len(choices) == 0 {
		return usagef("%s: %s has no VPC with a subnet in the zone (network region %s) to choose from: make one at the provider first, or check --region",
			need, region, cmp.Or(resp.GetRegionCode(), "-"))
	}

	var b strings.Builder
	switch {
	case len(choices) == 1:
		fmt.Fprintf(&b, "%s: %s matches no network of %s, whose only one is:\n", need, strings.Join(given, " "), region)
	default:
		fmt.Fprintf(&b, "%s: %s has %d networks to choose from:\n", need, region, len(choices))
	}
	var table bytes.Buffer
	if err := printNetworks(&printer{w: &table, headers: true}, resp); err != nil {
		return err
	}
	b.Write(table.Bytes())
	suggest := choices
	if len(agree) > 0 {
		suggest = agree
	} else if len(given) > 0 && len(choices) > 1 {
		fmt.Fprintf(&b, "%s matches none of them.\n", strings.Join(given, " "))
	}
	if len(suggest) == 1 {
		b.WriteString("add:\n")
	} else {
		b.WriteString("add one of:\n")
	}
	for _, n := range suggest {
		fmt.Fprintf(&b, "  --vpc-id %s --net-id %s\n", n.vpcID, n.netID)
	}
	return usagef("%s", strings.TrimSuffix(b.String(), "\n"))
}

// prefixStatus puts prefix before the message of err, keeping its code and
// details, so report shows both.
func prefixStatus(err error, prefix string) error {
	s, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s%w", prefix, err)
	}
	p := s.Proto()
	p.Message = prefix + p.GetMessage()
	return status.FromProto(p).Err()
}
