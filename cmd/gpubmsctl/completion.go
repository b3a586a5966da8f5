package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/status"

	gpubms "github.com/gpubms/gpubms/clients/go"
	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// completionTimeout bounds the calls behind one press of TAB.
const completionTimeout = 5 * time.Second

// maxImageComputes bounds the computes whose images one completion asks for.
const maxImageComputes = 8

// A completer answers a completion from the server.
type completer func(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, args []string) ([]cobra.Completion, error)

// fromServer makes a completion function of f: it resolves the connection
// settings from the command line being completed (--context, --addr, ...),
// asks within completionTimeout, keeps the choices that start with what
// was typed, and shows why as active help when the server cannot answer.
func (a *app) fromServer(f completer) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		const directive = cobra.ShellCompDirectiveNoFileComp
		if err := a.resolve(cmd); err != nil {
			return cobra.AppendActiveHelp(nil, "gpubmsctl: "+firstLine(err.Error())), directive
		}
		c, err := a.dial()
		if err != nil {
			return cobra.AppendActiveHelp(nil, "gpubmsctl: "+firstLine(err.Error())), directive
		}
		parent := a.ctx
		if parent == nil {
			parent = context.Background()
		}
		ctx, cancel := context.WithTimeout(parent, completionTimeout)
		defer cancel()
		comps, err := f(ctx, c, cmd, args)
		if err != nil {
			msg := err.Error()
			if s, ok := status.FromError(err); ok {
				msg = s.Code().String() + ": " + s.Message()
			}
			cobra.CompDebugln("gpubmsctl: "+msg, false)
			return cobra.AppendActiveHelp(nil, "gpubmsctl: cannot complete from "+a.addr+": "+firstLine(msg)), directive
		}
		return filterPrefix(comps, toComplete), directive
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// filterPrefix keeps the completions (and active help) that start with
// prefix.
func filterPrefix(comps []cobra.Completion, prefix string) []cobra.Completion {
	if prefix == "" {
		return comps
	}
	out := comps[:0:0]
	for _, c := range comps {
		if strings.HasPrefix(c, prefix) || strings.HasPrefix(c, "_activeHelp_ ") {
			out = append(out, c)
		}
	}
	return out
}

// withDesc is a completion with its description, kept on one line.
func withDesc(choice string, desc ...string) cobra.Completion {
	var parts []string
	for _, d := range desc {
		if d = strings.TrimSpace(cell(d)); d != "" {
			parts = append(parts, d)
		}
	}
	if len(parts) == 0 {
		return choice
	}
	return cobra.CompletionWithDesc(choice, strings.Join(parts, ", "))
}

// flagValue is the value given to a flag of the command line being
// completed, or "".
func flagValue(cmd *cobra.Command, name string) string {
	f := cmd.Flags().Lookup(name)
	if f == nil || !f.Changed {
		return ""
	}
	return f.Value.String()
}

// needs returns the active help asking for the flags missing before a
// completion can be asked, as a completion list.
func needs(cmd *cobra.Command, what string, flags ...string) ([]cobra.Completion, bool) {
	var missing []string
	for _, f := range flags {
		if flagValue(cmd, f) == "" {
			missing = append(missing, "--"+f)
		}
	}
	if len(missing) == 0 {
		return nil, false
	}
	return cobra.AppendActiveHelp(nil, fmt.Sprintf("give %s first to complete %s", strings.Join(missing, " and "), what)), true
}

