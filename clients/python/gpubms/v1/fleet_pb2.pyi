from gpubms._vendor.buf.validate import validate_pb2 as _validate_pb2
from gpubms._vendor.google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gpubms.v1 import access_pb2 as _access_pb2
from gpubms.v1 import gpubms_pb2 as _gpubms_pb2
from gpubms.v1 import rules_pb2 as _rules_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
GPU_STATE_CREATING: GpuState
GPU_STATE_DELETING: GpuState
GPU_STATE_ERROR: GpuState
GPU_STATE_GONE: GpuState
GPU_STATE_REBUILDING: GpuState
GPU_STATE_RESTARTING: GpuState
GPU_STATE_RUNNING: GpuState
GPU_STATE_STARTING: GpuState
GPU_STATE_STOPPED: GpuState
GPU_STATE_STOPPING: GpuState
GPU_STATE_UNSPECIFIED: GpuState
LEASE_STATE_ACTIVE: LeaseState
LEASE_STATE_DONE: LeaseState
LEASE_STATE_GONE: LeaseState
LEASE_STATE_PROTECTED: LeaseState
LEASE_STATE_STOPPED: LeaseState
LEASE_STATE_UNSPECIFIED: LeaseState

class AuditEvent(_message.Message):
    __slots__ = ["caller", "code", "duration", "id", "message", "provider_request_id", "reason", "replayed", "request", "request_id", "resource_ids", "rpc", "task_ids", "time", "validate_only"]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    RPC_FIELD_NUMBER: _ClassVar[int]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    caller: str
    code: str
    duration: _duration_pb2.Duration
    id: str
    message: str
    provider_request_id: str
    reason: str
    replayed: bool
    request: _any_pb2.Any
    request_id: str
    resource_ids: _containers.RepeatedScalarFieldContainer[str]
    rpc: str
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    time: _timestamp_pb2.Timestamp
    validate_only: bool
    def __init__(self, id: _Optional[str] = ..., time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., caller: _Optional[str] = ..., rpc: _Optional[str] = ..., request_id: _Optional[str] = ..., request: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., code: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., task_ids: _Optional[_Iterable[str]] = ..., resource_ids: _Optional[_Iterable[str]] = ..., provider_request_id: _Optional[str] = ..., duration: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., validate_only: bool = ..., replayed: bool = ...) -> None: ...

class CapacityOffer(_message.Message):
    __slots__ = ["amount", "charge_type", "compute", "currency", "goods_id", "goods_name", "observed_at", "region_id", "region_name", "stock", "trade_price", "unit_price"]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CHARGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    GOODS_ID_FIELD_NUMBER: _ClassVar[int]
    GOODS_NAME_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_NAME_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    TRADE_PRICE_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    amount: int
    charge_type: str
    compute: _gpubms_pb2.Compute
    currency: str
    goods_id: int
    goods_name: str
    observed_at: _timestamp_pb2.Timestamp
    region_id: str
    region_name: str
    stock: int
    trade_price: str
    unit_price: str
    def __init__(self, region_id: _Optional[str] = ..., region_name: _Optional[str] = ..., goods_id: _Optional[int] = ..., goods_name: _Optional[str] = ..., compute: _Optional[_Union[_gpubms_pb2.Compute, _Mapping]] = ..., charge_type: _Optional[str] = ..., stock: _Optional[int] = ..., observed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., unit_price: _Optional[str] = ..., trade_price: _Optional[str] = ..., currency: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class ClearLeaseRequest(_message.Message):
    __slots__ = ["resource_ids"]
    RESOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    resource_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, resource_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ClearLeaseResponse(_message.Message):
    __slots__ = ["cleared"]
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    cleared: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cleared: _Optional[_Iterable[str]] = ...) -> None: ...

