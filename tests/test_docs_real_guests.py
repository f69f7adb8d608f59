"""docs/real-guests.md says only what the real-kernel harness does: each command of its guest
recipe is one that tests/realkernel runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.realkernel import qemu

ROOT = Path(__file__).parent.parent
DOC = (ROOT / "docs" / "real-guests.md").read_text()
HARNESS = (Path(__file__).parent / "realkernel" / "init.sh").read_text()


@pytest.mark.parametrize("command", [
    "kexec -l /vmlinuz --initrd=/initrd.img --append=",
    "cat /sys/kernel/tracing/trace > /dev/ttyS1",
    "kexec -e",
    "kexec -p",
    "nr_cpus=1 irqpoll reset_devices",
    "echo c > /proc/sysrq-trigger",
])
def test_each_guest_command_of_the_doc_is_run_by_the_harness(command: str) -> None:
    assert command in DOC
    assert command in HARNESS


def test_the_doc_boots_the_guest_as_the_harness_does() -> None:
    assert f"-append '{qemu.APPEND}'" in DOC
    assert "-serial file:console.log -serial file:trace.log" in DOC
    assert "crashkernel=160M" in DOC
    assert "crashkernel=160M" in (Path(__file__).parent / "realkernel" / "runs.py").read_text()


def test_the_doc_ingests_as_the_tests_do() -> None:
    assert "tdxray ingest console.log trace.log -o STORE --trace-id kexec --td td.json" in DOC
    assert "tdxray probes --script > probes.sh" in DOC
    assert "probe_script()" in (Path(__file__).parent / "realkernel" / "initramfs.py").read_text()
    assert "sh /probes.sh" in HARNESS
