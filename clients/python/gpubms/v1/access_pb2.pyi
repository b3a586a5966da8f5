from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
REQUIRED_ROLE_FIELD_NUMBER: _ClassVar[int]
ROLE_OPERATOR: Role
ROLE_READER: Role
ROLE_UNSPECIFIED: Role
required_role: _descriptor.FieldDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
