// Package emulator is a stateful stand-in for the provider's GPU bare-metal
// HTTP API (gpubms/v1), so that gpubms runs and is tested with no provider
// account. It speaks the provider's wire protocol and verifies signatures
// with package signature, the same code that signs requests in upstream.
//
// An [Emulator] is an [http.Handler] serving the path /gpubms/v1/ (and
// /gpubms/v1), and the provider's network (VPC) API on /vpc/ (and /vpc).
// [Serve] runs it on a listener; [BaseURL] and [VPCBaseURL] name it. All of it
// is safe for concurrent use, holds no goroutines of its own (tasks advance
// lazily against its [Clock]) and keeps its memory bounded.
//
// # Protocol
//
// GET actions (DescribeGpuRegions, DescribeGpuGoods, DescribeGpu,
// DescribeGpuDetail, DescribeGpuTask) read every parameter from the query.
// POST actions (DescribeGpuGoodsPrice, DescribeGpuImage, ReinstallGpu,
// CreateGpuInstance, OperateGpuPower, DeleteGpuInstances) read the common
// parameters from the query and the action parameters from a JSON object body
// (at most 1 MiB), with the provider's key names and JSON types: a string
// where a number is due (or the reverse) is ParameterInvalid, and so is a
// fractional number for an integer field; JSON null counts as absent; unknown
// keys are ignored. A body that is not a JSON object is MalformedJSON.
//
// Replies use the provider's envelope {"Code","Message","Data"} with its
// quirks: OperateGpuPower and DeleteGpuInstances say "Msg"; CreateGpuInstance
// returns Data.taskId, ReinstallGpu Data.TaskIds, OperateGpuPower
// Data.TaskIds index-aligned with Data.ResourceIds, DeleteGpuInstances
// Data {}; DescribeGpu's network cards spell EipAddress/EipLinkType and
// DescribeGpuDetail's spell eipAddress/eipLinkType; a goods list with nothing
// in it is null. Error replies also carry a "RequestId". Every error is HTTP
// 400 except throttling (429) and the injected 5xx (503). Any path other than
// /gpubms/v1[/] and /vpc[/] is a plain 404.
//
// # Checks on every request, in order
//
//   - a missing common parameter (Action, AccessKeyId, SignatureMethod,
//     SignatureNonce, SignatureVersion, Timestamp, Version, Signature):
//     ParameterIsEmpty;
//   - Version other than 2019-08-08: InvalidVersion;
//   - an AccessKeyId other than the emulator's: InvalidAccessKeyId;
//   - a Timestamp not in the form 2006-01-02T15:04:05Z: ParameterInvalid;
//     more than the skew (default 15 minutes) in the past or the future:
//     RequestExpired;
//   - SignatureMethod other than HMAC-SHA1 or SignatureVersion other than
//     1.0: ParameterInvalid; a wrong signature: SignatureDoesNotMatch;
//   - a SignatureNonce longer than 128 bytes: ParameterInvalid; one seen
//     before in the replay window: SignatureNonceUsed.
//     A nonce is remembered only once its signature is verified, for twice the
//     skew (the longest a signed request could stay acceptable), and at most
//     100 000 of them (WithMaxNonces): when full, the oldest is forgotten early;
//   - an unknown Action, or an action called with the wrong HTTP method:
//     InvalidAction.
//
// # Catalogue and prices
//
// Three regions: CN_Hohhot_B (中国大陆-呼和浩特-可用区B), CN_Qingyang_A and
// CN_SJZ_B, with the documented goods (7685 PostPaid with compute
// 8fbdb61e-b941-46db-89f6-f8953b278ec9, 7793 PrePaid, 7955, 8520, ...) and
// the documented image ids. Each compute has a PurchaseNum stock: a create
// takes Amount from it (NotSufficient when short) and a finished delete gives
// it back. Public images are per region and compute, grouped by OS family;
// OsType filters by family, case-insensitively; ComputeId is required for
// public images; the private image list is empty ({}).
//
// A goods may be priced and bought with either charge type (the provider's
// own example prices PostPaid goods 7685 as PrePaid). The price is
// UnitPrice × Amount × months with months = PrepaidMonth for PrePaid, where
// PrepaidMonth 0 ("until the end of this month") is billed as one month, and
// months = 1 for PostPaid. Money is a string with two decimals, Currency "CN".
// A PrePaid server expires at the start of the month after its creation month
// plus PrepaidMonth months; a PostPaid one has ExpireDate "". Dates are in
// China time (UTC+8), "2006-01-02 15:04:05".
//
// # Validation
//
// A required parameter that is missing or empty is ParameterIsEmpty; a bad
// value is ParameterInvalid (unknown region, goods or compute, bad enums,
// PrepaidMonth outside 0..36, Amount below 1, Raid outside {0,1,5,10,-1,-2},
// AutoRenew not 0/1, CustomPartition not starting with "/" or not paired one
// to one with CustomPartitionSize, Password not 8 to 64 characters (the
// contract's own rule), a non-numeric AssignHostNo, a VpcId or NetId longer
// than 64 bytes, EipIdList or Segments whose length is not Amount, a private
// IP that is malformed, already used in the subnet, outside the subnet or
// one of its reserved addresses (network, gateway, broadcast), PageNumber below 1,
// PageSize outside 1..1000, a repeated or more than 100 ResourceIds). Amount
// above 100 is AmountOversize. An unknown image (or one not offered for the
// server's region and compute) is ImageNotFound, an unknown server
// InstanceNotFound, an unknown or expired task DataNotExists. Passwords are
// checked and dropped: never stored, logged or echoed (a type error names the
// field, never its value).
//
// # Networks
//
// The network API's three reads, DescribeVPC, DescribeSubnet and
// DescribeEIP, are POSTs with a JSON body on /vpc/, checked like the GPU
// API's requests; the GPU actions are not there, nor these on /gpubms/v1/
// (InvalidAction). A GPU RegionId is a zone (AvailableZoneCode) and its
// region (RegionCode) is the zone without its last "_X" part ([RegionCode]).
// Each region has one VPC (a /16) with a subnet per zone (a /17), seeded and
// the same in every Emulator: CN_Hohhot_B has VPC
// f91084b4-050d-11ef-b98e-4637f0e9cd45 with subnet
// f9129e16-050d-11ef-b98e-4637f0e9cd45 (10.15.0.0/17) and CN_SJZ_B VPC
// b2ca7892-a329-11ef-943a-66fdd349a9b1 with subnet
// b2cc9168-a329-11ef-943a-66fdd349a9b1, as in the provider's examples;
// CN_Qingyang_A has two subnets (a create there must choose); the Hohhot VPC
// also has a subnet in CN_Hohhot_A, where no GPU is sold. [DefaultNetwork]
// names a zone's first one. The VPC name is spelled VPCNmae, as the
// provider's reference does. A page holds 20 VPCs or subnets; DescribeSubnet's
// PageNumber is a string, as documented. UsedIPNum counts the servers in the
// subnet.
//
// Each region has [EIPsPerRegion] EIPs (Hohhot's first is
// 8e2330bc-fbc5-11ee-a916-8a891739d466, 60.165.239.111). CreateGpuInstance
// checks VpcNetWork: a VpcId that is not a VPC of the zone's region is
// VdcNotFound, a NetId that is not a subnet of that VPC in the zone
// PipeIdNotFound. With ReserveEip, each EIP of EipIdList must be the
// region's (DataNotExists) and unbound (ParameterInvalid); without the list
// the first unbound ones are taken, IpNotEnough when too few are left. An EIP
// stays bound while its server exists; DescribeEIP shows IsBind and
// BindResourceInfo, and the servers' network cards the address and carrier
// (EipLinkType). Private addresses are handed out from the subnet.
//
// # Servers and tasks
//
// CreateGpuInstance makes Amount servers named InstanceName followed by a
// number: AssignHostNo (default 1) counting up, zero-padded to at least three
// digits (or to AssignHostNo's own width), with no separator, as in the
// provider's examples: InstanceName "bms", AssignHostNo "3", Amount 2 gives
// bms003 and bms004. One task covers them; OperateGpuPower makes one task per
// server, ReinstallGpu one. A task is "init" for the task delay (default 3s),
// then "succeed"; each server shows a transient state meanwhile:
//
//	create      (new)             → creating   → running
//	stop        running           → stopping   → stopped
//	start       stopped           → starting   → running
//	reset       running           → restarting → running
//	reinstall   running, stopped  → rebuilding → running (with the new image)
//	delete      running, stopped  → deleting   → removed, stock returned
//
// Any other transition, and any operation on a server in a transient state,
// is InstanceError; a request naming several servers is all or nothing.
// DeleteGpuInstances returns no task id, so its task is internal; the servers
// stay listed as "deleting" until it finishes. With the task-failure fault a
// task ends "failed" and rolls back: its servers return to their previous
// state (a failed create removes them and returns the stock). With the
// error-state fault a task ends "failed" and leaves its servers in the state
// "error", from which they can only be deleted.
//
// DescribeGpu lists servers oldest first; Name matches as a substring, AppId
// (the VPC id) exactly; PageNumber and PageSize default to 1 and 500.
// Finished tasks are forgotten after an hour (WithTaskRetention) or beyond
// 10 000 of them, whichever comes first. At most 1000 servers exist at once
// (WithMaxServers); past that a create is NotSufficient.
//
// # Faults
//
// [Faults] (WithFaults, or the --fault-* flags of [Config]) add latency to
// every request and, with given probabilities, drawn in this order from the
// emulator's random source (WithRand makes them deterministic): throttling
// (HTTP 429, Code "Throttling", Retry-After: 1), a 5xx (HTTP 503 with an HTML
// body), an error for one action or all ("*") (HTTP 400, Code
// "InternalError"), a malformed reply (HTTP 200, truncated JSON), and tasks
// that fail. Faults are decided before authentication and an injected error
// never changes state: the action did not run.
package emulator
