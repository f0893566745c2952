"""A redis-server of a test's own: a temporary folder, a port the OS chose, nothing shared.

Tests that stop or restart Redis use this one, never the machine's shared server.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis

from tests.service.backends import unavailable
from tests.service.servers import free_port, wait_for


class OwnRedis:
    """One redis-server process under `folder`; `stop` and `start` restart it empty."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def up(self) -> bool:
        """True when the server answers PING."""
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        """Start on the last port (a restart) or, the first time, on a free one."""
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed (apt-get install redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        # A free port can be taken again before redis binds it: then redis exits and a first
        # start tries another; a restart keeps its port, which the workers reconnect to.
        ports = [self.port] if self.port else [free_port() for _ in range(5)]
        for port in ports:
            self.port = port
            self.process = subprocess.Popen(
                [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                 "--appendonly", "no", "--dir", str(self.folder),
                 "--logfile", str(self.folder / "redis.log")],
                start_new_session=True,
            )  # fmt: skip
            if wait_for(self._started, 15, 0.05, f"redis-server on port {port}") == "up":
                return
        raise AssertionError(f"redis-server did not start; see {self.folder / 'redis.log'}")

    def _started(self) -> str | None:
        assert self.process is not None
        if self.up():
            return "up"
        return "exited" if self.process.poll() is not None else None

    def stop(self) -> None:
        """SIGTERM: with saving off, the server exits and its data is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
