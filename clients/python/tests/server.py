"""A real gpubmsd on its embedded emulator, for the end-to-end tests: built
once with ``go build`` (or taken from $GPUBMSD), started on free loopback
ports, its addresses read from the JSON "gpubms serving" log line, stopped
with SIGTERM (SIGKILL if it lingers). Every wait is bounded."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Dict, List, Optional, Tuple

BUILD_TIMEOUT = 300.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def repo_root() -> Path:
    """The nearest directory above this file with go.mod and cmd/gpubmsd."""
    d = Path(__file__).resolve().parent
    for p in (d, *d.parents):
        if (p / "go.mod").exists() and (p / "cmd" / "gpubmsd").is_dir():
            return p
    raise RuntimeError(f"gpubms repository root (go.mod) not found above {__file__}")


def build() -> Tuple[str, Optional[str]]:
    """$GPUBMSD, or ./cmd/gpubmsd built into a temporary directory (returned for removal)."""
    given = os.environ.get("GPUBMSD")
    if given:
        return given, None
    d = tempfile.mkdtemp(prefix="gpubms-py-")
    binary = os.path.join(d, "gpubmsd")
    try:
        r = subprocess.run(
            ["go", "build", "-o", binary, "./cmd/gpubmsd"],
            cwd=repo_root(), capture_output=True, text=True, timeout=BUILD_TIMEOUT,
        )
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise
    if r.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        raise RuntimeError(f"go build ./cmd/gpubmsd failed ({r.returncode}):\n{r.stderr}")
    return binary, d


class Server:
    """A started gpubmsd: grpc and http are host:port."""

    def __init__(self, binary: str, env: Dict[str, str]) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("GPUBMS_")}
        self._lines: List[str] = []
        self._lock = threading.Lock()
        self._serving = threading.Event()
        self.grpc = ""
        self.http = ""
        self.proc = subprocess.Popen(
            [binary, "--emulator", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json"],
            env={**base, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True),
        ]
        for t in self._readers:
            t.start()
        if not self._serving.wait(START_TIMEOUT) or not self.grpc:
            exited = self.proc.poll()
            self.stop()
            why = f"exited ({exited})" if exited is not None else f"did not serve within {START_TIMEOUT:g}s"
            raise RuntimeError(f"gpubmsd {why}:\n{self.log()}")

    def _read(self, f) -> None:  # type: ignore[no-untyped-def]
        for line in f:
            with self._lock:
                self._lines.append(line)
            if self._serving.is_set():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("msg") == "gpubms serving" and rec.get("grpc") and rec.get("http"):
                self.grpc, self.http = rec["grpc"], rec["http"]
                self._serving.set()
        self._serving.set()  # exited: stop waiting

    def log(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        for t in self._readers:
            t.join(STOP_TIMEOUT)
