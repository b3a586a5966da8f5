"""The parts of the client that need no server: addresses, errors and their
details, the methods against the services, and the choice of google.api and
google.rpc modules."""

from __future__ import annotations

import importlib.util
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2

import gpubms
from gpubms import client as client_mod
from gpubms import errors
from gpubms._deps import error_details_pb2, status_pb2
from gpubms._vendor.buf.validate import validate_pb2
from gpubms.v1 import fleet_pb2, gpubms_pb2, network_pb2

PKG = Path(gpubms.__file__).resolve().parent


@pytest.mark.parametrize(
    "addr, tls, want",
    [
        ("127.0.0.1:9090", None, ("127.0.0.1:9090", False)),
        ("localhost:9090", None, ("localhost:9090", False)),
        ("[::1]:9090", None, ("[::1]:9090", False)),
        ("127.0.0.1:9090", True, ("127.0.0.1:9090", True)),
        ("gpubms.example.com:443", None, ("gpubms.example.com:443", True)),
        ("10.0.0.7:9090", False, ("10.0.0.7:9090", False)),
        ("http://10.0.0.7:9090", None, ("10.0.0.7:9090", False)),
        ("http://10.0.0.7", None, ("10.0.0.7:80", False)),
        ("https://gpubms.example.com", None, ("gpubms.example.com:443", True)),
        ("https://127.0.0.1:9090/", None, ("127.0.0.1:9090", True)),
        ("unix:/run/gpubms.sock", None, ("unix:/run/gpubms.sock", False)),
    ],
)
def test_addresses(addr: str, tls: object, want: tuple) -> None:
    target, secure, _ = client_mod._target(addr, tls)
    assert (target, secure) == want


@pytest.mark.parametrize(
    "addr, tls",
    [
        ("", None),
        ("gpubms.example.com", None),  # no port
        ("ftp://h:1", None),
        ("http://h:1", True),
        ("https://h:1", False),
        ("h:99999", None),
        ("::1:9090", None),
        ("http://h:1/path", None),
    ],
)
def test_bad_addresses(addr: str, tls: object) -> None:
    with pytest.raises(ValueError):
        client_mod._target(addr, tls)


def test_connect_checks_the_token_and_tls() -> None:
    with pytest.raises(ValueError):
        gpubms.connect("127.0.0.1:1", token="")
    with pytest.raises(ValueError):
        gpubms.connect("127.0.0.1:1", token="a b")
    with pytest.raises(ValueError):
        gpubms.connect("h:1", tls=gpubms.TLS(cert=b"-----BEGIN CERTIFICATE-----\n"))
    c = gpubms.connect("gpubms.example.com:443", token="t", tls=gpubms.TLS(server_name="gpubms.internal"))
    assert "t" not in repr(c).replace("gpubms.example.com", "").replace("Client", "")
    c.close()
    assert "[REDACTED]" in repr(gpubms.TLS(key=b"secret")) and "secret" not in repr(gpubms.TLS(key=b"secret"))


def test_a_request_or_its_fields() -> None:
    c = gpubms.connect("127.0.0.1:1")
    with pytest.raises(TypeError):
        c.describe_gpu_goods(gpubms_pb2.DescribeGpuGoodsRequest(), region_id="R")
    with pytest.raises(TypeError):
        c.describe_gpu_goods(gpubms_pb2.DescribeGpuRegionsRequest())  # type: ignore[arg-type]
    c.close()


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def test_every_rpc_is_a_method() -> None:
    for mod in (gpubms_pb2, network_pb2, fleet_pb2):
        for svc in mod.DESCRIPTOR.services_by_name.values():
            for m in svc.methods:
                fn = getattr(gpubms.Client, snake(m.name), None)
                assert fn is not None, f"Client has no {snake(m.name)} for {svc.name}.{m.name}"
                mp = descriptor_pb2.MethodDescriptorProto()
                m.CopyToProto(mp)
                returns_stream = str(fn.__annotations__.get("return", "")).startswith("Stream[")
                assert returns_stream == mp.server_streaming, m.name


def test_ensure_request_id() -> None:
    req = gpubms_pb2.DeleteGpuInstancesRequest(resource_ids=["r1"])
    rid = gpubms.ensure_request_id(req)
    assert rid and req.request_id == rid
    assert gpubms.ensure_request_id(req) == rid
    assert gpubms.ensure_request_id(gpubms_pb2.DescribeGpuRegionsRequest()) == ""


class FakeRpcError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str, trailers: tuple) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._trailers

    def initial_metadata(self) -> tuple:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: object) -> bool:
        return False


def status_trailer(*details: object) -> tuple:
    st = status_pb2.Status(code=3, message="m")
    for d in details:
        st.details.add().Pack(d)
    return (("grpc-status-details-bin", st.SerializeToString()),)


