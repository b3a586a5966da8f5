from gpubms._vendor.buf.validate import validate_pb2 as _validate_pb2
from gpubms._vendor.google.api import annotations_pb2 as _annotations_pb2
from gpubms.v1 import access_pb2 as _access_pb2
from gpubms.v1 import rules_pb2 as _rules_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeEIPRequest(_message.Message):
    __slots__ = ["available_zone_code", "keyword", "region_code"]
    AVAILABLE_ZONE_CODE_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    available_zone_code: str
    keyword: str
    region_code: str
    def __init__(self, region_code: _Optional[str] = ..., available_zone_code: _Optional[str] = ..., keyword: _Optional[str] = ...) -> None: ...

class DescribeEIPResponse(_message.Message):
    __slots__ = ["eips", "total"]
    EIPS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    eips: _containers.RepeatedCompositeFieldContainer[Eip]
    total: int
    def __init__(self, total: _Optional[int] = ..., eips: _Optional[_Iterable[_Union[Eip, _Mapping]]] = ...) -> None: ...

class DescribeSubnetRequest(_message.Message):
    __slots__ = ["available_zone_code", "keyword", "page_number", "region_code", "vpc_id"]
    AVAILABLE_ZONE_CODE_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    VPC_ID_FIELD_NUMBER: _ClassVar[int]
    available_zone_code: str
    keyword: str
    page_number: int
    region_code: str
    vpc_id: str
    def __init__(self, region_code: _Optional[str] = ..., keyword: _Optional[str] = ..., page_number: _Optional[int] = ..., vpc_id: _Optional[str] = ..., available_zone_code: _Optional[str] = ...) -> None: ...

class DescribeSubnetResponse(_message.Message):
    __slots__ = ["subnets", "total"]
    SUBNETS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    subnets: _containers.RepeatedCompositeFieldContainer[Subnet]
    total: int
    def __init__(self, total: _Optional[int] = ..., subnets: _Optional[_Iterable[_Union[Subnet, _Mapping]]] = ...) -> None: ...

class DescribeVPCRequest(_message.Message):
    __slots__ = ["keyword", "page_number", "region_code"]
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    keyword: str
    page_number: int
    region_code: str
    def __init__(self, region_code: _Optional[str] = ..., page_number: _Optional[int] = ..., keyword: _Optional[str] = ...) -> None: ...

class DescribeVPCResponse(_message.Message):
    __slots__ = ["total", "vpcs"]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    VPCS_FIELD_NUMBER: _ClassVar[int]
    total: int
    vpcs: _containers.RepeatedCompositeFieldContainer[Vpc]
    def __init__(self, total: _Optional[int] = ..., vpcs: _Optional[_Iterable[_Union[Vpc, _Mapping]]] = ...) -> None: ...

class Eip(_message.Message):
    __slots__ = ["available_zone_code", "bandwidth", "binding", "create_time", "description", "id", "ip", "is_bind", "region_code", "status"]
    AVAILABLE_ZONE_CODE_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    IS_BIND_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    available_zone_code: str
    bandwidth: EipBandwidth
    binding: EipBinding
    create_time: str
    description: str
    id: str
    ip: str
    is_bind: bool
    region_code: str
    status: str
    def __init__(self, id: _Optional[str] = ..., ip: _Optional[str] = ..., region_code: _Optional[str] = ..., available_zone_code: _Optional[str] = ..., status: _Optional[str] = ..., description: _Optional[str] = ..., is_bind: bool = ..., create_time: _Optional[str] = ..., bandwidth: _Optional[_Union[EipBandwidth, _Mapping]] = ..., binding: _Optional[_Union[EipBinding, _Mapping]] = ...) -> None: ...

