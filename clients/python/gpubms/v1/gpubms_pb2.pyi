from gpubms._vendor.buf.validate import validate_pb2 as _validate_pb2
from gpubms._vendor.google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gpubms.v1 import access_pb2 as _access_pb2
from gpubms.v1 import rules_pb2 as _rules_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
LEASE_ACTION_DELETE: LeaseAction
LEASE_ACTION_STOP: LeaseAction
LEASE_ACTION_UNSPECIFIED: LeaseAction
TASK_STATUS_FAILED: TaskStatus
TASK_STATUS_INIT: TaskStatus
TASK_STATUS_SUCCEED: TaskStatus
TASK_STATUS_UNSPECIFIED: TaskStatus

class AffectedServer(_message.Message):
    __slots__ = ["instance_charge_type", "name", "resource_id", "state"]
    INSTANCE_CHARGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    instance_charge_type: str
    name: str
    resource_id: str
    state: str
    def __init__(self, resource_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., instance_charge_type: _Optional[str] = ...) -> None: ...

class Compute(_message.Message):
    __slots__ = ["cpu", "cpu_info", "disks", "frequency", "id", "purchase_num", "ram"]
    CPU_FIELD_NUMBER: _ClassVar[int]
    CPU_INFO_FIELD_NUMBER: _ClassVar[int]
    DISKS_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_NUM_FIELD_NUMBER: _ClassVar[int]
    RAM_FIELD_NUMBER: _ClassVar[int]
    cpu: int
    cpu_info: str
    disks: _containers.RepeatedCompositeFieldContainer[Disk]
    frequency: str
    id: str
    purchase_num: int
    ram: int
    def __init__(self, id: _Optional[str] = ..., cpu_info: _Optional[str] = ..., cpu: _Optional[int] = ..., ram: _Optional[int] = ..., frequency: _Optional[str] = ..., purchase_num: _Optional[int] = ..., disks: _Optional[_Iterable[_Union[Disk, _Mapping]]] = ...) -> None: ...

class CreateGpuInstanceRequest(_message.Message):
    __slots__ = ["amount", "assign_host_no", "auto_renew", "bond_mode", "compute_id", "custom_partition", "custom_partition_size", "goods_id", "image_id", "instance_charge_type", "instance_name", "lease_action", "lease_ttl", "password", "port_mode", "prepaid_month", "raid", "region_id", "request_id", "subject_id", "validate_only", "vpc_network"]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_HOST_NO_FIELD_NUMBER: _ClassVar[int]
    AUTO_RENEW_FIELD_NUMBER: _ClassVar[int]
    BOND_MODE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_PARTITION_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_PARTITION_SIZE_FIELD_NUMBER: _ClassVar[int]
    GOODS_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_CHARGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_NAME_FIELD_NUMBER: _ClassVar[int]
    LEASE_ACTION_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    PORT_MODE_FIELD_NUMBER: _ClassVar[int]
    PREPAID_MONTH_FIELD_NUMBER: _ClassVar[int]
    RAID_FIELD_NUMBER: _ClassVar[int]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    VPC_NETWORK_FIELD_NUMBER: _ClassVar[int]
    amount: int
    assign_host_no: str
    auto_renew: int
    bond_mode: str
    compute_id: str
    custom_partition: _containers.RepeatedScalarFieldContainer[str]
    custom_partition_size: _containers.RepeatedScalarFieldContainer[int]
    goods_id: int
    image_id: str
    instance_charge_type: str
    instance_name: str
    lease_action: LeaseAction
    lease_ttl: _duration_pb2.Duration
    password: str
    port_mode: str
    prepaid_month: int
    raid: int
    region_id: str
    request_id: str
    subject_id: str
    validate_only: bool
    vpc_network: VpcNetwork
    def __init__(self, region_id: _Optional[str] = ..., vpc_network: _Optional[_Union[VpcNetwork, _Mapping]] = ..., password: _Optional[str] = ..., instance_name: _Optional[str] = ..., assign_host_no: _Optional[str] = ..., instance_charge_type: _Optional[str] = ..., auto_renew: _Optional[int] = ..., prepaid_month: _Optional[int] = ..., compute_id: _Optional[str] = ..., goods_id: _Optional[int] = ..., image_id: _Optional[str] = ..., bond_mode: _Optional[str] = ..., raid: _Optional[int] = ..., amount: _Optional[int] = ..., custom_partition: _Optional[_Iterable[str]] = ..., custom_partition_size: _Optional[_Iterable[int]] = ..., subject_id: _Optional[str] = ..., port_mode: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: bool = ..., lease_ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., lease_action: _Optional[_Union[LeaseAction, str]] = ...) -> None: ...

