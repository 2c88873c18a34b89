"""`bench/results.json` keeps every figure: a run of some benchmarks replaces only theirs, each stamped by its run."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.report import merged, read, table


def _run(when: str, only: list[int], load: float) -> dict[str, Any]:
    return {
        "when": when,
        "machine": {"cpus": 2},
        "args": {"only": only, "db": ["sqlite", "postgres"], "scale": 1.0},
        "load_average": {"before": [load, load, load], "after": [load, load, load]},
        "seconds": 60.0,
    }


def test_a_partial_run_replaces_its_figures_and_keeps_the_others_with_their_stamps(tmp_path: Path) -> None:
    first = _run("2026-12-02T10:00:00+00:00", [1, 2], 1.0)
    document = merged({}, {"sqlite": {"1_import": {"ratio": 1.7}, "2_budget": {"ok_rps": 23.4}}}, first)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))

    second = _run("2026-12-02T16:00:00+00:00", [2], 3.5)
    document = merged(read(path), {"sqlite": {"2_budget": {"ok_rps": 30.1}}, "postgres": {"2_budget": {}}}, second)

    sqlite = document["results"]["sqlite"]
    assert sqlite["1_import"] == {"ratio": 1.7, "measured": {k: first[k] for k in first if k != "seconds"}}
    assert sqlite["2_budget"]["ok_rps"] == 30.1
    assert sqlite["2_budget"]["measured"]["when"] == "2026-12-02T16:00:00+00:00"
    assert sqlite["2_budget"]["measured"]["load_average"]["before"] == [3.5, 3.5, 3.5]
    assert sqlite["2_budget"]["measured"]["machine"] == {"cpus": 2}
    assert set(document["results"]["postgres"]) == {"2_budget"}
    assert [run["when"] for run in document["runs"]] == [first["when"], second["when"]]
    assert document["when"] == second["when"]


def test_a_missing_or_older_results_file_starts_afresh(tmp_path: Path) -> None:
    assert read(tmp_path / "absent.json") == {}
    older = tmp_path / "older.json"
    older.write_text(json.dumps({"when": "x", "results": {"sqlite": {"1_import": {}}}}))
    assert read(older) == {}
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert read(broken) == {}


def test_the_bench_readmes_first_paragraph_names_every_option_of_the_command(capsys) -> None:
    # given the options `python -m bench --help` lists
    from bench.__main__ import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"])
    options = sorted(set(re.findall(r"(--[a-z][a-z-]+)", capsys.readouterr().out)) - {"--help"})
    assert options, "no option found in the help"
    # then bench/README.md's first paragraph, the one a newcomer reads, names each (before: not --output, the
    # results file a trial run can write elsewhere than the committed bench/results.json)
    readme = (Path(__file__).resolve().parents[2] / "bench" / "README.md").read_text(encoding="utf-8")
    first_paragraph = readme.split("\n\n")[1]
    assert [option for option in options if f"{option}" not in first_paragraph] == []


def test_benchmark_2s_table_shows_each_sides_cpu_bill_and_the_rate_it_allows() -> None:
    # given benchmark 2's figures: PostgreSQL's with the database's CPU, SQLite's without (it runs in the worker)
    postgres = {"worker_cpu_s": 7.4, "sandbox_cpu_s": 2.02, "database_cpu_s": 13.37,
                "cpu_ceiling_ok_requests_per_s": 44.8}  # fmt: skip
    limit = {"worker_cpu_s": 3.37, "sandbox_cpu_s": 1.78, "database_cpu_s": 8.75, "cpu_ceiling_ok_requests_per_s": 73.4,
             "ok_requests_per_s": 46.8}  # fmt: skip
    sqlite = {"worker_cpu_s": 10.37, "sandbox_cpu_s": 1.71, "cpu_ceiling_ok_requests_per_s": 84.4}
    sqlite_limit = {"worker_cpu_s": 6.43, "sandbox_cpu_s": 1.67, "cpu_ceiling_ok_requests_per_s": 125.9,
                    "ok_requests_per_s": 38.4}  # fmt: skip
    figures = {"orders": 50000, "requests": 510, "requests_429": 0, "ok_requests_per_s": 31.3, "share_429": 0.0,
               "ratio_to_limit": 0.669}  # fmt: skip
    # when the table is printed
    text = table({
        "sqlite": {"2_budget": {**figures, **sqlite, "limit": sqlite_limit}},
        "postgres": {"2_budget": {**figures, **postgres, "limit": limit}},
    })  # fmt: skip
    # then the CPU row shows each side's seconds, their sum and the ceiling
    row = next(line for line in text.splitlines() if "CPU s (worker + sandbox + database)" in line)
    assert "7.4 + 2.0 + 13.4 = 22.8 s (44.8/s); 3.4 + 1.8 + 8.8 = 13.9 s (73.4/s)" in row
    assert "10.4 + 1.7 = 12.1 s (84.4/s); 6.4 + 1.7 = 8.1 s (125.9/s)" in row


def test_a_runs_machine_stamp_names_the_interpreter_that_ran_it() -> None:
    # given the stamp `python -m bench` writes beside its figures, taken in this process (run from .venv/)
    from bench.__main__ import machine_stamp

    stamp = machine_stamp()
    # then it names the interpreter's real file (not the venv's `python` link) and its build: that file, run, is the
    # same version and the same build (two builds of one version differ by ~15-20 % of CPU)
    executable = Path(str(stamp["python_executable"]))
    assert executable.is_absolute() and not executable.is_symlink() and ".venv" not in executable.parts
    ran = subprocess.run(
        [executable, "-c", "import platform; print(platform.python_version(), '|', ' '.join(platform.python_build()))"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert ran.stdout == f"{stamp['python']} | {stamp['python_build']}\n"
    assert stamp["python"] == platform.python_version() and stamp["cpus"] == os.cpu_count()
