"""One server process of the local stack: started detached (it outlives `stack up`), logged to a
file of ours, health-checked over HTTP or TCP, and stopped by the PID we recorded, only if that
PID is still the process we started (its start time is recorded too: PIDs are reused).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from components.errors import UserError


class StackError(UserError, RuntimeError):
    """A stack service failed to start, or is down; the message names it and its log."""


# Ports a server keeps are taken below the kernel's ephemeral range: a port the kernel handed
# out (bind to 0) is free now, but any outgoing connection may take it before the server binds
# it, or after a restart (seen: Ray's object manager port, taken 6 s later). Above Ray's worker
# ports (10002-19999 by default).
_SERVER_PORTS_FROM = 20000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; other systems: the IANA range starts at 49152


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# Ports this process has handed out: a server started with several ports (SeaweedFS takes
# eight) was once given the same one twice, each free when checked, and died binding the second.
_handed_out: set[int] = set()
_handing_out = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on and this process has not handed out before, outside the
    ephemeral range when there is room below it."""
    import random

    high = _ephemeral_low()
    with _handing_out:
        if high - _SERVER_PORTS_FROM > 100:
            # not the global generator: a seeded process would pick the same ports every time
            for port in random.SystemRandom().sample(range(_SERVER_PORTS_FROM, high), 200):
                if port not in _handed_out and _bindable(host, port):
                    return _hand_out(port)
        for _ in range(100):  # no room: the kernel's choice
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
            if port not in _handed_out:
                return _hand_out(port)
    raise OSError(f"no free port on {host}")


def _hand_out(port: int) -> int:
    _handed_out.add(port)
    return port


def port_or_free(preferred: int, host: str = "127.0.0.1") -> int:
    """The service's usual port when nothing listens there (and it was not handed out), else
    any free one."""
    with socket.socket() as sock:
        # as the servers bind: a port left in TIME_WAIT by a stopped server is free to them
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, preferred))
        except OSError:
            return free_port(host)
    with _handing_out:
        if preferred not in _handed_out:
            return _hand_out(preferred)
    return free_port(host)


def http_ok(url: str, expect: str | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = response.read(2048).decode(errors="replace")
            return response.status == 200 and (expect is None or expect in body)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def process_start_time(pid: int) -> float | None:
    """The process's start time, None when there is no such process (or only its zombie)."""
    import psutil

    try:  # collect the exit status when it is our child (in-process starts: tests)
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process.create_time()
    except psutil.Error:
        return None


def process_start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (/proc/PID/stat's field 22), None
    without /proc or without the process. Unlike the wall-clock start time it does not move
    when the system clock is stepped (NTP, a suspended VM)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the name (field 2) is in parentheses and may hold spaces: count from the last ")"
    return int(stat[stat.rindex(")") + 2 :].split()[19])


@dataclass
class Service:
    name: str
    command: list[str]
    log: Path
    healthy: Callable[[], bool]
    url: str  # what a person opens or a client connects to
    env: dict[str, str] = field(default_factory=dict)
    stop_signal: int = signal.SIGTERM
    stop_timeout_s: float = 30  # then SIGKILL
    prepare: Callable[[], None] | None = None  # before the first start (folders, initdb)
    on_healthy: Callable[[], None] | None = None  # once it answers (e.g. create a database)

    def start(self) -> dict:
        """Start detached, in its own process group; returns the record kept in the state."""
        if self.prepare:
            self.prepare()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                self.command,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return {
            "pid": process.pid,
            "started": process_start_time(process.pid),
            "started_ticks": process_start_ticks(process.pid),
            "url": self.url,
            "log": str(self.log),
            "stop_signal": int(self.stop_signal),
            "stop_timeout_s": self.stop_timeout_s,
        }


def alive(record: dict) -> bool:
    """The recorded process still runs (the same process, not a reused PID). Compared by its
    start in ticks since boot where the record has it: a wall-clock start time moves with every
    step of the system clock, which once made a whole running stack look stopped."""
    started = process_start_time(record["pid"])  # None: gone, or only its zombie
    if started is None:
        return False
    ticks = record.get("started_ticks")
    if ticks is not None and (now := process_start_ticks(record["pid"])) is not None:
        return now == ticks
    return abs(started - (record.get("started") or 0)) < 1.0


def log_tail(record: dict, lines: int = 6) -> str:
    """The last lines of a service's log (why it stopped, usually), for an error message."""
    try:
        text = Path(record["log"]).read_text(errors="replace")
    except (OSError, KeyError):
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(an empty log)"


def wait_healthy(name: str, record: dict, healthy: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(record):
            raise StackError(f"{name} exited while starting; see its log {record['log']}")
        if healthy():
            return
        time.sleep(0.5)
    raise StackError(
        f"{name} did not become healthy in {timeout_s:.0f} s at {record['url']}; "
        f"see its log {record['log']}"
    )


def stop(record: dict, timeout_s: float | None = None, sig: int | None = None) -> bool:
    """Signal the recorded process group (its stop signal, or `sig`), wait until every process
    of it is gone, SIGKILL the group if it lingers. False: it was not running."""
    if not alive(record):
        return False
    pgid = record["pid"]
    try:
        os.killpg(pgid, sig or record.get("stop_signal", signal.SIGTERM))
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + (timeout_s or record.get("stop_timeout_s", 30))
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 10
        time.sleep(0.2)
    return True


def _group_alive(pgid: int) -> bool:
    """Any process of the group still running (zombies count as gone)."""
    import psutil

    try:  # collect the leader's exit status when it is our child (in-process starts, tests)
        os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:
        pass
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False
