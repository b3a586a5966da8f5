"""The thin, typed layer over the generated stubs: connect() and Client.

Every RPC of GpuService, NetworkService and FleetService is a method in
snake_case (``DescribeGpuRegions`` is ``describe_gpu_regions``) that takes
the request message, or its fields as keyword arguments, and returns the
response message. Failures are raised as gpubms.Error.
"""

from __future__ import annotations

import collections
import ipaddress
import os
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, List, Optional, Sequence, Tuple, TypeVar, Union

import grpc
from google.protobuf.message import Message

from gpubms import _deps  # noqa: F401  (before any generated module: see _deps)
from gpubms.errors import Error, TaskFailedError, from_rpc_error
from gpubms.v1 import fleet_pb2, fleet_pb2_grpc, gpubms_pb2, gpubms_pb2_grpc, network_pb2, network_pb2_grpc

__version__ = "0.1.0"

Metadata = Optional[Sequence[Tuple[str, Union[str, bytes]]]]
"""Extra gRPC metadata of one call: (key, value) pairs."""

PEM = Union[bytes, str, "os.PathLike[str]"]
"""PEM data (bytes, or a str starting with -----BEGIN), or the path of a PEM file."""

M = TypeVar("M", bound=Message)


class _Default:
    """The type of DEFAULT: a call's timeout left to the client's default."""

    _instance: Optional["_Default"] = None

    def __new__(cls) -> "_Default":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "gpubms.DEFAULT"


DEFAULT = _Default()
Timeout = Union[float, None, _Default]
"""Seconds a call may take; None for no deadline; DEFAULT for the client's (connect's timeout)."""

# Terminal task statuses.
_TERMINAL = (gpubms_pb2.TASK_STATUS_SUCCEED, gpubms_pb2.TASK_STATUS_FAILED)


@dataclass(frozen=True)
class TLS:
    """TLS settings of connect(): a CA that verifies the server instead of the
    system roots, a client certificate and key (mTLS), the name the server's
    certificate must carry. Each PEM is bytes, a str holding PEM, or a path."""

    ca: Optional[PEM] = None
    cert: Optional[PEM] = None
    key: Optional[PEM] = None
    server_name: Optional[str] = None

    def __repr__(self) -> str:  # never the key
        return f"gpubms.TLS(ca={'set' if self.ca else None}, cert={'set' if self.cert else None}, key={'[REDACTED]' if self.key else None}, server_name={self.server_name!r})"


def connect(
    addr: str,
    token: Optional[str] = None,
    tls: Union[bool, TLS, grpc.ChannelCredentials, None] = None,
    timeout: Optional[float] = 30,
    *,
    mutation_retries: int = 3,
    options: Sequence[Tuple[str, Any]] = (),
) -> "Client":
    """Connects to gpubms at addr and returns a Client.

    addr is ``host:port`` (plaintext on loopback, TLS elsewhere, as gpubmsctl
    does), ``http://host:port`` (plaintext), ``https://host:port`` (TLS) or
    ``unix:/path`` (plaintext). tls: None decides by the address; False
    forces plaintext; True is TLS with the system roots; a TLS gives a CA, a
    client certificate and a server name; a grpc.ChannelCredentials is used
    as it is.

    token is sent on every call as ``authorization: Bearer <token>``: as gRPC
    call credentials over TLS, as metadata over plaintext (which you chose
    by the address or tls=False).

    timeout is the default deadline of each unary call in seconds (None: no
    deadline); streams (watch_*) and waits (wait_*) have none unless given.

    Mutations (the RPCs whose request has a request_id: create, reinstall,
    power, delete) get a request_id (a UUID, written into the request) when
    they have none and are retried with the same id on UNAVAILABLE or
    UNKNOWN, up to mutation_retries times (0: never) within their timeout.

    Nothing is dialled here: the first call connects. options are extra gRPC
    channel options (("grpc.max_receive_message_length", ...), ...).
    """
    target, secure, host = _target(addr, tls)
    if token is not None and (token == "" or any(c.isspace() for c in token)):
        raise ValueError("gpubms: connect: token must be non-empty and without whitespace")
    opts: List[Tuple[str, Any]] = [("grpc.primary_user_agent", f"gpubms-python/{__version__}")]
    if secure:
        if isinstance(tls, grpc.ChannelCredentials):
            creds = tls
        else:
            t = tls if isinstance(tls, TLS) else TLS()
            if (t.cert is None) != (t.key is None):
                raise ValueError("gpubms: connect: a client certificate needs its key, and a key its certificate")
            creds = grpc.ssl_channel_credentials(
                root_certificates=_pem(t.ca), private_key=_pem(t.key), certificate_chain=_pem(t.cert)
            )
            if t.server_name:
                opts.append(("grpc.ssl_target_name_override", t.server_name))
        if token is not None:
            creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(token))
        opts.extend(options)
        channel = grpc.secure_channel(target, creds, opts)
    else:
        opts.extend(options)
        channel = grpc.insecure_channel(target, opts)
        if token is not None:
            channel = grpc.intercept_channel(channel, _Bearer(token))
    return Client(channel, timeout=timeout, mutation_retries=mutation_retries, _owned=True, _addr=host)


