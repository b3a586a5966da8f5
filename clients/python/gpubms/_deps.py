"""The google.api and google.rpc protos: the installed ones when there are.

The generated code (gpubms/v1, gpubms/_vendor) imports its google.api and
google.rpc modules from gpubms._vendor. Protobuf keeps one descriptor pool
per process, keyed by .proto file name: if googleapis-common-protos is
installed too (google-cloud libraries bring it) and its copy of, say,
google/api/http.proto differs from ours by a byte, whichever loads second
fails with "A file with this name is already in the pool". So when an
installed copy imports, it stands in for ours (under our module names)
before any generated module loads, and ours is never registered. This
module must be imported before gpubms.v1; gpubms/__init__.py does.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Dict, Tuple

# Module → names the client relies on: an installed copy too old to have
# them is not used.
_PREFERRED: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("google.api.http_pb2", ("HttpRule",)),
    ("google.api.annotations_pb2", ("http",)),
    ("google.rpc.status_pb2", ("Status",)),
    ("google.rpc.error_details_pb2", ("ErrorInfo", "BadRequest", "RequestInfo", "ResourceInfo", "RetryInfo")),
)

# Which copy each module is: "installed" or "vendored" (for tests and bug reports).
sources: Dict[str, str] = {}


def _prefer_installed() -> None:
    for name, needs in _PREFERRED:
        ours = "gpubms._vendor." + name
        if ours in sys.modules:
            sources[name] = "installed" if sys.modules[ours].__name__ == name else "vendored"
            continue
        try:
            mod: ModuleType = importlib.import_module(name)
        except Exception:  # not installed, or built for another protobuf runtime
            sources[name] = "vendored"
            continue
        if all(hasattr(mod, n) for n in needs):
            sys.modules[ours] = mod
            sources[name] = "installed"
        else:
            sources[name] = "vendored"


_prefer_installed()

from gpubms._vendor.google.rpc import error_details_pb2, status_pb2  # noqa: E402

__all__ = ["error_details_pb2", "status_pb2", "sources"]