class FindCapacityRequest(_message.Message):
    __slots__ = ["amount", "charge_type", "disk_type", "gpu", "max_currency", "max_unit_price", "min_cpu", "min_disk_gb", "min_ram_gb", "prepaid_month", "region_ids"]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CHARGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    DISK_TYPE_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    MAX_CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MAX_UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    MIN_CPU_FIELD_NUMBER: _ClassVar[int]
    MIN_DISK_GB_FIELD_NUMBER: _ClassVar[int]
    MIN_RAM_GB_FIELD_NUMBER: _ClassVar[int]
    PREPAID_MONTH_FIELD_NUMBER: _ClassVar[int]
    REGION_IDS_FIELD_NUMBER: _ClassVar[int]
    amount: int
    charge_type: str
    disk_type: str
    gpu: str
    max_currency: str
    max_unit_price: str
    min_cpu: int
    min_disk_gb: int
    min_ram_gb: int
    prepaid_month: int
    region_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, min_cpu: _Optional[int] = ..., min_ram_gb: _Optional[int] = ..., gpu: _Optional[str] = ..., min_disk_gb: _Optional[int] = ..., disk_type: _Optional[str] = ..., charge_type: _Optional[str] = ..., amount: _Optional[int] = ..., prepaid_month: _Optional[int] = ..., region_ids: _Optional[_Iterable[str]] = ..., max_unit_price: _Optional[str] = ..., max_currency: _Optional[str] = ...) -> None: ...

class FindCapacityResponse(_message.Message):
    __slots__ = ["offers", "region_errors"]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    REGION_ERRORS_FIELD_NUMBER: _ClassVar[int]
    offers: _containers.RepeatedCompositeFieldContainer[CapacityOffer]
    region_errors: _containers.RepeatedCompositeFieldContainer[RegionError]
    def __init__(self, offers: _Optional[_Iterable[_Union[CapacityOffer, _Mapping]]] = ..., region_errors: _Optional[_Iterable[_Union[RegionError, _Mapping]]] = ...) -> None: ...

