"""gpubms.Error: every failure of a call, with what the server said in its details.

The server puts a google.rpc.Status in the ``grpc-status-details-bin``
trailer: an ErrorInfo (reason = the provider's code, such as
``InstanceNotFound``, or one of gpubms's own, such as ``PROTECTED``), a
RequestInfo (the call's request id), and for a refused request the fields,
as buf.validate.Violations or google.rpc.BadRequest. Error reads them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from gpubms._deps import error_details_pb2, status_pb2
from gpubms._vendor.buf.validate import validate_pb2

# ErrorInfo reasons of gpubms's idempotency layer (see clients/go/mutation.go).
REASON_REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
REASON_REQUEST_OUTCOME_UNKNOWN = "REQUEST_OUTCOME_UNKNOWN"
# Reason of a TaskFailedError (not sent by the server: a task's own end).
REASON_TASK_FAILED = "TASK_FAILED"

_STATUS_DETAILS_KEY = "grpc-status-details-bin"

# The detail types Error decodes; others stay google.protobuf.Any.
_DETAIL_TYPES: Dict[str, Any] = {
    m.DESCRIPTOR.full_name: m  # type: ignore[attr-defined]
    for m in (
        error_details_pb2.ErrorInfo,
        error_details_pb2.BadRequest,
        error_details_pb2.RequestInfo,
        error_details_pb2.ResourceInfo,
        error_details_pb2.RetryInfo,
        error_details_pb2.QuotaFailure,
        error_details_pb2.PreconditionFailure,
        error_details_pb2.DebugInfo,
        error_details_pb2.Help,
        error_details_pb2.LocalizedMessage,
        validate_pb2.Violations,
    )
}


class Error(Exception):
    """A failed gpubms call.

    Attributes:
        code: the gRPC status code (``grpc.StatusCode.NOT_FOUND``, ...).
        message: the status message (prefixed by the client where it adds
            context, e.g. ``gpubms: watch task T: ...``).
        reason: the google.rpc.ErrorInfo reason: the provider's error code
            (``InstanceNotFound``) or gpubms's own (``PROTECTED``,
            ``REQUEST_OUTCOME_UNKNOWN``); None without an ErrorInfo.
        domain, error_metadata: the rest of the ErrorInfo.
        field: the first refused field (``amount``, ``vpc_network.net_id``,
            ``resource_ids[0]``), from buf.validate.Violations or
            google.rpc.BadRequest; None when no field is named.
        request_id: the server's id of the call (google.rpc.RequestInfo).
        resource_ids: the resources named by google.rpc.ResourceInfo details
            (for REQUEST_OUTCOME_UNKNOWN: the servers a create may have made).
        retry_delay: seconds the server asks to wait (google.rpc.RetryInfo).
        details: every status detail, decoded where the type is known
            (google.rpc.*, buf.validate.Violations), else a protobuf Any.
    """

    code: grpc.StatusCode
    message: str
    reason: Optional[str]
    domain: Optional[str]
    error_metadata: Dict[str, str]
    field: Optional[str]
    request_id: Optional[str]
    resource_ids: List[str]
    retry_delay: Optional[float]
    details: List[Message]

    def __init__(self, code: grpc.StatusCode, message: str, details: Sequence[Message] = ()) -> None:
        self.code = code
        self.message = message
        self.details = list(details)
        self.reason = None
        self.domain = None
        self.error_metadata = {}
        self.field = None
        self.request_id = None
        self.resource_ids = []
        self.retry_delay = None
        for d in self.details:
            if isinstance(d, error_details_pb2.ErrorInfo) and self.reason is None:
                self.reason = d.reason
                self.domain = d.domain
                self.error_metadata = dict(d.metadata)
            elif isinstance(d, error_details_pb2.BadRequest) and self.field is None:
                for fv in d.field_violations:
                    if fv.field:
                        self.field = fv.field
                        break
            elif isinstance(d, validate_pb2.Violations) and self.field is None:
                for v in d.violations:
                    path = field_path(v)
                    if path:
                        self.field = path
                        break
            elif isinstance(d, error_details_pb2.RequestInfo) and self.request_id is None:
                self.request_id = d.request_id or None
            elif isinstance(d, error_details_pb2.ResourceInfo) and d.resource_name:
                self.resource_ids.append(d.resource_name)
            elif isinstance(d, error_details_pb2.RetryInfo) and d.HasField("retry_delay"):
                self.retry_delay = d.retry_delay.ToTimedelta().total_seconds()
        super().__init__(code, message)

    def __str__(self) -> str:
        s = f"{self.code.name}: {self.message}"
        if self.reason:
            s += f" (reason {self.reason})"
        return s

    def __repr__(self) -> str:
        return f"gpubms.Error(code={self.code.name}, message={self.message!r}, reason={self.reason!r}, field={self.field!r})"

    def __reduce__(self) -> Any:  # picklable (multiprocessing, joblib)
        return (_rebuild, (type(self), self.code.name, self.message, [(type(d), d.SerializeToString()) for d in self.details], self.__dict__))

    @property
    def outcome_unknown(self) -> bool:
        """The server's answer to a mutation whose first attempt's outcome is
        unknown (FAILED_PRECONDITION, reason REQUEST_OUTCOME_UNKNOWN): look at
        ``resource_ids`` (what a create may have made), DescribeGpu or
        DescribeGpuTask before ordering again with a new request id."""
        return self.code == grpc.StatusCode.FAILED_PRECONDITION and self.reason == REASON_REQUEST_OUTCOME_UNKNOWN


def _rebuild(cls: Any, code: str, message: str, details: List[Tuple[Any, bytes]], state: Dict[str, Any]) -> "Error":
    e = cls.__new__(cls)
    Error.__init__(e, grpc.StatusCode[code], message, [t.FromString(b) for t, b in details])
    e.__dict__.update(state)
    return e


class TaskFailedError(Error):
    """A task that ended with the provider status "failed" (from wait_ready).

    ``code`` is FAILED_PRECONDITION and ``reason`` TASK_FAILED; ``task_id``
    is the task and ``event`` its terminal TaskEvent, with the resources it
    worked on.
    """

    task_id: str
    event: Any

    def __init__(self, task_id: str, event: Any) -> None:
        ids = list(getattr(event, "resource_ids", []))
        msg = f"gpubms: task {task_id} failed" + (f" (resources {', '.join(ids)})" if ids else "")
        super().__init__(grpc.StatusCode.FAILED_PRECONDITION, msg)
        self.reason = REASON_TASK_FAILED
        self.task_id = task_id
        self.event = event
        self.resource_ids = ids

    def __reduce__(self) -> Any:
        return (TaskFailedError, (self.task_id, self.event))


def field_path(v: Any) -> str:
    """The path of a buf.validate.Violation's field as protovalidate writes it:
    ``vpc_network.net_id``, ``resource_ids[0]``, ``labels["k"]``."""
    out: List[str] = []
    for el in v.field.elements:
        name = el.field_name or (str(el.field_number) if el.HasField("field_number") else "")
        part = name
        which = el.WhichOneof("subscript")
        if which == "index" or which == "int_key" or which == "uint_key":
            part += f"[{getattr(el, which)}]"
        elif which == "bool_key":
            part += "[true]" if el.bool_key else "[false]"
        elif which == "string_key":
            part += '["' + el.string_key.replace("\\", "\\\\").replace('"', '\\"') + '"]'
        out.append(part)
    return ".".join(p for p in out if p)


def decode_details(trailing_metadata: Any) -> List[Message]:
    """The google.rpc.Status details of a call's trailing metadata."""
    raw = None
    for key, value in trailing_metadata or ():
        if key == _STATUS_DETAILS_KEY:
            raw = value
            break
    if not raw:
        return []
    st = status_pb2.Status()
    try:
        st.ParseFromString(raw)
    except DecodeError:
        return []
    out: List[Message] = []
    for d in st.details:
        out.append(_unpack(d))
    return out


def _unpack(d: any_pb2.Any) -> Message:
    cls = _DETAIL_TYPES.get(d.TypeName())
    if cls is None:
        return d
    m = cls()
    try:
        if d.Unpack(m):
            return m
    except DecodeError:
        pass
    return d


def from_rpc_error(err: grpc.RpcError, prefix: Optional[str] = None) -> Error:
    """The Error of a failed call (a grpc.RpcError, which is also a grpc.Call)."""
    code = grpc.StatusCode.UNKNOWN
    message = str(err)
    details: List[Message] = []
    if isinstance(err, grpc.Call):
        code = err.code() or grpc.StatusCode.UNKNOWN
        message = err.details() or ""
        try:
            details = decode_details(err.trailing_metadata())
        except Exception:  # a trailer we cannot read must not hide the error
            details = []
    if prefix:
        message = f"{prefix}: {message}"
    return Error(code, message, details)