class CreateGpuInstanceResponse(_message.Message):
    __slots__ = ["task_id", "validation"]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    validation: Validation
    def __init__(self, task_id: _Optional[str] = ..., validation: _Optional[_Union[Validation, _Mapping]] = ...) -> None: ...

class DeleteGpuInstancesRequest(_message.Message):
    __slots__ = ["request_id", "resource_ids", "validate_only"]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    resource_ids: _containers.RepeatedScalarFieldContainer[str]
    validate_only: bool
    def __init__(self, resource_ids: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ..., validate_only: bool = ...) -> None: ...

class DeleteGpuInstancesResponse(_message.Message):
    __slots__ = ["validation"]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    validation: Validation
    def __init__(self, validation: _Optional[_Union[Validation, _Mapping]] = ...) -> None: ...

class DescribeGpuDetailRequest(_message.Message):
    __slots__ = ["resource_id"]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    resource_id: str
    def __init__(self, resource_id: _Optional[str] = ...) -> None: ...

class DescribeGpuDetailResponse(_message.Message):
    __slots__ = ["app_id", "app_name", "bill_status", "cpu", "create_date", "expire_date", "image_name", "instance_charge_type", "is_auto_renewal", "name", "networks", "ram", "region_id", "region_name", "resource_id", "running_time", "state", "status", "volumes"]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    BILL_STATUS_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_DATE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_CHARGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    IS_AUTO_RENEWAL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    RAM_FIELD_NUMBER: _ClassVar[int]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_NAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    RUNNING_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    app_name: str
    bill_status: str
    cpu: int
    create_date: str
    expire_date: str
    image_name: str
    instance_charge_type: str
    is_auto_renewal: int
    name: str
    networks: Networks
    ram: int
    region_id: str
    region_name: str
    resource_id: str
    running_time: str
    state: str
    status: str
    volumes: _containers.RepeatedCompositeFieldContainer[Volume]
    def __init__(self, resource_id: _Optional[str] = ..., name: _Optional[str] = ..., cpu: _Optional[int] = ..., ram: _Optional[int] = ..., state: _Optional[str] = ..., status: _Optional[str] = ..., app_id: _Optional[str] = ..., region_id: _Optional[str] = ..., app_name: _Optional[str] = ..., region_name: _Optional[str] = ..., image_name: _Optional[str] = ..., instance_charge_type: _Optional[str] = ..., bill_status: _Optional[str] = ..., is_auto_renewal: _Optional[int] = ..., running_time: _Optional[str] = ..., create_date: _Optional[str] = ..., expire_date: _Optional[str] = ..., volumes: _Optional[_Iterable[_Union[Volume, _Mapping]]] = ..., networks: _Optional[_Union[Networks, _Mapping]] = ...) -> None: ...

class DescribeGpuGoodsPriceRequest(_message.Message):
    __slots__ = ["amount", "compute_id", "goods_id", "instance_charge_type", "prepaid_month", "region_id"]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    GOODS_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_CHARGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PREPAID_MONTH_FIELD_NUMBER: _ClassVar[int]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    amount: int
    compute_id: str
    goods_id: int
    instance_charge_type: str
    prepaid_month: int
    region_id: str
    def __init__(self, region_id: _Optional[str] = ..., goods_id: _Optional[int] = ..., compute_id: _Optional[str] = ..., instance_charge_type: _Optional[str] = ..., prepaid_month: _Optional[int] = ..., amount: _Optional[int] = ...) -> None: ...

class DescribeGpuGoodsPriceResponse(_message.Message):
    __slots__ = ["currency", "trade_amount", "unit_price"]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TRADE_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    currency: str
    trade_amount: str
    unit_price: str
    def __init__(self, trade_amount: _Optional[str] = ..., unit_price: _Optional[str] = ..., currency: _Optional[str] = ...) -> None: ...

class DescribeGpuGoodsRequest(_message.Message):
    __slots__ = ["region_id"]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    region_id: str
    def __init__(self, region_id: _Optional[str] = ...) -> None: ...