class EipBandwidth(_message.Message):
    __slots__ = ["available_zone_code", "bandwidth_type", "bill_scheme", "create_time", "id", "name", "qos", "status"]
    AVAILABLE_ZONE_CODE_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_TYPE_FIELD_NUMBER: _ClassVar[int]
    BILL_SCHEME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QOS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    available_zone_code: str
    bandwidth_type: str
    bill_scheme: str
    create_time: str
    id: str
    name: str
    qos: int
    status: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., qos: _Optional[int] = ..., available_zone_code: _Optional[str] = ..., bandwidth_type: _Optional[str] = ..., bill_scheme: _Optional[str] = ..., status: _Optional[str] = ..., create_time: _Optional[str] = ...) -> None: ...

class EipBinding(_message.Message):
    __slots__ = ["subnet_id", "subnet_ip"]
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    SUBNET_IP_FIELD_NUMBER: _ClassVar[int]
    subnet_id: str
    subnet_ip: str
    def __init__(self, subnet_id: _Optional[str] = ..., subnet_ip: _Optional[str] = ...) -> None: ...

class FindNetworksRequest(_message.Message):
    __slots__ = ["region_id"]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    region_id: str
    def __init__(self, region_id: _Optional[str] = ...) -> None: ...

class FindNetworksResponse(_message.Message):
    __slots__ = ["free_eips", "region_code", "region_id", "vpcs"]
    FREE_EIPS_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    REGION_ID_FIELD_NUMBER: _ClassVar[int]
    VPCS_FIELD_NUMBER: _ClassVar[int]
    free_eips: _containers.RepeatedCompositeFieldContainer[Eip]
    region_code: str
    region_id: str
    vpcs: _containers.RepeatedCompositeFieldContainer[NetworkChoice]
    def __init__(self, region_id: _Optional[str] = ..., region_code: _Optional[str] = ..., vpcs: _Optional[_Iterable[_Union[NetworkChoice, _Mapping]]] = ..., free_eips: _Optional[_Iterable[_Union[Eip, _Mapping]]] = ...) -> None: ...

class NetworkChoice(_message.Message):
    __slots__ = ["subnets", "vpc"]
    SUBNETS_FIELD_NUMBER: _ClassVar[int]
    VPC_FIELD_NUMBER: _ClassVar[int]
    subnets: _containers.RepeatedCompositeFieldContainer[Subnet]
    vpc: Vpc
    def __init__(self, vpc: _Optional[_Union[Vpc, _Mapping]] = ..., subnets: _Optional[_Iterable[_Union[Subnet, _Mapping]]] = ...) -> None: ...

class Subnet(_message.Message):
    __slots__ = ["available_zone_code", "status", "subnet_id", "subnet_name", "subnet_segment", "used_ip_num", "vpc_id", "vpc_name"]
    AVAILABLE_ZONE_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    SUBNET_NAME_FIELD_NUMBER: _ClassVar[int]
    SUBNET_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    USED_IP_NUM_FIELD_NUMBER: _ClassVar[int]
    VPC_ID_FIELD_NUMBER: _ClassVar[int]
    VPC_NAME_FIELD_NUMBER: _ClassVar[int]
    available_zone_code: str
    status: str
    subnet_id: str
    subnet_name: str
    subnet_segment: str
    used_ip_num: int
    vpc_id: str
    vpc_name: str
    def __init__(self, subnet_id: _Optional[str] = ..., subnet_name: _Optional[str] = ..., subnet_segment: _Optional[str] = ..., used_ip_num: _Optional[int] = ..., vpc_id: _Optional[str] = ..., vpc_name: _Optional[str] = ..., available_zone_code: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class Vpc(_message.Message):
    __slots__ = ["create_time", "region_code", "status", "vpc_id", "vpc_name", "vpc_segment"]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VPC_ID_FIELD_NUMBER: _ClassVar[int]
    VPC_NAME_FIELD_NUMBER: _ClassVar[int]
    VPC_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    create_time: str
    region_code: str
    status: str
    vpc_id: str
    vpc_name: str
    vpc_segment: str
    def __init__(self, vpc_id: _Optional[str] = ..., vpc_name: _Optional[str] = ..., vpc_segment: _Optional[str] = ..., status: _Optional[str] = ..., region_code: _Optional[str] = ..., create_time: _Optional[str] = ...) -> None: ...
