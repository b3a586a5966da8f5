"""gpubms: the Python client of the gpubms service (GPU bare-metal servers).

    import gpubms
    c = gpubms.connect("127.0.0.1:9090", token=os.environ.get("GPUBMS_TOKEN"))
    regions = c.describe_gpu_regions().regions
    task = c.create_gpu_instance(region_id="CN_Hohhot_B", amount=1, raid=0, ...).task_id
    servers = c.wait_ready(task, timeout=1800)     # running, with their addresses

Every RPC of GpuService, NetworkService and FleetService is a method of
Client in snake_case, taking the request or its fields as keywords; every
failure is a gpubms.Error with .code, .reason (the provider's code), .field
and .message. The generated messages and stubs are gpubms.v1.gpubms_pb2,
network_pb2, fleet_pb2 (and *_pb2_grpc), also here as gpubms.gpubms_pb2, ...
"""

from gpubms import _deps  # noqa: F401  (first: picks the google.api/google.rpc copies)
from gpubms.client import DEFAULT, TLS, Client, Stream, __version__, connect, ensure_request_id
from gpubms.errors import (
    REASON_REQUEST_ID_REUSED,
    REASON_REQUEST_OUTCOME_UNKNOWN,
    REASON_TASK_FAILED,
    Error,
    TaskFailedError,
)
from gpubms.v1 import access_pb2, fleet_pb2, gpubms_pb2, network_pb2
from gpubms.v1.fleet_pb2 import GpuState
from gpubms.v1.gpubms_pb2 import TaskStatus

__all__ = [
    "DEFAULT",
    "REASON_REQUEST_ID_REUSED",
    "REASON_REQUEST_OUTCOME_UNKNOWN",
    "REASON_TASK_FAILED",
    "TLS",
    "Client",
    "Error",
    "GpuState",
    "Stream",
    "TaskFailedError",
    "TaskStatus",
    "__version__",
    "access_pb2",
    "connect",
    "ensure_request_id",
    "fleet_pb2",
    "gpubms_pb2",
    "network_pb2",
]