def _target(addr: str, tls: Any) -> Tuple[str, bool, str]:
    """The gRPC target, whether it is TLS, and the address for messages."""
    wants_tls = tls is True or isinstance(tls, (TLS, grpc.ChannelCredentials))
    if not isinstance(addr, str) or addr == "":
        raise ValueError("gpubms: connect: empty address")
    lower = addr.lower()
    if lower.startswith("unix:") or lower.startswith("unix-abstract:"):
        return addr, wants_tls, addr
    scheme = None
    rest = addr
    if "://" in addr:
        scheme, rest = addr.split("://", 1)
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"gpubms: connect: address {addr}: want host:port, http://host:port, https://host:port or unix:/path")
        rest = rest.rstrip("/")
    if rest == "" or "/" in rest or "?" in rest or "@" in rest:
        raise ValueError(f"gpubms: connect: address {addr}: want host:port, http://host:port, https://host:port or unix:/path")
    host, port = _split_host_port(rest, addr)
    if scheme == "http":
        if wants_tls:
            raise ValueError(f"gpubms: connect: address {addr} is plaintext (http://) but TLS settings were given: use https://")
        return f"{rest if port else rest + ':80'}", False, addr
    if scheme == "https":
        if tls is False:
            raise ValueError(f"gpubms: connect: address {addr} is TLS (https://) but tls is False: use http://")
        return f"{rest if port else rest + ':443'}", True, addr
    if port is None:
        raise ValueError(f"gpubms: connect: address {addr}: want host:port")
    if tls is False:
        return rest, False, addr
    return rest, wants_tls or not _loopback(host), addr


def _split_host_port(hp: str, addr: str) -> Tuple[str, Optional[str]]:
    if hp.startswith("["):
        end = hp.find("]")
        if end < 0:
            raise ValueError(f"gpubms: connect: address {addr}: unclosed [")
        host, tail = hp[1:end], hp[end + 1 :]
        if tail and not tail.startswith(":"):
            raise ValueError(f"gpubms: connect: address {addr}: want [host]:port")
        port = tail[1:] if tail else None
    elif hp.count(":") == 1:
        host, port = hp.split(":")
    elif ":" in hp:
        raise ValueError(f"gpubms: connect: address {addr}: an IPv6 address goes in brackets: [::1]:9090")
    else:
        host, port = hp, None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"gpubms: connect: address {addr}: bad port {port!r}")
    if host == "":
        raise ValueError(f"gpubms: connect: address {addr}: no host")
    return host, port


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pem(p: Optional[PEM]) -> Optional[bytes]:
    if p is None:
        return None
    if isinstance(p, bytes):
        return p
    if isinstance(p, str) and p.lstrip().startswith("-----BEGIN"):
        return p.encode()
    with open(p, "rb") as f:
        return f.read()


