"""The client against a real gpubmsd on its embedded emulator: regions, goods,
a refused request, networks, a create followed with wait_task, the list, a
not-found, power stop with its wait, delete, and wait_ready after a create.
The tests run in order and share what they find in ``state``."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import grpc
import pytest

import gpubms
from conftest import TOKEN
from gpubms import fleet_pb2, gpubms_pb2

REGION = "CN_Hohhot_B"
# Deadlines: each unary call, and each wait (the emulator's tasks take 300ms).
CALL = 10.0
WAIT = 30.0

state: Dict[str, Any] = {"name": f"py-e2e-{secrets.token_hex(3)}"}


@pytest.fixture(scope="module")
def c(server: Any) -> Iterator[gpubms.Client]:
    client = gpubms.connect(server.grpc, token=TOKEN, timeout=CALL)
    try:
        yield client
    finally:
        client.close()


def require(*keys: str) -> None:
    missing = [k for k in keys if k not in state]
    if missing:
        pytest.skip(f"needs an earlier test's {', '.join(missing)}")


def test_refuses_a_call_without_the_token(server: Any) -> None:
    with gpubms.connect(server.grpc, timeout=CALL) as anon:
        with pytest.raises(gpubms.Error) as e:
            anon.describe_gpu_regions()
    assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    with gpubms.connect(server.grpc, token="x" * 32, timeout=CALL) as wrong:
        with pytest.raises(gpubms.Error) as e:
            wrong.describe_gpu_regions()
    assert e.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_regions(c: gpubms.Client, server: Any) -> None:
    regions = c.describe_gpu_regions().regions
    assert any(r.region_id == REGION and r.region_name for r in regions), [r.region_id for r in regions]
    # http:// is plaintext too, and the token travels as metadata there.
    with gpubms.connect(f"http://{server.grpc}", token=TOKEN, timeout=CALL) as h:
        assert len(h.describe_gpu_regions(gpubms_pb2.DescribeGpuRegionsRequest()).regions) == len(regions)
    info = c.get_server_info()
    assert info.emulator


def test_goods_and_images(c: gpubms.Client) -> None:
    goods = c.describe_gpu_goods(region_id=REGION)
    assert len(goods.post_paid) > 0
    g = next((g for g in goods.post_paid if any(x.purchase_num >= 3 for x in g.computes)), None)
    assert g is not None, "post-paid goods with stock for three servers"
    compute = next(x for x in g.computes if x.purchase_num >= 3)
    images = c.describe_gpu_image(region_id=REGION, image_type="public", compute_id=compute.id)
    image = next((i for f in images.families for i in f.images), None)
    assert image is not None, "a public image"
    state.update(goods_id=g.goods_id, compute_id=compute.id, image_id=image.id)


def test_invalid_request_names_the_field(c: gpubms.Client) -> None:
    require("goods_id")
    with pytest.raises(gpubms.Error) as e:
        c.describe_gpu_goods_price(
            region_id=REGION, goods_id=state["goods_id"], compute_id=state["compute_id"],
            instance_charge_type="PrePaid", amount=0,
        )
    err = e.value
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.field == "amount"
    assert "amount" in err.message
    assert err.request_id  # RequestInfo, for a support ticket
    assert any(type(d).__name__ == "Violations" for d in err.details)

    with pytest.raises(gpubms.Error) as e:
        c.describe_gpu_goods(region_id="no/such:region")
    assert (e.value.code, e.value.field) == (grpc.StatusCode.INVALID_ARGUMENT, "region_id")


def test_find_networks(c: gpubms.Client) -> None:
    nets = c.find_networks(region_id=REGION)
    assert nets.region_id == REGION
    choice = next((v for v in nets.vpcs if v.HasField("vpc") and len(v.subnets) > 0), None)
    assert choice is not None, "a VPC with a subnet"
    state.update(vpc_id=choice.vpc.vpc_id, net_id=choice.subnets[0].subnet_id)
    assert state["vpc_id"] and state["net_id"]


def create_request(amount: int, name: str) -> gpubms_pb2.CreateGpuInstanceRequest:
    return gpubms_pb2.CreateGpuInstanceRequest(
        region_id=REGION, goods_id=state["goods_id"], compute_id=state["compute_id"], image_id=state["image_id"],
        instance_charge_type="PostPaid", instance_name=name, password="Example-passw0rd",
        amount=amount, raid=0, vpc_network={"vpc_id": state["vpc_id"], "net_id": state["net_id"]},
    )


def test_create_then_wait_task_to_success(c: gpubms.Client) -> None:
    require("goods_id", "vpc_id")
    req = create_request(2, state["name"])
    assert not req.HasField("request_id")
    res = c.create_gpu_instance(req)
    assert res.task_id
    # The client gave the request an id, written into it: sending the same
    # message again is the same request, answered from the server's record.
    assert req.request_id
    assert c.create_gpu_instance(req).task_id == res.task_id

    events: List[gpubms_pb2.TaskEvent] = list(c.wait_task(res.task_id, timeout=WAIT))
    last = events[-1]
    assert last.status == gpubms_pb2.TASK_STATUS_SUCCEED, [e.raw_status for e in events]
    assert last.raw_status == "succeed"
    assert last.task_id == res.task_id
    assert len(last.resource_ids) == 2
    assert all(e.status == gpubms_pb2.TASK_STATUS_INIT for e in events[:-1]), [e.raw_status for e in events]
    state["resource_ids"] = sorted(last.resource_ids)

    # A finished task watched again ends at once with its terminal event.
    again = [e.status for e in c.wait_task(res.task_id, timeout=WAIT)]
    assert again == [gpubms_pb2.TASK_STATUS_SUCCEED]


def test_wait_task_of_an_unknown_task_is_not_found(c: gpubms.Client) -> None:
    with pytest.raises(gpubms.Error) as e:
        for _ in c.wait_task("no-such-task", timeout=WAIT):
            pass
    assert e.value.code == grpc.StatusCode.NOT_FOUND
    assert "no-such-task" in e.value.message


def test_list_shows_the_new_servers(c: gpubms.Client) -> None:
    require("resource_ids")
    records = c.describe_gpu(name=state["name"], page_size=10).records
    assert sorted(r.resource_id for r in records) == state["resource_ids"]
    for r in records:
        assert r.region_id == REGION
        assert r.state == "running"
        assert r.name.startswith(state["name"]), r.name
    detail = c.describe_gpu_detail(resource_id=state["resource_ids"][0])
    assert detail.resource_id == state["resource_ids"][0]


def test_not_found_carries_the_provider_code(c: gpubms.Client) -> None:
    with pytest.raises(gpubms.Error) as e:
        c.describe_gpu_detail(resource_id="no-such-server")
    err = e.value
    assert err.code == grpc.StatusCode.NOT_FOUND
    assert err.reason == "InstanceNotFound"
    assert err.error_metadata.get("action") == "DescribeGpuDetail"
    assert "InstanceNotFound" in str(err)


def test_power_stop_then_wait(c: gpubms.Client) -> None:
    require("resource_ids")
    rid = state["resource_ids"][0]
    res = c.operate_gpu_power(operate="stop", resource_ids=[rid])
    assert len(res.task_ids) == 1
    events = list(c.wait_task(res.task_ids[0], timeout=WAIT))
    assert events[-1].status == gpubms_pb2.TASK_STATUS_SUCCEED, [e.raw_status for e in events]
    ev = c.wait_gpu(rid, fleet_pb2.GPU_STATE_STOPPED, timeout=WAIT)
    assert ev.state == fleet_pb2.GPU_STATE_STOPPED
    assert c.describe_gpu_detail(resource_id=rid).state == "stopped"


def test_delete(c: gpubms.Client) -> None:
    require("resource_ids")
    c.delete_gpu_instances(resource_ids=state["resource_ids"])
    for rid in state["resource_ids"]:
        assert c.wait_gpu(rid, fleet_pb2.GPU_STATE_GONE, timeout=WAIT).state == fleet_pb2.GPU_STATE_GONE
    left = [r.resource_id for r in c.describe_gpu(name=state["name"], page_size=10).records if r.state != "deleted"]
    assert left == []


def test_wait_ready_after_a_create(c: gpubms.Client) -> None:
    require("goods_id", "vpc_id")
    name = state["name"] + "-ready"
    res = c.create_gpu_instance(create_request(1, name))
    seen: List[str] = []
    start = time.monotonic()
    servers = c.wait_ready(res.task_id, timeout=WAIT, progress=lambda ev: seen.append(ev.raw_status))
    assert time.monotonic() - start < WAIT
    assert seen[-1] == "succeed"
    assert len(servers) == 1
    d = servers[0]
    assert isinstance(d, gpubms_pb2.DescribeGpuDetailResponse)
    assert d.resource_id and d.state == "running"
    assert d.name.startswith(name)
    c.delete_gpu_instances(resource_ids=[d.resource_id])
    c.wait_gpu(d.resource_id, fleet_pb2.GPU_STATE_GONE, timeout=WAIT)


def test_wait_ready_of_an_unknown_task_raises(c: gpubms.Client) -> None:
    with pytest.raises(gpubms.Error) as e:
        c.wait_ready("no-such-task", timeout=WAIT)
    assert e.value.code == grpc.StatusCode.NOT_FOUND


def test_wait_times_out(c: gpubms.Client) -> None:
    require("goods_id", "vpc_id")
    res = c.create_gpu_instance(create_request(1, state["name"] + "-late"))
    start = time.monotonic()
    with pytest.raises(gpubms.Error) as e:
        for _ in c.wait_task(res.task_id, timeout=0.05):
            pass
    assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < 5
    ev = list(c.wait_task(res.task_id, timeout=WAIT))[-1]
    c.delete_gpu_instances(resource_ids=list(ev.resource_ids))


def test_the_readme_example(server: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.S)
    assert block is not None, "a python block in README.md"
    code = block.group(1)
    assert "127.0.0.1:9090" in code and "timeout=1800" in code
    code = code.replace("127.0.0.1:9090", server.grpc).replace("timeout=1800", f"timeout={WAIT:g}")
    monkeypatch.setenv("GPUBMS_TOKEN", TOKEN)
    monkeypatch.setenv("ROOT_PASSWORD", "Example-passw0rd")
    scope: Dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].startswith("TASK_STATUS_SUCCEED"), printed
    servers = scope["servers"]
    assert len(servers) == 2 and all(s.state == "running" for s in servers)
    c: gpubms.Client = scope["c"]
    for s in servers:
        c.wait_gpu(s.resource_id, fleet_pb2.GPU_STATE_GONE, timeout=WAIT)
    c.close()