// registerCompletions gives the flags and arguments of every command their
// completions: static choices, the contexts of the config file, and ids
// asked from the server (regions, goods, computes, images, networks,
// servers). It also sets up cobra's completion command.
func (a *app) registerCompletions(root *cobra.Command) {
	static := map[string][]cobra.Completion{
		"output":    {"table\taligned columns, for people", "json\tone JSON document", "yaml\tone YAML document"},
		"charge":    {"PrePaid\tpaid by the month, ahead", "PostPaid\tpaid by use"},
		"bond-mode": {"noBond", "bond1", "bond6"},
		"port-mode": {"trunk", "access"},
		"type":      {"public", "private"},
		"raid":      {"0", "1", "5", "10", "-1\tpass-through", "-2\tnone"},
	}
	dynamic := map[string]cobra.CompletionFunc{
		"region":  a.fromServer(completeRegions),
		"goods":   a.fromServer(completeGoods),
		"compute": a.fromServer(completeComputes),
		"image":   a.fromServer(completeImages),
		"vpc-id":  a.fromServer(completeVPCs),
		"net-id":  a.fromServer(completeSubnets),
		"eip":     a.fromServer(completeEIPs),
		"context": a.completeContexts,
	}
	register := func(cmd *cobra.Command, f *pflag.Flag) {
		if _, ok := cmd.GetFlagCompletionFunc(f.Name); ok {
			return
		}
		if fn, ok := dynamic[f.Name]; ok {
			_ = cmd.RegisterFlagCompletionFunc(f.Name, fn)
		} else if choices, ok := static[f.Name]; ok {
			_ = cmd.RegisterFlagCompletionFunc(f.Name, func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return filterPrefix(choices, toComplete), cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if cmd.Parent() != nil && cmd.Parent().Name() == "config" {
				return // set-context's --addr and the like name files or free text
			}
			register(cmd, f)
		})
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) { register(root, f) })
	walk(root)

	servers := a.fromServer(completeServers)
	for _, cmd := range root.Commands() {
		switch cmd.Name() {
		case "get", "reinstall":
			cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return servers(cmd, args, toComplete)
			}
		case "delete":
			cmd.ValidArgsFunction = servers
		case "power":
			cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) == 0 {
					return filterPrefix([]cobra.Completion{"start\tpower on", "stop\tpower off", "reset\tpower cycle"}, toComplete), cobra.ShellCompDirectiveNoFileComp
				}
				return servers(cmd, args[1:], toComplete)
			}
		case "config":
			for _, sub := range cmd.Commands() {
				switch sub.Name() {
				case "use-context", "set-context", "delete-context":
					sub.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
						if len(args) > 0 {
							return nil, cobra.ShellCompDirectiveNoFileComp
						}
						return a.completeContexts(cmd, args, toComplete)
					}
				case "get-contexts":
					sub.ValidArgsFunction = a.completeContexts
				default:
					sub.ValidArgsFunction = cobra.NoFileCompletions
				}
			}
		default:
			if cmd.ValidArgsFunction == nil {
				cmd.ValidArgsFunction = cobra.NoFileCompletions
			}
		}
	}

	root.InitDefaultCompletionCmd()
	for _, cmd := range root.Commands() {
		if cmd.Name() != "completion" {
			continue
		}
		cmd.Annotations = map[string]string{annotationOffline: "true"}
		cmd.Example = `  source <(gpubmsctl completion bash)                              # bash, this shell
  gpubmsctl completion bash > /etc/bash_completion.d/gpubmsctl      # bash, every shell
  gpubmsctl completion zsh > "${fpath[1]}/_gpubmsctl"               # zsh
  gpubmsctl completion fish > ~/.config/fish/completions/gpubmsctl.fish`
		for _, sh := range cmd.Commands() {
			switch sh.Name() {
			case "bash":
				sh.Example = "  source <(gpubmsctl completion bash)\n  gpubmsctl completion bash > /etc/bash_completion.d/gpubmsctl"
			case "zsh":
				sh.Example = "  source <(gpubmsctl completion zsh)\n  gpubmsctl completion zsh > \"${fpath[1]}/_gpubmsctl\""
			case "fish":
				sh.Example = "  gpubmsctl completion fish | source\n  gpubmsctl completion fish > ~/.config/fish/completions/gpubmsctl.fish"
			case "powershell":
				sh.Example = "  gpubmsctl completion powershell | Out-String | Invoke-Expression"
			}
		}
	}
}

