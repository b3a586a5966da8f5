"""wait_task, wait_gpu, wait_ready and the mutation retries against an
in-process fake server (tests/fake.py): re-attaching, giving up, polling,
closing, and the same request id on every attempt."""

from __future__ import annotations

import time
from typing import Any, Iterator, List

import grpc
import pytest

import gpubms
from fake import FAILED, INIT, SUCCEED, FakeServer, events, gpu_event, hang
from gpubms import fleet_pb2, gpubms_pb2

FAST = {"backoff_initial": 0.001, "backoff_max": 0.005}
WAIT = 10.0


@pytest.fixture()
def fs() -> Iterator[FakeServer]:
    s = FakeServer()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture()
def c(fs: FakeServer) -> Iterator[gpubms.Client]:
    client = gpubms.connect(fs.addr, token="tok-123", timeout=5)
    client.mutation_backoff = (0.001, 0.005)
    try:
        yield client
    finally:
        client.close()


def statuses(it: Any) -> List[int]:
    return [e.status for e in it]


def test_reattaches_after_unavailable_and_ends_after_the_terminal_event(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch = [events(INIT, then=grpc.StatusCode.UNAVAILABLE), events(INIT, SUCCEED, INIT)]
    got = list(c.wait_task("t1", timeout=WAIT, **FAST))
    assert [e.status for e in got] == [gpubms_pb2.TASK_STATUS_INIT, gpubms_pb2.TASK_STATUS_INIT, gpubms_pb2.TASK_STATUS_SUCCEED]
    assert list(got[-1].resource_ids) == ["r1", "r2"]
    assert fs.fake.calls["WatchTask"] == 2
    # The token went as metadata over plaintext.
    assert all(m.get("authorization") == "Bearer tok-123" for m in fs.fake.metadata)


def test_reattaches_when_a_stream_ends_before_a_terminal_status(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch = [events(INIT), events(SUCCEED)]
    assert statuses(c.wait_task("t1", timeout=WAIT, **FAST)) == [gpubms_pb2.TASK_STATUS_INIT, gpubms_pb2.TASK_STATUS_SUCCEED]


def test_a_failed_task_is_the_last_event_not_an_error(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch = [events(INIT, FAILED)]
    assert statuses(c.wait_task("t1", timeout=WAIT)) == [gpubms_pb2.TASK_STATUS_INIT, gpubms_pb2.TASK_STATUS_FAILED]


def test_gives_up_after_max_attempts(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch = [events(then=grpc.StatusCode.UNAVAILABLE)]
    with pytest.raises(gpubms.Error) as e:
        list(c.wait_task("t1", timeout=WAIT, max_attempts=3, **FAST))
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert "gave up after 3 attempts" in e.value.message
    assert fs.fake.calls["WatchTask"] == 3


def test_an_event_resets_the_attempts(fs: FakeServer, c: gpubms.Client) -> None:
    cut = events(INIT, then=grpc.StatusCode.UNAVAILABLE)
    fs.fake.watch = [cut, cut, cut, cut, events(SUCCEED)]
    assert statuses(c.wait_task("t1", timeout=WAIT, max_attempts=2, **FAST))[-1] == gpubms_pb2.TASK_STATUS_SUCCEED


def test_other_errors_are_raised_at_once(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch = [events(then=grpc.StatusCode.PERMISSION_DENIED)]
    with pytest.raises(gpubms.Error) as e:
        list(c.wait_task("t1", timeout=WAIT, **FAST))
    assert e.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert e.value.message.startswith("gpubms: watch task t1: ")
    assert fs.fake.calls["WatchTask"] == 1


def test_an_empty_task_id_is_refused_at_the_call(c: gpubms.Client) -> None:
    with pytest.raises(gpubms.Error) as e:
        c.wait_task("")
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_polls_describe_gpu_task_without_watch_task(fs: FakeServer, c: gpubms.Client) -> None:
    replies = [
        gpubms_pb2.DescribeGpuTaskResponse(status="init", task_status=gpubms_pb2.TASK_STATUS_INIT),
        gpubms_pb2.DescribeGpuTaskResponse(status="init", task_status=gpubms_pb2.TASK_STATUS_INIT),
        gpubms_pb2.DescribeGpuTaskResponse(status="succeed", resource_ids=["r1"]),  # enum unset: read from the string
    ]

    def describe(n: int, context: Any) -> Any:
        if n == 1:
            context.abort(grpc.StatusCode.UNAVAILABLE, "hiccup")
        return replies[min(n, len(replies) - 1)]

    fs.fake.unary["DescribeGpuTask"] = describe
    got = list(c.wait_task("t1", timeout=WAIT, poll_interval=0.01, **FAST))
    assert [e.raw_status for e in got] == ["init", "succeed"]  # unchanged statuses are not repeated
    assert got[-1].status == gpubms_pb2.TASK_STATUS_SUCCEED
    assert got[-1].task_id == "t1"


def test_breaking_out_closes_the_stream(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch = [hang(INIT)]
    for e in c.wait_task("t1", timeout=WAIT):
        assert e.status == gpubms_pb2.TASK_STATUS_INIT
        break
    deadline = time.monotonic() + 5
    while fs.fake.ended == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fs.fake.ended == 1


def test_timeout_ends_a_hanging_wait(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch = [hang(INIT)]
    start = time.monotonic()
    with pytest.raises(gpubms.Error) as e:
        list(c.wait_task("t1", timeout=0.2))
    assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "last status init" in e.value.message
    assert time.monotonic() - start < 3


def test_wait_gpu_reattaches_and_returns_the_state(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch_gpu = [
        events(gpu_event(fleet_pb2.GPU_STATE_CREATING, "creating"), then=grpc.StatusCode.UNAVAILABLE),
        events(gpu_event(fleet_pb2.GPU_STATE_CREATING, "creating"), gpu_event(fleet_pb2.GPU_STATE_RUNNING, "running")),
    ]
    got = c.wait_gpu("r1", timeout=WAIT, **FAST)
    assert got.state == fleet_pb2.GPU_STATE_RUNNING
    assert fs.fake.requests["WatchGpu"][0].until == fleet_pb2.GPU_STATE_RUNNING


def test_wait_gpu_raises_failed_precondition(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch_gpu = [events(gpu_event(fleet_pb2.GPU_STATE_ERROR, "error"), then=grpc.StatusCode.FAILED_PRECONDITION)]
    with pytest.raises(gpubms.Error) as e:
        c.wait_gpu("r1", timeout=WAIT, **FAST)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "server r1" in e.value.message


def test_wait_ready_raises_task_failed(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch = [events(INIT, FAILED)]
    with pytest.raises(gpubms.TaskFailedError) as e:
        c.wait_ready("t1", timeout=WAIT)
    assert isinstance(e.value, gpubms.Error)
    assert e.value.task_id == "t1" and e.value.resource_ids == ["r1"]
    assert e.value.reason == gpubms.REASON_TASK_FAILED


def test_wait_ready_waits_for_every_server_and_describes_it(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.watch = [events(INIT, SUCCEED)]
    fs.fake.watch_gpu = [events(gpu_event(fleet_pb2.GPU_STATE_RUNNING, "running"))]
    fs.fake.unary["DescribeGpuDetail"] = lambda n, ctx: gpubms_pb2.DescribeGpuDetailResponse(resource_id=f"r{n + 1}", state="running")
    got = c.wait_ready("t1", timeout=WAIT)
    assert [d.resource_id for d in got] == ["r1", "r2"]
    assert [r.resource_id for r in fs.fake.requests["WatchGpu"]] == ["r1", "r2"]


def test_a_mutation_is_retried_with_the_same_request_id(fs: FakeServer, c: gpubms.Client) -> None:
    def create(n: int, context: Any) -> Any:
        if n == 0:
            context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
        if n == 1:
            context.abort(grpc.StatusCode.UNKNOWN, "reply lost")
        return gpubms_pb2.CreateGpuInstanceResponse(task_id="t1")

    fs.fake.unary["CreateGpuInstance"] = create
    assert c.create_gpu_instance(region_id="R", amount=1).task_id == "t1"
    ids = [r.request_id for r in fs.fake.requests["CreateGpuInstance"]]
    assert len(ids) == 3 and ids[0] and len(set(ids)) == 1, ids


def test_a_given_request_id_is_kept_and_retries_run_out(fs: FakeServer, c: gpubms.Client) -> None:
    def power(n: int, context: Any) -> Any:
        context.abort(grpc.StatusCode.UNAVAILABLE, "down")

    fs.fake.unary["OperateGpuPower"] = power
    req = gpubms_pb2.OperateGpuPowerRequest(operate="stop", resource_ids=["r1"], request_id="mine-1")
    with pytest.raises(gpubms.Error) as e:
        c.operate_gpu_power(req)
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert "with request_id mine-1: gave up after 4 attempts" in e.value.message
    assert [r.request_id for r in fs.fake.requests["OperateGpuPower"]] == ["mine-1"] * 4


def test_refusals_and_reads_are_not_retried(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.unary["CreateGpuInstance"] = lambda n, ctx: ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "no")
    with pytest.raises(gpubms.Error):
        c.create_gpu_instance(region_id="R")
    assert fs.fake.calls["CreateGpuInstance"] == 1
    fs.fake.unary["DescribeGpuRegions"] = lambda n, ctx: ctx.abort(grpc.StatusCode.UNAVAILABLE, "down")
    with pytest.raises(gpubms.Error):
        c.describe_gpu_regions()
    assert fs.fake.calls["DescribeGpuRegions"] == 1


def test_a_dry_run_gets_no_request_id(fs: FakeServer, c: gpubms.Client) -> None:
    fs.fake.unary["CreateGpuInstance"] = lambda n, ctx: ctx.abort(grpc.StatusCode.UNAVAILABLE, "x") if n == 0 else gpubms_pb2.CreateGpuInstanceResponse()
    req = gpubms_pb2.CreateGpuInstanceRequest(region_id="R", validate_only=True)
    c.create_gpu_instance(req)
    assert not req.HasField("request_id")
    assert [r.HasField("request_id") for r in fs.fake.requests["CreateGpuInstance"]] == [False, False]


def test_mutation_retries_zero(fs: FakeServer) -> None:
    fs.fake.unary["CreateGpuInstance"] = lambda n, ctx: ctx.abort(grpc.StatusCode.UNAVAILABLE, "down")
    with gpubms.connect(fs.addr, mutation_retries=0, timeout=5) as c:
        with pytest.raises(gpubms.Error) as e:
            c.create_gpu_instance(region_id="R")
    assert e.value.message == "down"
    assert fs.fake.calls["CreateGpuInstance"] == 1
    assert fs.fake.requests["CreateGpuInstance"][0].request_id  # still given an id