class FleetServer(_message.Message):
    __slots__ = ["create_time", "creator", "currency", "lease", "protection", "server", "state", "unit_price"]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    PROTECTION_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    create_time: _timestamp_pb2.Timestamp
    creator: str
    currency: str
    lease: Lease
    protection: Protection
    server: _gpubms_pb2.Gpu
    state: GpuState
    unit_price: str
    def __init__(self, server: _Optional[_Union[_gpubms_pb2.Gpu, _Mapping]] = ..., state: _Optional[_Union[GpuState, str]] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., lease: _Optional[_Union[Lease, _Mapping]] = ..., protection: _Optional[_Union[Protection, _Mapping]] = ..., unit_price: _Optional[str] = ..., currency: _Optional[str] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetServerInfoResponse(_message.Message):
    __slots__ = ["commit", "commit_time", "emulator", "features", "go_version", "start_time", "version"]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    EMULATOR_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    GO_VERSION_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    commit: str
    commit_time: _timestamp_pb2.Timestamp
    emulator: bool
    features: _containers.RepeatedScalarFieldContainer[str]
    go_version: str
    start_time: _timestamp_pb2.Timestamp
    version: str
    def __init__(self, version: _Optional[str] = ..., commit: _Optional[str] = ..., commit_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., go_version: _Optional[str] = ..., emulator: bool = ..., features: _Optional[_Iterable[str]] = ..., start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GpuEvent(_message.Message):
    __slots__ = ["heartbeat", "observed_at", "raw_state", "resource_id", "state", "watched_for"]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    RAW_STATE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    WATCHED_FOR_FIELD_NUMBER: _ClassVar[int]
    heartbeat: bool
    observed_at: _timestamp_pb2.Timestamp
    raw_state: str
    resource_id: str
    state: GpuState
    watched_for: _duration_pb2.Duration
    def __init__(self, resource_id: _Optional[str] = ..., state: _Optional[_Union[GpuState, str]] = ..., raw_state: _Optional[str] = ..., observed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., watched_for: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., heartbeat: bool = ...) -> None: ...

class Lease(_message.Message):
    __slots__ = ["action", "attempts", "caller", "create_time", "expire_at", "last_error", "next_attempt", "resource_id", "state", "steps", "stop_at", "update_time"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    STOP_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    action: _gpubms_pb2.LeaseAction
    attempts: int
    caller: str
    create_time: _timestamp_pb2.Timestamp
    expire_at: _timestamp_pb2.Timestamp
    last_error: str
    next_attempt: _timestamp_pb2.Timestamp
    resource_id: str
    state: LeaseState
    steps: int
    stop_at: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, resource_id: _Optional[str] = ..., action: _Optional[_Union[_gpubms_pb2.LeaseAction, str]] = ..., expire_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., stop_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[LeaseState, str]] = ..., caller: _Optional[str] = ..., create_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., next_attempt: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[int] = ..., steps: _Optional[int] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ["caller", "end_time", "page_size", "page_token", "resource_id", "rpc", "start_time"]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    RPC_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    caller: str
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    resource_id: str
    rpc: str
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, caller: _Optional[str] = ..., rpc: _Optional[str] = ..., resource_id: _Optional[str] = ..., start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ["events", "next_page_token"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListFleetRequest(_message.Message):
    __slots__ = ["caller", "created_before", "expiring_before", "state", "unleased", "unprotected"]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_BEFORE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    UNLEASED_FIELD_NUMBER: _ClassVar[int]
    UNPROTECTED_FIELD_NUMBER: _ClassVar[int]
    caller: str
    created_before: _timestamp_pb2.Timestamp
    expiring_before: _timestamp_pb2.Timestamp
    state: str
    unleased: bool
    unprotected: bool
    def __init__(self, caller: _Optional[str] = ..., expiring_before: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., unleased: bool = ..., unprotected: bool = ..., state: _Optional[str] = ..., created_before: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListFleetResponse(_message.Message):
    __slots__ = ["servers", "truncated"]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[FleetServer]
    truncated: bool
    def __init__(self, servers: _Optional[_Iterable[_Union[FleetServer, _Mapping]]] = ..., truncated: bool = ...) -> None: ...

class ListLeasesRequest(_message.Message):
    __slots__ = ["resource_id"]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    resource_id: str
    def __init__(self, resource_id: _Optional[str] = ...) -> None: ...

class ListLeasesResponse(_message.Message):
    __slots__ = ["leases"]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    leases: _containers.RepeatedCompositeFieldContainer[Lease]
    def __init__(self, leases: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ...) -> None: ...

class ListProtectionsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListProtectionsResponse(_message.Message):
    __slots__ = ["protections"]
    PROTECTIONS_FIELD_NUMBER: _ClassVar[int]
    protections: _containers.RepeatedCompositeFieldContainer[Protection]
    def __init__(self, protections: _Optional[_Iterable[_Union[Protection, _Mapping]]] = ...) -> None: ...

class Protection(_message.Message):
    __slots__ = ["caller", "protected", "reason", "resource_id", "update_time"]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    caller: str
    protected: bool
    reason: str
    resource_id: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, resource_id: _Optional[str] = ..., protected: bool = ..., reason: _Optional[str] = ..., caller: _Optional[str] = ..., update_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegionError(_message.Message):
    __slots__ = ["code", "message", "region_id"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    region_id: str
    def __init__(self, region_id: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class SetLeaseRequest(_message.Message):
    __slots__ = ["action", "expire_at", "resource_ids", "stop_at", "ttl"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_AT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    STOP_AT_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    action: _gpubms_pb2.LeaseAction
    expire_at: _timestamp_pb2.Timestamp
    resource_ids: _containers.RepeatedScalarFieldContainer[str]
    stop_at: _timestamp_pb2.Timestamp
    ttl: _duration_pb2.Duration
    def __init__(self, resource_ids: _Optional[_Iterable[str]] = ..., expire_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., action: _Optional[_Union[_gpubms_pb2.LeaseAction, str]] = ..., stop_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetLeaseResponse(_message.Message):
    __slots__ = ["leases"]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    leases: _containers.RepeatedCompositeFieldContainer[Lease]
    def __init__(self, leases: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ...) -> None: ...

class SetProtectionRequest(_message.Message):
    __slots__ = ["protected", "reason", "resource_ids"]
    PROTECTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    protected: bool
    reason: str
    resource_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, resource_ids: _Optional[_Iterable[str]] = ..., protected: bool = ..., reason: _Optional[str] = ...) -> None: ...

class SetProtectionResponse(_message.Message):
    __slots__ = ["protections"]
    PROTECTIONS_FIELD_NUMBER: _ClassVar[int]
    protections: _containers.RepeatedCompositeFieldContainer[Protection]
    def __init__(self, protections: _Optional[_Iterable[_Union[Protection, _Mapping]]] = ...) -> None: ...

class WatchGpuRequest(_message.Message):
    __slots__ = ["resource_id", "until"]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    resource_id: str
    until: GpuState
    def __init__(self, resource_id: _Optional[str] = ..., until: _Optional[_Union[GpuState, str]] = ...) -> None: ...

class WatchGpuResponse(_message.Message):
    __slots__ = ["event"]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: GpuEvent
    def __init__(self, event: _Optional[_Union[GpuEvent, _Mapping]] = ...) -> None: ...

class GpuState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class LeaseState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
