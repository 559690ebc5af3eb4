"""The fault-injection benchmark, short: a run killed with kill -9 at a random moment, resumed,
stopped by SIGTERM, resumed to the end, loses no step and ends with the uninterrupted run's weights."""

import importlib.util
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "faults.py"


def test_killed_and_preempted_runs_resume_to_the_uninterrupted_weights(tmp_path):
    spec = importlib.util.spec_from_file_location("faults", BENCHMARK)
    faults = importlib.util.module_from_spec(spec)
    sys.modules["faults"] = faults  # its dataclasses look their module up
    spec.loader.exec_module(faults)
    tally = faults.faults(trials=1, steps=30, seed=1, root=tmp_path)
    report = "\n".join(faults.report(tally))
    assert tally.resumed == tally.trials == 1, report
    assert tally.unreadable == 0 and sum(tally.sigterm_lost) == 0, report
    assert tally.equal == 1, report