// completeContexts offers the contexts of the config file.
func (a *app) completeContexts(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	cfg, err := loadConfig(configPath(a.getenv))
	if err != nil {
		return cobra.AppendActiveHelp(nil, "gpubmsctl: "+firstLine(err.Error())), cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, e := range cfg.Contexts {
		current := ""
		if e.Name == cfg.CurrentContext {
			current = "current"
		}
		out = append(out, withDesc(e.Name, e.Addr, current))
	}
	return filterPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

func completeRegions(ctx context.Context, c *gpubms.Client, _ *cobra.Command, _ []string) ([]cobra.Completion, error) {
	r, err := c.DescribeGpuRegions(ctx, &gpubmsv1.DescribeGpuRegionsRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]cobra.Completion, 0, len(r.GetRegions()))
	for _, g := range r.GetRegions() {
		out = append(out, withDesc(g.GetRegionId(), g.GetRegionName()))
	}
	return out, nil
}

// goodsOf lists the goods of region, those of charge when it is set, with
// the charge types of each.
func goodsOf(ctx context.Context, c *gpubms.Client, region, charge string) ([]*gpubmsv1.Goods, map[int64][]string, error) {
	r, err := c.DescribeGpuGoods(ctx, &gpubmsv1.DescribeGpuGoodsRequest{RegionId: region})
	if err != nil {
		return nil, nil, err
	}
	var goods []*gpubmsv1.Goods
	charges := map[int64][]string{}
	for _, l := range []struct {
		charge string
		goods  []*gpubmsv1.Goods
	}{{"PrePaid", r.GetPrePaid()}, {"PostPaid", r.GetPostPaid()}} {
		if charge != "" && charge != l.charge {
			continue
		}
		for _, g := range l.goods {
			if _, seen := charges[g.GetGoodsId()]; !seen {
				goods = append(goods, g)
			}
			charges[g.GetGoodsId()] = append(charges[g.GetGoodsId()], l.charge)
		}
	}
	return goods, charges, nil
}

func completeGoods(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, _ []string) ([]cobra.Completion, error) {
	if help, missing := needs(cmd, "--goods", "region"); missing {
		return help, nil
	}
	goods, charges, err := goodsOf(ctx, c, flagValue(cmd, "region"), flagValue(cmd, "charge"))
	if err != nil {
		return nil, err
	}
	out := make([]cobra.Completion, 0, len(goods))
	for _, g := range goods {
		out = append(out, withDesc(itoa(g.GetGoodsId()), g.GetGoodsName(), strings.Join(charges[g.GetGoodsId()], "/")))
	}
	return out, nil
}

// computesOf lists the computes of region (of the goods with id goods,
// when set), each once.
func computesOf(ctx context.Context, c *gpubms.Client, region, charge, goods string) ([]*gpubmsv1.Compute, error) {
	all, _, err := goodsOf(ctx, c, region, charge)
	if err != nil {
		return nil, err
	}
	var out []*gpubmsv1.Compute
	for _, g := range all {
		if goods != "" && goods != itoa(g.GetGoodsId()) {
			continue
		}
		for _, cp := range g.GetComputes() {
			if !slices.ContainsFunc(out, func(o *gpubmsv1.Compute) bool { return o.GetId() == cp.GetId() }) {
				out = append(out, cp)
			}
		}
	}
	return out, nil
}

func completeComputes(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, _ []string) ([]cobra.Completion, error) {
	if help, missing := needs(cmd, "--compute", "region"); missing {
		return help, nil
	}
	computes, err := computesOf(ctx, c, flagValue(cmd, "region"), flagValue(cmd, "charge"), flagValue(cmd, "goods"))
	if err != nil {
		return nil, err
	}
	out := make([]cobra.Completion, 0, len(computes))
	for _, cp := range computes {
		out = append(out, withDesc(cp.GetId(), cp.GetCpuInfo(), fmt.Sprintf("%d CPUs, %d GB", cp.GetCpu(), cp.GetRam()),
			fmt.Sprintf("%d in stock", cp.GetPurchaseNum())))
	}
	return out, nil
}

// completeImages offers the images of a create's region and compute (of
// every compute of the region without --compute), or for reinstall those
// of the server's region; and the private images of the region.
func completeImages(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, args []string) ([]cobra.Completion, error) {
	region := flagValue(cmd, "region")
	if cmd.Name() == "reinstall" {
		if len(args) == 0 {
			return cobra.AppendActiveHelp(nil, "give the server id first to complete --image"), nil
		}
		d, err := c.DescribeGpuDetail(ctx, &gpubmsv1.DescribeGpuDetailRequest{ResourceId: args[0]})
		if err != nil {
			return nil, err
		}
		region = d.GetRegionId()
	}
	if region == "" {
		return cobra.AppendActiveHelp(nil, "give --region first to complete --image"), nil
	}
	imageType := cmp.Or(flagValue(cmd, "type"), "public")
	var computes []string
	if cp := flagValue(cmd, "compute"); cp != "" {
		computes = []string{cp}
	} else if imageType == "public" {
		all, err := computesOf(ctx, c, region, flagValue(cmd, "charge"), flagValue(cmd, "goods"))
		if err != nil {
			return nil, err
		}
		for _, cp := range all {
			computes = append(computes, cp.GetId())
		}
		computes = computes[:min(len(computes), maxImageComputes)]
	}
	reqs := []*gpubmsv1.DescribeGpuImageRequest{}
	if imageType == "public" {
		for _, cp := range computes {
			reqs = append(reqs, &gpubmsv1.DescribeGpuImageRequest{RegionId: region, ImageType: "public", ComputeId: cp, OsType: flagValue(cmd, "os")})
		}
	}
	if cmd.Name() != "images" || imageType == "private" {
		reqs = append(reqs, &gpubmsv1.DescribeGpuImageRequest{RegionId: region, ImageType: "private", OsType: flagValue(cmd, "os")})
	}
	var out []cobra.Completion
	seen := map[string]bool{}
	for _, req := range reqs {
		r, err := c.DescribeGpuImage(ctx, req)
		if err != nil {
			if req.GetImageType() == "private" && len(out) > 0 {
				continue // the public ones still help
			}
			return nil, err
		}
		for _, f := range r.GetFamilies() {
			for _, im := range f.GetImages() {
				if seen[im.GetId()] {
					continue
				}
				seen[im.GetId()] = true
				out = append(out, withDesc(im.GetId(), im.GetName(), im.GetType()))
			}
		}
	}
	return out, nil
}

// networksOf is FindNetworks for the command line's region.
func networksOf(ctx context.Context, c *gpubms.Client, cmd *cobra.Command) (*gpubmsv1.FindNetworksResponse, error) {
	return c.FindNetworks(ctx, &gpubmsv1.FindNetworksRequest{RegionId: flagValue(cmd, "region")})
}

func completeVPCs(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, _ []string) ([]cobra.Completion, error) {
	if help, missing := needs(cmd, "--vpc-id", "region"); missing {
		return help, nil
	}
	r, err := networksOf(ctx, c, cmd)
	if err != nil {
		return nil, err
	}
	var out []cobra.Completion
	for _, ch := range r.GetVpcs() {
		v := ch.GetVpc()
		out = append(out, withDesc(v.GetVpcId(), v.GetVpcName(), v.GetVpcSegment(), fmt.Sprintf("%d subnet(s)", len(ch.GetSubnets()))))
	}
	return out, nil
}

func completeSubnets(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, _ []string) ([]cobra.Completion, error) {
	if help, missing := needs(cmd, "--net-id", "region"); missing {
		return help, nil
	}
	r, err := networksOf(ctx, c, cmd)
	if err != nil {
		return nil, err
	}
	var out []cobra.Completion
	for _, n := range networkChoices(r) {
		if n.matches(flagValue(cmd, "vpc-id"), "") {
			out = append(out, withDesc(n.netID, n.netName, n.cidr, "VPC "+nameAndID(n.vpcName, n.vpcID)))
		}
	}
	return out, nil
}

func completeEIPs(ctx context.Context, c *gpubms.Client, cmd *cobra.Command, _ []string) ([]cobra.Completion, error) {
	if help, missing := needs(cmd, "--eip", "region"); missing {
		return help, nil
	}
	r, err := networksOf(ctx, c, cmd)
	if err != nil {
		return nil, err
	}
	given, _ := cmd.Flags().GetStringArray("eip")
	var out []cobra.Completion
	for _, e := range r.GetFreeEips() {
		if slices.Contains(given, e.GetId()) {
			continue
		}
		mbps := ""
		if e.GetBandwidth() != nil {
			mbps = fmt.Sprintf("%d Mbps", e.GetBandwidth().GetQos())
		}
		out = append(out, withDesc(e.GetId(), e.GetIp(), mbps))
	}
	return out, nil
}

// completeServers offers the servers not already on the command line.
func completeServers(ctx context.Context, c *gpubms.Client, _ *cobra.Command, args []string) ([]cobra.Completion, error) {
	r, err := c.DescribeGpu(ctx, &gpubmsv1.DescribeGpuRequest{})
	if err != nil {
		return nil, err
	}
	var out []cobra.Completion
	for _, g := range r.GetRecords() {
		if slices.Contains(args, g.GetResourceId()) {
			continue
		}
		out = append(out, withDesc(g.GetResourceId(), g.GetName(), g.GetState(), g.GetRegionId()))
	}
	return out, nil
}
