"""The web process's answer to whether a core is idle (`web.cpu.idle_core`), which a round's solve hands the
matching (`run_round(beside_solver=…)`)."""

from __future__ import annotations

import web.cpu
from web.cpu import idle_core


def test_idle_core_reads_the_running_threads(monkeypatch, tmp_path):
    assert isinstance(idle_core(), bool)
    monkeypatch.setattr(web.cpu.os, "cpu_count", lambda: 2)
    loadavg = tmp_path / "loadavg"
    monkeypatch.setattr(web.cpu, "LOADAVG", str(loadavg))

    def running(threads):
        loadavg.write_text(f"0.50 0.40 0.30 {threads}/120 4242\n")

    running(1)  # the caller alone: a core for the steps
    assert idle_core()
    running(2)
    assert not idle_core()
    assert idle_core(steps_running=True)  # the caller and the steps
    running(3)
    assert not idle_core(steps_running=True)


def test_without_a_reading_a_core_is_taken_to_be_idle(monkeypatch, tmp_path):
    monkeypatch.setattr(web.cpu, "LOADAVG", str(tmp_path / "absent"))
    assert idle_core()
    (tmp_path / "garbled").write_text("nothing to read\n")
    monkeypatch.setattr(web.cpu, "LOADAVG", str(tmp_path / "garbled"))
    assert idle_core()