def test_error_details() -> None:
    path = validate_pb2.FieldPath(elements=[
        validate_pb2.FieldPathElement(field_name="vpc_network"),
        validate_pb2.FieldPathElement(field_name="segments", index=1),
        validate_pb2.FieldPathElement(field_name="labels", string_key='a"b'),
    ])
    e = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad", status_trailer(
        validate_pb2.Violations(violations=[validate_pb2.Violation(field=path, rule_id="x")]),
        error_details_pb2.ErrorInfo(reason="PROTECTED", domain="gpubms.v1", metadata={"servers": "r1"}),
        error_details_pb2.RequestInfo(request_id="req-1"),
        error_details_pb2.ResourceInfo(resource_name="r9"),
        gpubms_pb2.TaskEvent(task_id="not a detail type"),
    )), "gpubms: Op")
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.message == "gpubms: Op: bad"
    assert e.field == 'vpc_network.segments[1].labels["a\\"b"]'
    assert (e.reason, e.domain, e.error_metadata) == ("PROTECTED", "gpubms.v1", {"servers": "r1"})
    assert e.request_id == "req-1" and e.resource_ids == ["r9"]
    assert e.details[-1].TypeName() == "gpubms.v1.TaskEvent"  # unknown types stay Any
    assert str(e) == "INVALID_ARGUMENT: gpubms: Op: bad (reason PROTECTED)"
    back = pickle.loads(pickle.dumps(e))
    assert (back.code, back.field, back.reason, back.message) == (e.code, e.field, e.reason, e.message)

    bad = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "x", status_trailer(
        error_details_pb2.BadRequest(field_violations=[error_details_pb2.BadRequest.FieldViolation(field="vpc_network.net_id")]),
    )))
    assert bad.field == "vpc_network.net_id"

    unknown = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "lost", status_trailer(
        error_details_pb2.ErrorInfo(reason=gpubms.REASON_REQUEST_OUTCOME_UNKNOWN),
    )))
    assert unknown.outcome_unknown

    plain = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down", (("grpc-status-details-bin", b"\xff\xff"),)))
    assert (plain.code, plain.reason, plain.field, plain.details) == (grpc.StatusCode.UNAVAILABLE, None, None, [])


# A stand-in for googleapis-common-protos: the same .proto file names with
# other contents (another java_package), registered under google.api and
# google.rpc. If gpubms loaded its own copies next to these, the descriptor
# pool would refuse the second file of each name.
FAKE = '''
import ast, pathlib
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.internal import builder
{deps}
tree = ast.parse(pathlib.Path({src!r}).read_text())
raw = next(ast.literal_eval(n.args[0]) for n in ast.walk(tree)
           if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "AddSerializedFile")
fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
fdp.options.java_package = "fake.installed"
DESCRIPTOR = descriptor_pool.Default().AddSerializedFile(fdp.SerializeToString())
builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, globals())
builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, __name__, globals())
'''


def test_installed_google_api_and_rpc_are_used_instead_of_ours(tmp_path: Path) -> None:
    fakes = {
        "google/api/http_pb2.py": "",
        "google/api/annotations_pb2.py": "import google.api.http_pb2\nfrom google.protobuf import descriptor_pb2 as _d",
        "google/rpc/status_pb2.py": "from google.protobuf import any_pb2",
        "google/rpc/error_details_pb2.py": "from google.protobuf import duration_pb2",
    }
    for rel, deps in fakes.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(FAKE.format(deps=deps, src=str(PKG / "_vendor" / rel)))
    script = textwrap.dedent('''
        import sys, runpy
        import google.rpc.status_pb2 as installed_status
        import gpubms
        from gpubms.v1 import gpubms_pb2
        assert set(gpubms._deps.sources.values()) == {"installed"}, gpubms._deps.sources
        assert sys.modules["gpubms._vendor.google.rpc.status_pb2"] is installed_status
        assert gpubms.errors.status_pb2 is installed_status
        assert gpubms_pb2.DESCRIPTOR.dependencies[1].name == "google/api/annotations.proto"
        # The control: our own copy next to the installed one is refused.
        try:
            runpy.run_path(sys.argv[1])
        except TypeError as e:
            assert "already in the pool" in str(e) or "duplicate" in str(e), e
        else:
            raise AssertionError("the pool took a second google/rpc/status.proto")
        print("ok")
    ''')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PKG.parent)])}
    r = subprocess.run([sys.executable, "-c", script, str(PKG / "_vendor/google/rpc/status_pb2.py")],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


@pytest.mark.skipif(importlib.util.find_spec("google.rpc") is not None, reason="googleapis-common-protos is installed")
def test_without_installed_copies_ours_are_used() -> None:
    assert set(gpubms._deps.sources.values()) == {"vendored"}, gpubms._deps.sources
