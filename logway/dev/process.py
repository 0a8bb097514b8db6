"""Starting, watching and stopping one server process: pid files, logs, ports, signals."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from logway.dev.config import DevConfig, DevError, Say


@dataclass(frozen=True)
class ServerStatus:
    name: str
    running: bool
    answering: bool
    pid: int | None
    address: str
    data: Path
    log: Path

    def describe(self) -> str:
        if not self.running:
            return f"{self.name}: stopped ({self.address} not started by logway dev)"
        state = "up" if self.answering else "running, not answering yet"
        return f"{self.name}: {state} at {self.address} (pid {self.pid}); log {self.log}"


def running_as_root() -> bool:
    return os.geteuid() == 0


class Server:
    """One server process with a pid file."""

    name = ""

    def __init__(self, config: DevConfig) -> None:
        self.config = config
        self.run_dir = config.home / "run" / self.name
        self.pid_file = self.run_dir / "pid.json"
        self.process: subprocess.Popen[bytes] | None = None  # when started by this process

    # -- to be provided by each server --
    @property
    def address(self) -> str:
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The port that answers when the server is up."""
        raise NotImplementedError

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port the server listens on."""
        raise NotImplementedError

    @property
    def marker(self) -> str:
        """A string our process's command line contains, so a reused pid is never signalled."""
        raise NotImplementedError

    @property
    def data_dir(self) -> Path:
        raise NotImplementedError

    @property
    def log_file(self) -> Path:
        raise NotImplementedError

    def fetch(self, say: Say) -> None:
        raise NotImplementedError

    def launch(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def ready(self, say: Say) -> None:
        """What the server needs once it answers, before anyone uses it (nothing by default)."""

    # -- shared --
    def pid(self) -> int | None:
        """The pid of our running server, or None (a stale pid file is removed)."""
        try:
            pid = int(json.loads(self.pid_file.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None
        if self.marker in cmdline(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def status(self) -> ServerStatus:
        pid = self.pid()
        return ServerStatus(
            self.name,
            pid is not None,
            pid is not None and self.answers(),
            pid,
            self.address,
            self.data_dir,
            self.log_file,
        )

    def start(self, say: Say) -> bool:
        """Start the server unless ours already runs; True if this call started it."""
        if self.pid() is not None:
            say(f"{self.name}: already running at {self.address}")
            return False
        for port in self.ports:
            if port_in_use(port):
                raise DevError(
                    f"port {port} for {self.name} is in use by a process logway dev did not "
                    f"start; stop it, or pick another port (see `logway dev up --help`)"
                )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.process = self.launch()
        self.pid_file.write_text(json.dumps({"pid": self.process.pid, "started": time.time()}))
        return True

    def wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise DevError(
                    f"{self.name} exited during start-up; the end of {self.log_file}:\n"
                    + tail(self.log_file)
                )
            if self.answers():
                return
            time.sleep(0.5)
        raise DevError(
            f"{self.name} did not answer at {self.address} within {timeout:.0f}s; "
            f"the end of {self.log_file}:\n" + tail(self.log_file)
        )

    def stop(self, timeout: float = 30.0, *, hard: bool = False) -> bool:
        """Stop our server: SIGTERM to its process group, SIGKILL after `timeout`; with `hard`,
        SIGKILL at once (the fault tests' crash)."""
        pid = self.process.pid if self.process is not None else self.pid()
        if pid is None:
            return False
        signal_group(pid, signal.SIGKILL if hard else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._running(pid):
            time.sleep(0.2)
        if self._running(pid):
            signal_group(pid, signal.SIGKILL)
            if self.process is not None:
                self.process.wait(10)
        self.process = None
        self.pid_file.unlink(missing_ok=True)
        return True

    def _running(self, pid: int) -> bool:
        if self.process is not None:
            return self.process.poll() is None  # also reaps it
        return alive(pid)


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def cmdline(pid: int) -> str:
    """The command line of `pid`, or "" if it is gone.

    Right after exec, /proc/<pid>/cmdline is briefly empty; read again before concluding.
    """
    for _ in range(40):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return ""
        if raw:
            return raw.replace(b"\0", b" ").decode(errors="replace")
        time.sleep(0.025)
    return ""


def reachable_by_nobody(kind: str, path: Path) -> Path:
    """A folder under /var/tmp standing for `path`, which `nobody` may not be able to reach."""
    digest = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:10]
    return Path("/var/tmp") / f"logway-es-{kind}-{digest}"  # noqa: S108 - nobody must reach it


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.split(")")[-1].split()[0] != "Z"


def signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)
