"""An in-process gRPC server with scripted GpuService and FleetService
handlers, for the paths a real server rarely shows: streams cut with
UNAVAILABLE, servers without WatchTask, mutations failing and retried."""

from __future__ import annotations

import threading
import time
from concurrent import futures
from typing import Any, Callable, Dict, Iterator, List, Optional

import grpc

from gpubms.v1 import fleet_pb2, fleet_pb2_grpc, gpubms_pb2, gpubms_pb2_grpc

Attempt = Callable[[Any], Iterator[Any]]


def ev(status: int, raw: str, resource_ids: Optional[List[str]] = None, task_id: str = "t1") -> gpubms_pb2.WatchTaskResponse:
    return gpubms_pb2.WatchTaskResponse(event=gpubms_pb2.TaskEvent(task_id=task_id, status=status, raw_status=raw, resource_ids=resource_ids or []))


INIT = ev(gpubms_pb2.TASK_STATUS_INIT, "init")
SUCCEED = ev(gpubms_pb2.TASK_STATUS_SUCCEED, "succeed", ["r1", "r2"])
FAILED = ev(gpubms_pb2.TASK_STATUS_FAILED, "failed", ["r1"])


def events(*items: Any, then: Optional[grpc.StatusCode] = None) -> Attempt:
    """An attempt that sends items, then ends (OK, or with status then)."""

    def attempt(context: Any) -> Iterator[Any]:
        yield from items
        if then is not None:
            context.abort(then, f"scripted {then.name}")

    return attempt


def hang(*items: Any) -> Attempt:
    """An attempt that sends items, then waits until the call ends."""

    def attempt(context: Any) -> Iterator[Any]:
        yield from items
        while context.is_active():
            time.sleep(0.01)

    return attempt


class Fake(gpubms_pb2_grpc.GpuServiceServicer, fleet_pb2_grpc.FleetServiceServicer):
    """Serves WatchTask (and WatchGpu) from scripts of attempts (the last
    repeats), and unary methods from handlers; records what it saw."""

    def __init__(self) -> None:
        self.watch: List[Attempt] = []
        self.watch_gpu: List[Attempt] = []
        self.unary: Dict[str, Callable[[Any, Any], Any]] = {}
        self.calls: Dict[str, int] = {}
        self.requests: Dict[str, List[Any]] = {}
        self.metadata: List[Dict[str, str]] = []
        self.ended = 0
        self._lock = threading.Lock()

    def _seen(self, name: str, request: Any, context: Any) -> int:
        with self._lock:
            n = self.calls.get(name, 0)
            self.calls[name] = n + 1
            self.requests.setdefault(name, []).append(request)
            self.metadata.append({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})
        return n

    def _ended(self) -> None:
        with self._lock:
            self.ended += 1

    def WatchTask(self, request: Any, context: Any) -> Iterator[Any]:
        n = self._seen("WatchTask", request, context)
        if not self.watch:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "no WatchTask here")
        context.add_callback(self._ended)
        yield from self.watch[min(n, len(self.watch) - 1)](context)

    def WatchGpu(self, request: Any, context: Any) -> Iterator[Any]:
        n = self._seen("WatchGpu", request, context)
        if not self.watch_gpu:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "no WatchGpu here")
        yield from self.watch_gpu[min(n, len(self.watch_gpu) - 1)](context)

    def _unary(self, name: str, request: Any, context: Any) -> Any:
        n = self._seen(name, request, context)
        h = self.unary.get(name)
        if h is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"no {name} here")
        return h(n, context)

    def DescribeGpuTask(self, request: Any, context: Any) -> Any:
        return self._unary("DescribeGpuTask", request, context)

    def DescribeGpuRegions(self, request: Any, context: Any) -> Any:
        return self._unary("DescribeGpuRegions", request, context)

    def DescribeGpuDetail(self, request: Any, context: Any) -> Any:
        return self._unary("DescribeGpuDetail", request, context)

    def CreateGpuInstance(self, request: Any, context: Any) -> Any:
        return self._unary("CreateGpuInstance", request, context)

    def OperateGpuPower(self, request: Any, context: Any) -> Any:
        return self._unary("OperateGpuPower", request, context)


class FakeServer:
    def __init__(self) -> None:
        self.fake = Fake()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        gpubms_pb2_grpc.add_GpuServiceServicer_to_server(self.fake, self.server)
        fleet_pb2_grpc.add_FleetServiceServicer_to_server(self.fake, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.addr = f"127.0.0.1:{port}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None).wait(5)


def gpu_event(state: int, raw: str, rid: str = "r1") -> fleet_pb2.WatchGpuResponse:
    return fleet_pb2.WatchGpuResponse(event=fleet_pb2.GpuEvent(resource_id=rid, state=state, raw_state=raw))
