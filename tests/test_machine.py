"""tuner.machine: the facts about this machine that planning, limits, fingerprints, the
cache and the benchmarks share."""

from __future__ import annotations

import os
import sys

import pytest

from tuner import machine

pytestmark = pytest.mark.unit


def test_cores_and_memory_are_the_machines() -> None:
    assert machine.logical_cores() == (os.cpu_count() or 1)
    assert 0 < machine.usable_cores() <= machine.logical_cores()
    total, available = machine.total_memory(), machine.available_memory()
    assert 0 < available <= total


@pytest.mark.skipif(not hasattr(os, "sysconf"), reason="os.sysconf is POSIX only")
def test_total_memory_is_the_figure_fingerprints_were_made_with() -> None:
    # Stored hardware fingerprints hashed the total from os.sysconf: the same machine
    # must give the same figure, or every study would look "hardware changed".
    assert machine.total_memory() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_processor_blas_and_gpus_are_described() -> None:
    assert machine.cpu_model().strip()
    assert machine.blas() and all(entry.count("/") == 1 for entry in machine.blas())
    assert machine.blas_threads() >= 1
    assert all(isinstance(gpu, str) for gpu in machine.gpus())


def test_software_versions() -> None:
    versions = machine.software_versions()
    assert versions["python"] == sys.version.split()[0]
    assert set(versions) == {"python", *machine.SOFTWARE}
    assert machine.package_version("numpy") == versions["numpy"] != "not installed"
    assert machine.package_version("surely-not-a-package-tuner-needs") is None
    assert machine.software_versions(("surely-not-a-package-tuner-needs",)) == {
        "python": versions["python"], "surely-not-a-package-tuner-needs": "not installed"}
