"""A stack service is stopped by the PID recorded at its start, with its whole process group,
and never when that PID now belongs to another process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from infra.local import service
from infra.local.service import Service, port_or_free

# a parent that starts a child and both sleep: a server with a worker process
PARENT_AND_CHILD = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
)


def _start(tmp_path: Path) -> dict:
    svc = Service(
        "sleeper",
        [sys.executable, "-c", PARENT_AND_CHILD],
        tmp_path / "logs" / "sleeper.log",
        healthy=lambda: True,
        url="-",
        stop_timeout_s=5,
    )
    record = svc.start()
    deadline = time.monotonic() + 30
    while len(psutil.Process(record["pid"]).children()) < 1:  # the child is up
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return record


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    record = _start(tmp_path)
    (child,) = psutil.Process(record["pid"]).children()
    assert service.alive(record) and (tmp_path / "logs" / "sleeper.log").exists()
    assert service.stop(record) is True
    assert not service.alive(record)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert service.stop(record) is False  # stopping twice is harmless


def test_a_reused_pid_is_not_ours_to_stop(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        # the record says "this PID", but a process started at another time
        record = {"pid": other.pid, "started": psutil.Process(other.pid).create_time() - 100}
        assert not service.alive(record)
        assert service.stop(record) is False
        assert other.poll() is None  # still running: not ours
    finally:
        other.kill()
        other.wait()


def test_a_step_of_the_system_clock_does_not_stop_a_running_service(tmp_path: Path) -> None:
    """The wall-clock start time of every process moves when the clock is stepped (NTP, a
    resumed VM): the record's ticks since boot still name the same process; other ticks do not."""
    record = _start(tmp_path)
    try:
        assert record["started_ticks"] == service.process_start_ticks(record["pid"])
        stepped = {**record, "started": record["started"] - 200}  # the clock moved 200 s
        assert service.alive(stepped)
        reused = {**record, "started_ticks": record["started_ticks"] - 1}  # another process
        assert not service.alive(reused)
        legacy = {k: v for k, v in record.items() if k != "started_ticks"}  # an older record
        assert service.alive(legacy) and not service.alive({**legacy, "started": 0.0})
    finally:
        assert service.stop(record) is True
    assert not service.alive(record) and service.process_start_ticks(record["pid"]) is None


def test_a_taken_port_is_replaced_by_a_free_one() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert port_or_free(taken) != taken
    assert port_or_free(taken) == taken  # free again


def test_a_server_port_is_taken_below_the_ephemeral_range() -> None:
    """A port the kernel hands out for outgoing connections can be taken between the choice
    and the server's bind (Ray's object manager once lost its port that way): servers' ports
    come from below that range, are free, and differ from call to call."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [service.free_port() for _ in range(20)]
    assert all(20000 <= port < low for port in ports), ports
    assert len(set(ports)) > 15
    with socket.socket() as sock:  # free: a server can bind it
        sock.bind(("127.0.0.1", ports[0]))


def test_no_port_is_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """SeaweedFS takes eight ports; it was once given the same free port for its volume server
    and its filer and died at start. A process never gets the same port twice, even when the
    random draw repeats itself."""
    import random

    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    same_draw = random.SystemRandom().sample(range(20000, low), 200)
    monkeypatch.setattr(random.SystemRandom, "sample", lambda self, population, k: same_draw)
    ports = [service.free_port() for _ in range(8)]
    assert len(set(ports)) == 8, ports
    assert service.port_or_free(ports[0]) != ports[0]  # free, but already given to a server


def test_a_seaweedfs_that_dies_at_start_says_why(tmp_path: Path) -> None:
    """A SeaweedFS given a port that is taken exits at start; the error carries weed's own
    fatal line instead of only pointing at a log folder."""
    from infra.local.seaweedfs import SeaweedS3

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        server = SeaweedS3(tmp_path, "clip-test-key", "clip-test-secret-0123456789")
        server.command()  # chooses the ports
        server.ports["filer.port"] = taken
        with pytest.raises(RuntimeError, match=f"port {taken} for Filer .* is not available"):
            server.start(timeout_s=30)
    server.stop()