class DescribeGpuGoodsResponse(_message.Message):
    __slots__ = ["post_paid", "pre_paid"]
    POST_PAID_FIELD_NUMBER: _ClassVar[int]
    PRE_PAID_FIELD_NUMBER: _ClassVar[int]
    post_paid: _containers.RepeatedCompositeFieldContainer[Goods]
    pre_paid: _containers.RepeatedCompositeFieldContainer[Goods]
    def __init__(self, pre_paid: _Optional[_Iterable[_Union[Goods, _Mapping]]] = ..., post_paid: _Optional[_Iterable[_Union[Goods, _Mapping]]] = ...) -> None: ...

class DescribeGpuImageRequest(_message.Message):
    __slots__ = ["compute_id", "image_type", "os_type", "region_id"]
    COMPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    OS_TYPE_FIELD_NUMBER: _ClassVar[int]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    compute_id: str
    image_type: str
    os_type: str
    region_id: str
    def __init__(self, image_type: _Optional[str] = ..., region_id: _Optional[str] = ..., os_type: _Optional[str] = ..., compute_id: _Optional[str] = ...) -> None: ...

class DescribeGpuImageResponse(_message.Message):
    __slots__ = ["families"]
    FAMILIES_FIELD_NUMBER: _ClassVar[int]
    families: _containers.RepeatedCompositeFieldContainer[ImageFamily]
    def __init__(self, families: _Optional[_Iterable[_Union[ImageFamily, _Mapping]]] = ...) -> None: ...

class DescribeGpuRegionsRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DescribeGpuRegionsResponse(_message.Message):
    __slots__ = ["regions"]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    regions: _containers.RepeatedCompositeFieldContainer[Region]
    def __init__(self, regions: _Optional[_Iterable[_Union[Region, _Mapping]]] = ...) -> None: ...

