"""Test set-up: two logical CPU devices, so MirroredStrategy runs with 2 replicas on any machine."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mirrored():
    """One two-replica MirroredStrategy for the whole session: separate instances in one process
    reuse collective-op keys, and a float32 run after a float64 one then fails inside TF."""
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def pytest_sessionfinish(session):
    """Under pytest-xdist, a worker hands its fuzz totals to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        from tests import fuzz

        workeroutput["fuzz"] = {"outcomes": dict(fuzz.OUTCOMES), "failures": dict(fuzz.FAILURES)}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """Under pytest-xdist, the controller adds up the fuzz totals of its workers."""
    from tests import fuzz

    totals = getattr(node, "workeroutput", {}).get("fuzz")
    if totals:
        fuzz.OUTCOMES.update(totals["outcomes"])
        fuzz.FAILURES.update(totals["failures"])


def pytest_terminal_summary(terminalreporter):
    """The fuzz totals (tests/fuzz.py), with each case that was not clear."""
    from tests import fuzz

    line = fuzz.summary()
    if line:
        terminalreporter.write_line(line)
        for case_id, detail in sorted(fuzz.FAILURES.items()):
            terminalreporter.write_line(f"  {case_id}: {detail}")
