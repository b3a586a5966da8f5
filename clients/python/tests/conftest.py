import secrets
import shutil
from typing import Iterator

import pytest

try:
    import grpc  # noqa: F401
    import google.protobuf  # noqa: F401
except ImportError as e:  # a pyenv or virtualenv python without Debian's dist-packages
    raise pytest.UsageError(
        f"{e}: run the tests with Debian's /usr/bin/python3 (apt-get install python3-grpcio python3-protobuf "
        "python3-pytest), e.g. make test-python"
    ) from None

from server import Server, build

TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def gpubmsd_binary() -> Iterator[str]:
    binary, tmp = build()
    try:
        yield binary
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def server(gpubmsd_binary: str) -> Iterator[Server]:
    s = Server(gpubmsd_binary, {
        "GPUBMS_AUTH_TOKEN": TOKEN,
        "GPUBMS_EMULATOR_TASK_DELAY": "300ms",
        "GPUBMS_WATCH_POLL_INTERVAL": "100ms",
    })
    try:
        yield s
    finally:
        s.stop()
