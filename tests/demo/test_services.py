"""Process supervision: a part that dies at start-up is named, with the end of its log."""

from __future__ import annotations

import sys
import time

import pytest

from mmq.demo.services import DemoError, Service, Services, port_is_free


def test_a_part_that_exits_at_start_up_is_named_with_its_log_tail(tmp_path):
    services = Services(cwd=tmp_path)
    crashing = Service(
        "receiver",
        [sys.executable, "-c", "print('error: landing file in use'); raise SystemExit(2)"],
        {},
        tmp_path / "logs" / "receiver.log",
        ready=lambda: False,
        ready_timeout=60,
    )
    with pytest.raises(DemoError) as caught:
        services.start(crashing)
    assert str(caught.value).startswith("receiver failed to start (exit code 2)")
    assert "receiver.log" in str(caught.value)
    assert "error: landing file in use" in caught.value.log_tail


def test_stop_ends_the_whole_process_group_including_grandchildren(tmp_path):
    # A parent that ignores SIGTERM and has a child: both must be gone after stop().
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    log = tmp_path / "stubborn.log"
    service = Service("stubborn", [sys.executable, "-c", script], {}, log)
    services = Services(cwd=tmp_path)
    services.start(service, wait=False)
    deadline = time.monotonic() + 60
    while not log.read_text().strip():
        assert time.monotonic() < deadline, "child never started"
        time.sleep(0.1)
    grandchild = int(log.read_text().split()[0])
    services.stop_all(timeout=2)
    assert service.process.poll() is not None
    import psutil

    gone = not psutil.pid_exists(grandchild) or (
        psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    )
    assert gone


def test_port_is_free_sees_a_listening_socket():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not port_is_free(port)
    assert port_is_free(port)