class _CallDetails(
    collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    pass


class _Bearer(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the bearer token to every call of a plaintext channel."""

    def __init__(self, token: str) -> None:
        self._md = ("authorization", "Bearer " + token)

    def __repr__(self) -> str:
        return "gpubms._Bearer([REDACTED])"

    def _details(self, d: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        md = [m for m in (d.metadata or ()) if m[0] != "authorization"]
        md.append(self._md)
        return _CallDetails(d.method, d.timeout, md, d.credentials, getattr(d, "wait_for_ready", None), getattr(d, "compression", None))

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)


class Stream(Generic[M]):
    """A server stream (watch_task, watch_tasks, watch_gpu): iterate it for the
    responses; a failure is raised as gpubms.Error. cancel() (or leaving a
    ``with`` block, or closing the client) ends it."""

    def __init__(self, call: Any, what: str) -> None:
        self._call = call
        self._what = what

    def __iter__(self) -> "Stream[M]":
        return self

    def __next__(self) -> M:
        try:
            return next(self._call)
        except grpc.RpcError as e:
            raise from_rpc_error(e, self._what) from None

    def cancel(self) -> None:
        self._call.cancel()

    def __enter__(self) -> "Stream[M]":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()


def ensure_request_id(request: Message) -> str:
    """Gives request a new request_id (a UUID) when it has the field and it is
    empty, and returns its request_id; "" for a request without the field (a
    read). The client does this itself for every mutation but a dry run;
    call it to learn (and log) the id before the call."""
    fd = request.DESCRIPTOR.fields_by_name.get("request_id")
    if fd is None or fd.type != fd.TYPE_STRING or fd.label == fd.LABEL_REPEATED:
        return ""
    rid = getattr(request, "request_id")
    if not rid:
        rid = str(uuid.uuid4())
        setattr(request, "request_id", rid)
    return str(rid)


def _mutating(request: Message) -> bool:
    fd = request.DESCRIPTOR.fields_by_name.get("request_id")
    return fd is not None and fd.type == fd.TYPE_STRING and fd.label != fd.LABEL_REPEATED


def _validate_only(request: Message) -> bool:
    fd = request.DESCRIPTOR.fields_by_name.get("validate_only")
    return fd is not None and fd.type == fd.TYPE_BOOL and bool(getattr(request, "validate_only"))


def _deadline(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else time.monotonic() + max(0.0, float(timeout))


def _remaining(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _expired(deadline: Optional[float]) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _exponential(initial: float, cap: float, n: int) -> float:
    """initial·2^(n-1), capped."""
    return min(cap, initial * (2.0 ** min(max(n - 1, 0), 60)))


def _equal_jitter(d: float) -> float:
    """d with up to half of it taken off at random (as clients/go/backoff.Equal)."""
    return d / 2 + random.uniform(0, d / 2)


class Client:
    """A gpubms client over one gRPC channel: every RPC of GpuService,
    NetworkService and FleetService as a method, plus wait_task, wait_gpu
    and wait_ready. Safe to share between threads. ``gpu``, ``network`` and
    ``fleet`` are the generated stubs, for anything the methods do not
    cover. Close it (or use it as a context manager) when done."""

    gpu: gpubms_pb2_grpc.GpuServiceStub
    network: network_pb2_grpc.NetworkServiceStub
    fleet: fleet_pb2_grpc.FleetServiceStub
    channel: grpc.Channel

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        timeout: Optional[float] = 30,
        mutation_retries: int = 3,
        mutation_backoff: Tuple[float, float] = (0.1, 2.0),
        _owned: bool = False,
        _addr: str = "",
    ) -> None:
        """Wraps a channel you made (and still own: close() leaves it open).
        connect() is the usual way in."""
        self.channel = channel
        self.gpu = gpubms_pb2_grpc.GpuServiceStub(channel)
        self.network = network_pb2_grpc.NetworkServiceStub(channel)
        self.fleet = fleet_pb2_grpc.FleetServiceStub(channel)
        self.timeout = timeout
        self.mutation_retries = max(0, int(mutation_retries))
        self.mutation_backoff = mutation_backoff
        self._owned = _owned
        self._addr = _addr

    def __repr__(self) -> str:
        return f"gpubms.Client({self._addr!r})" if self._addr else "gpubms.Client()"

    def close(self) -> None:
        """Closes the channel connect() made; calls in flight fail with CANCELLED."""
        if self._owned:
            self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- calls ---------------------------------------------------------------

    def _timeout(self, timeout: Timeout) -> Optional[float]:
        return self.timeout if isinstance(timeout, _Default) else timeout

    @staticmethod
    def _request(cls: Any, request: Optional[Message], fields: dict) -> Any:
        if request is None:
            return cls(**fields)
        if fields:
            raise TypeError(f"gpubms: give a {cls.DESCRIPTOR.name} or its fields, not both")
        if not isinstance(request, cls):
            raise TypeError(f"gpubms: want a {cls.DESCRIPTOR.full_name}, got {type(request).__name__}")
        return request

    def _unary(self, method: Any, name: str, cls: Any, request: Optional[Message], fields: dict, timeout: Timeout, metadata: Metadata) -> Any:
        req = self._request(cls, request, fields)
        t = self._timeout(timeout)
        if _mutating(req):
            return self._mutate(method, name, req, t, metadata)
        try:
            return method(req, timeout=t, metadata=metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def _mutate(self, method: Any, name: str, req: Message, timeout: Optional[float], metadata: Metadata) -> Any:
        # A dry run changes nothing: it is retried as it is, without an id of
        # its own, which could be mistaken for the real call's.
        rid = str(getattr(req, "request_id")) if _validate_only(req) else ensure_request_id(req)
        what = f"gpubms: {name} with request_id {rid}" if rid else f"gpubms: {name} (validate_only)"
        deadline = _deadline(timeout)
        lo, hi = self.mutation_backoff
        attempt = 0
        while True:
            attempt += 1
            try:
                return method(req, timeout=_remaining(deadline), metadata=metadata)
            except grpc.RpcError as e:
                code = e.code() if isinstance(e, grpc.Call) else None
                if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN):
                    raise from_rpc_error(e, f"{what}, attempt {attempt}" if attempt > 1 else None) from None
                if attempt > self.mutation_retries:
                    raise from_rpc_error(e, f"{what}: gave up after {attempt} attempts" if attempt > 1 else None) from None
                d = random.uniform(0, _exponential(lo, max(lo, hi), attempt))
                rem = _remaining(deadline)
                if rem is not None and rem <= d:
                    raise from_rpc_error(e, f"{what}: stopped after {attempt} attempt(s): the deadline is too near to try again") from None
                time.sleep(d)

    def _stream(self, method: Any, name: str, cls: Any, request: Optional[Message], fields: dict, timeout: Optional[float], metadata: Metadata) -> Any:
        req = self._request(cls, request, fields)
        return Stream(method(req, timeout=timeout, metadata=metadata), f"gpubms: {name}")

    # -- GpuService ------------------------------------------------------------

    def describe_gpu_regions(self, request: Optional[gpubms_pb2.DescribeGpuRegionsRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.DescribeGpuRegionsResponse:
        """GpuService.DescribeGpuRegions: the regions."""
        return self._unary(self.gpu.DescribeGpuRegions, "DescribeGpuRegions", gpubms_pb2.DescribeGpuRegionsRequest, request, fields, timeout, metadata)

    def describe_gpu_goods(self, request: Optional[gpubms_pb2.DescribeGpuGoodsRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.DescribeGpuGoodsResponse:
        """GpuService.DescribeGpuGoods: a region's goods, with their computes and stock."""
        return self._unary(self.gpu.DescribeGpuGoods, "DescribeGpuGoods", gpubms_pb2.DescribeGpuGoodsRequest, request, fields, timeout, metadata)

    def describe_gpu_goods_price(self, request: Optional[gpubms_pb2.DescribeGpuGoodsPriceRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.DescribeGpuGoodsPriceResponse:
        """GpuService.DescribeGpuGoodsPrice: the price of a compute."""
        return self._unary(self.gpu.DescribeGpuGoodsPrice, "DescribeGpuGoodsPrice", gpubms_pb2.DescribeGpuGoodsPriceRequest, request, fields, timeout, metadata)

    def describe_gpu_image(self, request: Optional[gpubms_pb2.DescribeGpuImageRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.DescribeGpuImageResponse:
        """GpuService.DescribeGpuImage: the images of a compute."""
        return self._unary(self.gpu.DescribeGpuImage, "DescribeGpuImage", gpubms_pb2.DescribeGpuImageRequest, request, fields, timeout, metadata)

    def describe_gpu(self, request: Optional[gpubms_pb2.DescribeGpuRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.DescribeGpuResponse:
        """GpuService.DescribeGpu: the servers, a page at a time."""
        return self._unary(self.gpu.DescribeGpu, "DescribeGpu", gpubms_pb2.DescribeGpuRequest, request, fields, timeout, metadata)

    def describe_gpu_detail(self, request: Optional[gpubms_pb2.DescribeGpuDetailRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.DescribeGpuDetailResponse:
        """GpuService.DescribeGpuDetail: one server, with its addresses."""
        return self._unary(self.gpu.DescribeGpuDetail, "DescribeGpuDetail", gpubms_pb2.DescribeGpuDetailRequest, request, fields, timeout, metadata)

    def create_gpu_instance(self, request: Optional[gpubms_pb2.CreateGpuInstanceRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.CreateGpuInstanceResponse:
        """GpuService.CreateGpuInstance: orders servers; follow the task with
        wait_task or wait_ready. A mutation: request_id filled in, retried."""
        return self._unary(self.gpu.CreateGpuInstance, "CreateGpuInstance", gpubms_pb2.CreateGpuInstanceRequest, request, fields, timeout, metadata)

    def reinstall_gpu(self, request: Optional[gpubms_pb2.ReinstallGpuRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.ReinstallGpuResponse:
        """GpuService.ReinstallGpu. A mutation: request_id filled in, retried."""
        return self._unary(self.gpu.ReinstallGpu, "ReinstallGpu", gpubms_pb2.ReinstallGpuRequest, request, fields, timeout, metadata)

    def operate_gpu_power(self, request: Optional[gpubms_pb2.OperateGpuPowerRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.OperateGpuPowerResponse:
        """GpuService.OperateGpuPower: start, stop or reset (a task per server).
        A mutation: request_id filled in, retried."""
        return self._unary(self.gpu.OperateGpuPower, "OperateGpuPower", gpubms_pb2.OperateGpuPowerRequest, request, fields, timeout, metadata)

    def delete_gpu_instances(self, request: Optional[gpubms_pb2.DeleteGpuInstancesRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.DeleteGpuInstancesResponse:
        """GpuService.DeleteGpuInstances (starts no task; wait_gpu(id,
        GPU_STATE_GONE) waits for the end). A mutation: request_id filled in, retried."""
        return self._unary(self.gpu.DeleteGpuInstances, "DeleteGpuInstances", gpubms_pb2.DeleteGpuInstancesRequest, request, fields, timeout, metadata)

    def describe_gpu_task(self, request: Optional[gpubms_pb2.DescribeGpuTaskRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> gpubms_pb2.DescribeGpuTaskResponse:
        """GpuService.DescribeGpuTask: a task's status, once."""
        return self._unary(self.gpu.DescribeGpuTask, "DescribeGpuTask", gpubms_pb2.DescribeGpuTaskRequest, request, fields, timeout, metadata)

    def watch_task(self, request: Optional[gpubms_pb2.WatchTaskRequest] = None, /, *, timeout: Optional[float] = None, metadata: Metadata = None, **fields: Any) -> Stream[gpubms_pb2.WatchTaskResponse]:
        """GpuService.WatchTask, the raw stream; wait_task follows it across restarts."""
        return self._stream(self.gpu.WatchTask, "WatchTask", gpubms_pb2.WatchTaskRequest, request, fields, timeout, metadata)

    def watch_tasks(self, request: Optional[gpubms_pb2.WatchTasksRequest] = None, /, *, timeout: Optional[float] = None, metadata: Metadata = None, **fields: Any) -> Stream[gpubms_pb2.WatchTasksResponse]:
        """GpuService.WatchTasks: the events of several tasks on one stream."""
        return self._stream(self.gpu.WatchTasks, "WatchTasks", gpubms_pb2.WatchTasksRequest, request, fields, timeout, metadata)

    # -- NetworkService --------------------------------------------------------

    def describe_vpc(self, request: Optional[network_pb2.DescribeVPCRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> network_pb2.DescribeVPCResponse:
        """NetworkService.DescribeVPC."""
        return self._unary(self.network.DescribeVPC, "DescribeVPC", network_pb2.DescribeVPCRequest, request, fields, timeout, metadata)

    def describe_subnet(self, request: Optional[network_pb2.DescribeSubnetRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> network_pb2.DescribeSubnetResponse:
        """NetworkService.DescribeSubnet."""
        return self._unary(self.network.DescribeSubnet, "DescribeSubnet", network_pb2.DescribeSubnetRequest, request, fields, timeout, metadata)

    def describe_eip(self, request: Optional[network_pb2.DescribeEIPRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> network_pb2.DescribeEIPResponse:
        """NetworkService.DescribeEIP."""
        return self._unary(self.network.DescribeEIP, "DescribeEIP", network_pb2.DescribeEIPRequest, request, fields, timeout, metadata)

    def find_networks(self, request: Optional[network_pb2.FindNetworksRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> network_pb2.FindNetworksResponse:
        """NetworkService.FindNetworks: a region's VPCs with their subnets, and its free EIPs."""
        return self._unary(self.network.FindNetworks, "FindNetworks", network_pb2.FindNetworksRequest, request, fields, timeout, metadata)

    # -- FleetService ----------------------------------------------------------

    def list_audit_events(self, request: Optional[fleet_pb2.ListAuditEventsRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> fleet_pb2.ListAuditEventsResponse:
        """FleetService.ListAuditEvents: the audit trail."""
        return self._unary(self.fleet.ListAuditEvents, "ListAuditEvents", fleet_pb2.ListAuditEventsRequest, request, fields, timeout, metadata)

    def find_capacity(self, request: Optional[fleet_pb2.FindCapacityRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> fleet_pb2.FindCapacityResponse:
        """FleetService.FindCapacity: the computes that fit a need, in every region, cheapest first."""
        return self._unary(self.fleet.FindCapacity, "FindCapacity", fleet_pb2.FindCapacityRequest, request, fields, timeout, metadata)

    def watch_gpu(self, request: Optional[fleet_pb2.WatchGpuRequest] = None, /, *, timeout: Optional[float] = None, metadata: Metadata = None, **fields: Any) -> Stream[fleet_pb2.WatchGpuResponse]:
        """FleetService.WatchGpu, the raw stream; wait_gpu follows it across restarts."""
        return self._stream(self.fleet.WatchGpu, "WatchGpu", fleet_pb2.WatchGpuRequest, request, fields, timeout, metadata)

    def set_lease(self, request: Optional[fleet_pb2.SetLeaseRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> fleet_pb2.SetLeaseResponse:
        """FleetService.SetLease: an end for servers (operators)."""
        return self._unary(self.fleet.SetLease, "SetLease", fleet_pb2.SetLeaseRequest, request, fields, timeout, metadata)

    def list_leases(self, request: Optional[fleet_pb2.ListLeasesRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> fleet_pb2.ListLeasesResponse:
        """FleetService.ListLeases."""
        return self._unary(self.fleet.ListLeases, "ListLeases", fleet_pb2.ListLeasesRequest, request, fields, timeout, metadata)

    def clear_lease(self, request: Optional[fleet_pb2.ClearLeaseRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> fleet_pb2.ClearLeaseResponse:
        """FleetService.ClearLease."""
        return self._unary(self.fleet.ClearLease, "ClearLease", fleet_pb2.ClearLeaseRequest, request, fields, timeout, metadata)

    def list_fleet(self, request: Optional[fleet_pb2.ListFleetRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> fleet_pb2.ListFleetResponse:
        """FleetService.ListFleet: every server, with its creator, lease and protection."""
        return self._unary(self.fleet.ListFleet, "ListFleet", fleet_pb2.ListFleetRequest, request, fields, timeout, metadata)

    def set_protection(self, request: Optional[fleet_pb2.SetProtectionRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> fleet_pb2.SetProtectionResponse:
        """FleetService.SetProtection (operators)."""
        return self._unary(self.fleet.SetProtection, "SetProtection", fleet_pb2.SetProtectionRequest, request, fields, timeout, metadata)

    def list_protections(self, request: Optional[fleet_pb2.ListProtectionsRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> fleet_pb2.ListProtectionsResponse:
        """FleetService.ListProtections."""
        return self._unary(self.fleet.ListProtections, "ListProtections", fleet_pb2.ListProtectionsRequest, request, fields, timeout, metadata)

    def get_server_info(self, request: Optional[fleet_pb2.GetServerInfoRequest] = None, /, *, timeout: Timeout = DEFAULT, metadata: Metadata = None, **fields: Any) -> fleet_pb2.GetServerInfoResponse:
        """FleetService.GetServerInfo: the server's build, mode and features."""
        return self._unary(self.fleet.GetServerInfo, "GetServerInfo", fleet_pb2.GetServerInfoRequest, request, fields, timeout, metadata)

    # -- waiting ---------------------------------------------------------------

    def wait_task(
        self,
        task_id: str,
        *,
        timeout: Optional[float] = None,
        max_attempts: int = 10,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        poll_interval: float = 5.0,
    ) -> Iterator[gpubms_pb2.TaskEvent]:
        """Follows a task over WatchTask and yields every event: the current
        status first, each change, heartbeats (``event.heartbeat``), and the
        terminal one (TASK_STATUS_SUCCEED or TASK_STATUS_FAILED), after which
        it ends. A failed task is not an error here: look at the last event's
        status (wait_ready raises TaskFailedError).

        When the stream breaks with UNAVAILABLE (a server restarting) or ends
        before a terminal status, it attaches again, which is always safe,
        after a capped, jittered backoff (backoff_initial doubling to
        backoff_max, seconds), at most max_attempts times in a row; an event
        resets the count. A server without WatchTask (UNIMPLEMENTED) is polled
        with DescribeGpuTask every poll_interval. Any other failure
        (NOT_FOUND for an unknown task) is raised as gpubms.Error at once, the
        task named in its message; timeout (seconds, for the whole wait)
        passing raises DEADLINE_EXCEEDED. Breaking out of the loop closes the
        stream.
        """
        if not task_id:
            raise Error(grpc.StatusCode.INVALID_ARGUMENT, "gpubms: wait for task: empty task id")
        return self._wait_task(task_id, _deadline(timeout), timeout, max(1, int(max_attempts)), backoff_initial, max(backoff_max, backoff_initial), poll_interval)

    def _wait_task(self, task_id: str, deadline: Optional[float], timeout: Optional[float], max_attempts: int, lo: float, hi: float, poll: float) -> Iterator[gpubms_pb2.TaskEvent]:
        what = f"task {task_id}"
        failures = 0
        last: Optional[gpubms_pb2.TaskEvent] = None
        while True:
            if _expired(deadline):
                raise _timed_out(what, timeout, last)
            progressed = False
            err: Optional[grpc.RpcError] = None
            call = self.gpu.WatchTask(gpubms_pb2.WatchTaskRequest(task_id=task_id), timeout=_remaining(deadline))
            try:
                for res in call:
                    if not res.HasField("event"):
                        continue
                    ev = res.event
                    if ev.task_id and ev.task_id != task_id:
                        continue
                    progressed = True
                    last = ev
                    yield ev
                    if ev.status in _TERMINAL:
                        return
            except grpc.RpcError as e:
                err = e
            finally:
                call.cancel()
            if _expired(deadline):
                raise _timed_out(what, timeout, last)
            code = err.code() if isinstance(err, grpc.Call) else (grpc.StatusCode.UNAVAILABLE if err is None else grpc.StatusCode.UNKNOWN)
            if code == grpc.StatusCode.UNIMPLEMENTED:
                yield from self._poll_task(task_id, last, deadline, timeout, max_attempts, lo, hi, poll)
                return
            if code != grpc.StatusCode.UNAVAILABLE:
                raise from_rpc_error(err, f"gpubms: watch {what}") from None
            if progressed:
                failures = 0
            failures += 1
            if failures >= max_attempts:
                prefix = f"gpubms: watch {what}: gave up after {failures} attempts"
                if err is None:
                    raise Error(grpc.StatusCode.UNAVAILABLE, f"{prefix}: stream ended before a terminal status")
                raise from_rpc_error(err, prefix) from None
            if not _sleep(_equal_jitter(_exponential(lo, hi, failures)), deadline):
                raise _timed_out(what, timeout, last)

    def _poll_task(self, task_id: str, last: Optional[gpubms_pb2.TaskEvent], deadline: Optional[float], timeout: Optional[float], max_attempts: int, lo: float, hi: float, poll: float) -> Iterator[gpubms_pb2.TaskEvent]:
        what = f"task {task_id}"
        start = time.monotonic()
        failures = 0
        while True:
            delay = poll
            try:
                r = self.gpu.DescribeGpuTask(gpubms_pb2.DescribeGpuTaskRequest(task_id=task_id), timeout=_min(self.timeout, _remaining(deadline)))
            except grpc.RpcError as e:
                if _expired(deadline):
                    raise _timed_out(what, timeout, last) from None
                if not isinstance(e, grpc.Call) or e.code() != grpc.StatusCode.UNAVAILABLE:
                    raise from_rpc_error(e, f"gpubms: describe {what}") from None
                failures += 1
                if failures >= max_attempts:
                    raise from_rpc_error(e, f"gpubms: describe {what}: gave up after {failures} attempts") from None
                delay = _equal_jitter(_exponential(lo, hi, failures))
            else:
                failures = 0
                ev = _event_from_task(task_id, r, time.monotonic() - start)
                if _changed(last, ev):
                    last = ev
                    yield ev
                if ev.status in _TERMINAL:
                    return
            if not _sleep(delay, deadline):
                raise _timed_out(what, timeout, last)

    def wait_gpu(
        self,
        resource_id: str,
        until: fleet_pb2.GpuState = fleet_pb2.GPU_STATE_RUNNING,
        *,
        timeout: Optional[float] = None,
        max_attempts: int = 10,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
    ) -> fleet_pb2.GpuEvent:
        """Waits until the server is in state until (GPU_STATE_RUNNING, the
        default, GPU_STATE_STOPPED or GPU_STATE_GONE) and returns the event
        that said so. Follows FleetService.WatchGpu, attaching again after
        UNAVAILABLE or a stream that ends early, like wait_task. A server
        that can no longer get there (gone or in error) is FAILED_PRECONDITION
        at once, an unknown one NOT_FOUND; timeout passing is DEADLINE_EXCEEDED."""
        if not resource_id:
            raise Error(grpc.StatusCode.INVALID_ARGUMENT, "gpubms: wait for server: empty resource id")
        deadline = _deadline(timeout)
        what = f"server {resource_id}"
        max_attempts = max(1, int(max_attempts))
        hi = max(backoff_max, backoff_initial)
        failures = 0
        while True:
            if _expired(deadline):
                raise _timed_out(what, timeout, None)
            progressed = False
            err: Optional[grpc.RpcError] = None
            call = self.fleet.WatchGpu(fleet_pb2.WatchGpuRequest(resource_id=resource_id, until=until), timeout=_remaining(deadline))
            try:
                for res in call:
                    if not res.HasField("event"):
                        continue
                    progressed = True
                    if res.event.state == until:
                        return res.event
            except grpc.RpcError as e:
                err = e
            finally:
                call.cancel()
            if _expired(deadline):
                raise _timed_out(what, timeout, None)
            if err is not None and (not isinstance(err, grpc.Call) or err.code() != grpc.StatusCode.UNAVAILABLE):
                raise from_rpc_error(err, f"gpubms: wait for {what}") from None
            if progressed:
                failures = 0
            failures += 1
            if failures >= max_attempts:
                prefix = f"gpubms: wait for {what}: gave up after {failures} attempts"
                if err is None:
                    raise Error(grpc.StatusCode.UNAVAILABLE, f"{prefix}: stream ended before the state")
                raise from_rpc_error(err, prefix) from None
            if not _sleep(_equal_jitter(_exponential(backoff_initial, hi, failures)), deadline):
                raise _timed_out(what, timeout, None)

    def wait_ready(
        self,
        task_id: str,
        *,
        timeout: Optional[float] = None,
        progress: Optional[Callable[[gpubms_pb2.TaskEvent], None]] = None,
        max_attempts: int = 10,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
    ) -> List[gpubms_pb2.DescribeGpuDetailResponse]:
        """What a create's caller wants: waits for the task to succeed
        (wait_task), then for every server it made to be running (wait_gpu),
        and returns each server's details, addresses included, in the task's
        order. progress, if given, sees every task event. A failed task
        raises TaskFailedError; a server that cannot become running,
        FAILED_PRECONDITION naming it; timeout (seconds, the whole wait)
        passing, DEADLINE_EXCEEDED."""
        deadline = _deadline(timeout)
        last: Optional[gpubms_pb2.TaskEvent] = None
        for ev in self.wait_task(task_id, timeout=timeout, max_attempts=max_attempts, backoff_initial=backoff_initial, backoff_max=backoff_max):
            last = ev
            if progress is not None:
                progress(ev)
        assert last is not None  # wait_task ends only after a terminal event
        if last.status == gpubms_pb2.TASK_STATUS_FAILED:
            raise TaskFailedError(task_id, last)
        out: List[gpubms_pb2.DescribeGpuDetailResponse] = []
        for rid in last.resource_ids:
            rem = _remaining(deadline)
            if rem is not None and rem <= 0:
                raise _timed_out(f"server {rid}", timeout, None)
            self.wait_gpu(rid, fleet_pb2.GPU_STATE_RUNNING, timeout=rem, max_attempts=max_attempts, backoff_initial=backoff_initial, backoff_max=backoff_max)
            try:
                out.append(self.gpu.DescribeGpuDetail(gpubms_pb2.DescribeGpuDetailRequest(resource_id=rid), timeout=_min(self.timeout, _remaining(deadline))))
            except grpc.RpcError as e:
                raise from_rpc_error(e, f"gpubms: describe ready server {rid}") from None
        return out


def _min(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _sleep(d: float, deadline: Optional[float]) -> bool:
    """Sleeps d seconds, or until the deadline; reports whether all of d passed."""
    rem = _remaining(deadline)
    if rem is not None and rem < d:
        time.sleep(rem)
        return False
    time.sleep(d)
    return True


def _timed_out(what: str, timeout: Optional[float], last: Any) -> Error:
    msg = f"gpubms: wait for {what}: no end within {timeout:g}s" if timeout is not None else f"gpubms: wait for {what}: deadline exceeded"
    raw: Optional[str] = None if last is None else last.raw_status
    if raw:
        msg += f" (last status {raw})"
    return Error(grpc.StatusCode.DEADLINE_EXCEEDED, msg)


def _event_from_task(task_id: str, r: gpubms_pb2.DescribeGpuTaskResponse, watched: float) -> gpubms_pb2.TaskEvent:
    """The event a watching server would have sent."""
    st = r.task_status
    if st == gpubms_pb2.TASK_STATUS_UNSPECIFIED:
        st = {"init": gpubms_pb2.TASK_STATUS_INIT, "succeed": gpubms_pb2.TASK_STATUS_SUCCEED, "failed": gpubms_pb2.TASK_STATUS_FAILED}.get(r.status, st)
    ev = gpubms_pb2.TaskEvent(task_id=task_id, status=st, raw_status=r.status, resource_ids=list(r.resource_ids))
    ev.observed_at.GetCurrentTime()
    ev.watched_for.FromNanoseconds(int(watched * 1e9))
    return ev


def _changed(prev: Optional[gpubms_pb2.TaskEvent], ev: gpubms_pb2.TaskEvent) -> bool:
    return (
        prev is None
        or prev.status != ev.status
        or prev.raw_status != ev.raw_status
        or list(prev.resource_ids) != list(ev.resource_ids)
    )