class DescribeGpuRequest(_message.Message):
    __slots__ = ["app_id", "name", "page_number", "page_size"]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    name: str
    page_number: int
    page_size: int
    def __init__(self, app_id: _Optional[str] = ..., name: _Optional[str] = ..., page_number: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class DescribeGpuResponse(_message.Message):
    __slots__ = ["page_number", "page_size", "pages", "records", "total_count"]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    page_number: int
    page_size: int
    pages: int
    records: _containers.RepeatedCompositeFieldContainer[Gpu]
    total_count: int
    def __init__(self, records: _Optional[_Iterable[_Union[Gpu, _Mapping]]] = ..., total_count: _Optional[int] = ..., page_size: _Optional[int] = ..., page_number: _Optional[int] = ..., pages: _Optional[int] = ...) -> None: ...

class DescribeGpuTaskRequest(_message.Message):
    __slots__ = ["task_id"]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class DescribeGpuTaskResponse(_message.Message):
    __slots__ = ["resource_ids", "status", "task_status"]
    RESOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TASK_STATUS_FIELD_NUMBER: _ClassVar[int]
    resource_ids: _containers.RepeatedScalarFieldContainer[str]
    status: str
    task_status: TaskStatus
    def __init__(self, status: _Optional[str] = ..., task_status: _Optional[_Union[TaskStatus, str]] = ..., resource_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Disk(_message.Message):
    __slots__ = ["capacity", "count", "id", "type"]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    capacity: int
    count: int
    id: str
    type: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., capacity: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class Goods(_message.Message):
    __slots__ = ["computes", "goods_id", "goods_name"]
    COMPUTES_FIELD_NUMBER: _ClassVar[int]
    GOODS_ID_FIELD_NUMBER: _ClassVar[int]
    GOODS_NAME_FIELD_NUMBER: _ClassVar[int]
    computes: _containers.RepeatedCompositeFieldContainer[Compute]
    goods_id: int
    goods_name: str
    def __init__(self, goods_id: _Optional[int] = ..., goods_name: _Optional[str] = ..., computes: _Optional[_Iterable[_Union[Compute, _Mapping]]] = ...) -> None: ...

class Gpu(_message.Message):
    __slots__ = ["app_id", "app_name", "cpu", "create_date", "instance_charge_type", "is_auto_renewal", "name", "networks", "ram", "region_id", "region_name", "resource_id", "state", "status"]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    CREATE_DATE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_CHARGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    IS_AUTO_RENEWAL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    RAM_FIELD_NUMBER: _ClassVar[int]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_NAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    app_name: str
    cpu: int
    create_date: str
    instance_charge_type: str
    is_auto_renewal: int
    name: str
    networks: Networks
    ram: int
    region_id: str
    region_name: str
    resource_id: str
    state: str
    status: str
    def __init__(self, resource_id: _Optional[str] = ..., name: _Optional[str] = ..., cpu: _Optional[int] = ..., ram: _Optional[int] = ..., state: _Optional[str] = ..., status: _Optional[str] = ..., region_id: _Optional[str] = ..., region_name: _Optional[str] = ..., app_id: _Optional[str] = ..., app_name: _Optional[str] = ..., instance_charge_type: _Optional[str] = ..., is_auto_renewal: _Optional[int] = ..., create_date: _Optional[str] = ..., networks: _Optional[_Union[Networks, _Mapping]] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ["id", "name", "type"]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    type: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class ImageFamily(_message.Message):
    __slots__ = ["images", "os_family"]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    OS_FAMILY_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    os_family: str
    def __init__(self, os_family: _Optional[str] = ..., images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ...) -> None: ...

class NetworkCard(_message.Message):
    __slots__ = ["eip_address", "eip_link_type", "gateway", "id", "ip_address", "ip_type", "ip_version", "mac", "netmask", "vlan_id", "work_mode"]
    EIP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    EIP_LINK_TYPE_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IP_TYPE_FIELD_NUMBER: _ClassVar[int]
    IP_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    NETMASK_FIELD_NUMBER: _ClassVar[int]
    VLAN_ID_FIELD_NUMBER: _ClassVar[int]
    WORK_MODE_FIELD_NUMBER: _ClassVar[int]
    eip_address: str
    eip_link_type: str
    gateway: str
    id: str
    ip_address: str
    ip_type: str
    ip_version: str
    mac: _containers.RepeatedScalarFieldContainer[str]
    netmask: str
    vlan_id: str
    work_mode: str
    def __init__(self, id: _Optional[str] = ..., vlan_id: _Optional[str] = ..., ip_type: _Optional[str] = ..., ip_version: _Optional[str] = ..., ip_address: _Optional[str] = ..., netmask: _Optional[str] = ..., gateway: _Optional[str] = ..., eip_address: _Optional[str] = ..., eip_link_type: _Optional[str] = ..., mac: _Optional[_Iterable[str]] = ..., work_mode: _Optional[str] = ...) -> None: ...

class Networks(_message.Message):
    __slots__ = ["network_cards"]
    NETWORK_CARDS_FIELD_NUMBER: _ClassVar[int]
    network_cards: _containers.RepeatedCompositeFieldContainer[NetworkCard]
    def __init__(self, network_cards: _Optional[_Iterable[_Union[NetworkCard, _Mapping]]] = ...) -> None: ...

class OperateGpuPowerRequest(_message.Message):
    __slots__ = ["operate", "request_id", "resource_ids", "validate_only"]
    OPERATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    operate: str
    request_id: str
    resource_ids: _containers.RepeatedScalarFieldContainer[str]
    validate_only: bool
    def __init__(self, operate: _Optional[str] = ..., resource_ids: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ..., validate_only: bool = ...) -> None: ...

class OperateGpuPowerResponse(_message.Message):
    __slots__ = ["resource_ids", "task_ids", "validation"]
    RESOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    resource_ids: _containers.RepeatedScalarFieldContainer[str]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    validation: Validation
    def __init__(self, task_ids: _Optional[_Iterable[str]] = ..., resource_ids: _Optional[_Iterable[str]] = ..., validation: _Optional[_Union[Validation, _Mapping]] = ...) -> None: ...

class Quote(_message.Message):
    __slots__ = ["currency", "trade_amount", "unit_price"]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TRADE_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    currency: str
    trade_amount: str
    unit_price: str
    def __init__(self, trade_amount: _Optional[str] = ..., unit_price: _Optional[str] = ..., currency: _Optional[str] = ...) -> None: ...

class Region(_message.Message):
    __slots__ = ["region_id", "region_name"]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_NAME_FIELD_NUMBER: _ClassVar[int]
    region_id: str
    region_name: str
    def __init__(self, region_id: _Optional[str] = ..., region_name: _Optional[str] = ...) -> None: ...

class ReinstallGpuRequest(_message.Message):
    __slots__ = ["custom_partition", "custom_partition_size", "image_id", "password", "raid", "request_id", "resource_id", "validate_only"]
    CUSTOM_PARTITION_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_PARTITION_SIZE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    RAID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    custom_partition: _containers.RepeatedScalarFieldContainer[str]
    custom_partition_size: _containers.RepeatedScalarFieldContainer[int]
    image_id: str
    password: str
    raid: int
    request_id: str
    resource_id: str
    validate_only: bool
    def __init__(self, resource_id: _Optional[str] = ..., image_id: _Optional[str] = ..., password: _Optional[str] = ..., raid: _Optional[int] = ..., custom_partition: _Optional[_Iterable[str]] = ..., custom_partition_size: _Optional[_Iterable[int]] = ..., request_id: _Optional[str] = ..., validate_only: bool = ...) -> None: ...

class ReinstallGpuResponse(_message.Message):
    __slots__ = ["task_ids", "validation"]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    validation: Validation
    def __init__(self, task_ids: _Optional[_Iterable[str]] = ..., validation: _Optional[_Union[Validation, _Mapping]] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ["address", "segment_id"]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    address: str
    segment_id: str
    def __init__(self, segment_id: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class TaskEvent(_message.Message):
    __slots__ = ["heartbeat", "observed_at", "raw_status", "resource_ids", "status", "task_id", "watched_for"]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    RAW_STATUS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    WATCHED_FOR_FIELD_NUMBER: _ClassVar[int]
    heartbeat: bool
    observed_at: _timestamp_pb2.Timestamp
    raw_status: str
    resource_ids: _containers.RepeatedScalarFieldContainer[str]
    status: TaskStatus
    task_id: str
    watched_for: _duration_pb2.Duration
    def __init__(self, task_id: _Optional[str] = ..., status: _Optional[_Union[TaskStatus, str]] = ..., raw_status: _Optional[str] = ..., resource_ids: _Optional[_Iterable[str]] = ..., observed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., watched_for: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., heartbeat: bool = ...) -> None: ...

class Validation(_message.Message):
    __slots__ = ["quote", "servers", "stock", "warnings"]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    quote: Quote
    servers: _containers.RepeatedCompositeFieldContainer[AffectedServer]
    stock: int
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, quote: _Optional[_Union[Quote, _Mapping]] = ..., servers: _Optional[_Iterable[_Union[AffectedServer, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., stock: _Optional[int] = ...) -> None: ...

class Volume(_message.Message):
    __slots__ = ["capacity", "id", "type", "update_date", "volume_id", "volume_path", "volume_type"]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_DATE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUME_PATH_FIELD_NUMBER: _ClassVar[int]
    VOLUME_TYPE_FIELD_NUMBER: _ClassVar[int]
    capacity: int
    id: str
    type: str
    update_date: str
    volume_id: str
    volume_path: str
    volume_type: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., capacity: _Optional[int] = ..., volume_type: _Optional[str] = ..., volume_id: _Optional[str] = ..., volume_path: _Optional[str] = ..., update_date: _Optional[str] = ...) -> None: ...

class VpcNetwork(_message.Message):
    __slots__ = ["eip_id_list", "net_id", "reserve_eip", "segments", "vpc_id"]
    EIP_ID_LIST_FIELD_NUMBER: _ClassVar[int]
    NET_ID_FIELD_NUMBER: _ClassVar[int]
    RESERVE_EIP_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    VPC_ID_FIELD_NUMBER: _ClassVar[int]
    eip_id_list: _containers.RepeatedScalarFieldContainer[str]
    net_id: str
    reserve_eip: bool
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    vpc_id: str
    def __init__(self, vpc_id: _Optional[str] = ..., reserve_eip: bool = ..., net_id: _Optional[str] = ..., eip_id_list: _Optional[_Iterable[str]] = ..., segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ...) -> None: ...

class WatchTaskRequest(_message.Message):
    __slots__ = ["task_id"]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class WatchTaskResponse(_message.Message):
    __slots__ = ["event"]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: TaskEvent
    def __init__(self, event: _Optional[_Union[TaskEvent, _Mapping]] = ...) -> None: ...

class WatchTasksRequest(_message.Message):
    __slots__ = ["task_ids"]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, task_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchTasksResponse(_message.Message):
    __slots__ = ["event"]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: TaskEvent
    def __init__(self, event: _Optional[_Union[TaskEvent, _Mapping]] = ...) -> None: ...

class LeaseAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class TaskStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
