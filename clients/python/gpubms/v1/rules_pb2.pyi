from gpubms._vendor.buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
ID_FIELD_NUMBER: _ClassVar[int]
id: _descriptor.FieldDescriptor
