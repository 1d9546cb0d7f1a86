"""Every command's options: one name is one thing, with one type, short flag and default.

The tests walk the command tree typer builds from the app (what ``--help`` prints), so a new
command or option is checked the moment it is added.
"""

import json
import os
import subprocess
import sys
import types
import typing

import pytest
import typer

from hwfit.cli import app
from hwfit.cli.main import run
from hwfit.cli.options import DURATION_HELP, DURATION_S, LIST, usable_cores

TINY = "timm:test_resnet"

#: What a sweep makes sense for: a comma-separated list in every command that takes it.
SWEEPS = ("--batch", "--precision", "--runtime", "--threads")

#: Options whose default differs between commands by design, and why.
DEFAULTS_DIFFER = {
    "--runtime": "what each command runs by default (bench: all three; optimize: the two that "
    "compile; frontier: OpenVINO) or filters by (history, export: none)",
    "--precision": "bench and frontier measure FP32; optimize tries every precision",
    "--out": "optimize has no default folder; the pages go to '.'; search resumes from its own",
    "--limit": "history prints a screenful (0: every row); export writes every row",
    "--batch": "optimize's default depends on --objective (latency: 1; throughput: 1,8)",
    "--data": "search --demo needs no data",
    "--baseline": "search --demo needs no baseline; search space does",
    "--top-k": "predict: classes per image; search: architectures trained fully",
}


def _commands() -> dict[str, typer.core.TyperCommand]:
    """Every command by its command line (``hwfit search space``), groups with options too."""
    found = {}

    def walk(command, path):
        if any(p.param_type_name == "option" for p in command.params):
            found[path] = command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "hwfit")
    return found


def _base_type(annotation):
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _signature(option) -> dict:
    return {
        "type": getattr(_base_type(option.type_descriptor.annotation), "__name__", "?"),
        "list": option.metavar == LIST,
        "flag": option.is_flag,
        "short": sorted(o for o in option.opts + option.secondary_opts if not o.startswith("--")),
    }


def _uses() -> dict[str, list[tuple[str, object]]]:
    """Long option name -> [(command, option)] for every option of every command."""
    uses: dict[str, list[tuple[str, object]]] = {}
    for path, command in _commands().items():
        for p in command.params:
            if p.param_type_name != "option":
                continue
            name = next(o for o in p.opts if o.startswith("--"))
            uses.setdefault(name, []).append((path, p))
    return uses


def _default(option) -> object:
    return "(required)" if option.required else option.default


def test_every_command_is_walked():
    assert {"hwfit bench", "hwfit optimize", "hwfit frontier", "hwfit gap", "hwfit compare",
            "hwfit history", "hwfit export", "hwfit search", "hwfit search space"} <= set(
        _commands()
    )  # fmt: skip


def test_shared_options_agree_across_commands():
    problems = []
    for name, uses in sorted(_uses().items()):
        if len(uses) < 2 or name == "--help":
            continue
        (first, option), *others = uses
        for path, other in others:
            mine, theirs = _signature(option), _signature(other)
            for key in mine:
                if mine[key] != theirs[key]:
                    problems.append(f"{name} {key}: {first} {mine[key]} vs {path} {theirs[key]}")
            if name not in DEFAULTS_DIFFER and _default(option) != _default(other):
                problems.append(
                    f"{name} default: {first} {_default(option)!r} vs {path} {_default(other)!r}"
                )
    assert not problems, "\n".join(problems)


def test_sweep_options_are_comma_separated_lists_everywhere():
    uses = _uses()
    for name in SWEEPS:
        assert len(uses[name]) >= 2, name
        for path, option in uses[name]:
            assert option.metavar == LIST, f"{path} {name}"
            assert _signature(option)["type"] == "str", f"{path} {name}"


def test_duration_has_one_meaning_and_one_default():
    uses = _uses()["--duration"]
    assert {path for path, _ in uses} >= {"hwfit bench", "hwfit optimize", "hwfit frontier",
                                          "hwfit gap"}  # fmt: skip
    for path, option in uses:
        assert option.help == DURATION_HELP, path
        assert option.default == DURATION_S, path


def test_every_command_that_measures_offers_no_save():
    measuring = {path for path, _ in _uses()["--duration"]}
    saving = {path for path, _ in _uses()["--no-save"]}
    assert measuring <= saving, measuring - saving


@pytest.mark.parametrize("path", sorted(_commands()))
def test_help_lists_every_option_with_its_short_flag(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # typer's own help console: one option per line
    assert run([*path.split()[1:], "--help"]) == 0
    out = capsys.readouterr().out
    for p in _commands()[path].params:
        if p.param_type_name != "option":
            continue
        long = next(o for o in p.opts if o.startswith("--"))
        line = next((ln for ln in out.splitlines() if long in ln.strip("│ *").split()[:1]), "")
        assert line, f"{path}: {long} missing from --help"
        for short in _signature(p)["short"]:
            assert f" {short} " in line, f"{path}: {long} shown without {short}"


def _cli(*args, env=None):
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "hwfit.cli.main", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimize", TINY, "--data", ".", "--out", "o", "-b", "1,8"],
         "Error: hwfit optimize takes one --batch value, got '1,8'."),
        (["frontier", "-r", "onnxruntime,openvino"],
         "Error: hwfit frontier takes one --runtime value, got 'onnxruntime,openvino'."),
        (["frontier", "-b", "1,8"], "Error: hwfit frontier takes one --batch value"),
        (["frontier", "-t", "1,2"], "Error: hwfit frontier takes one --threads value"),
        (["frontier", "-p", "fp32,bf16"], "Error: hwfit frontier takes one --precision value"),
        (["optimize", TINY, "--data", ".", "--out", "o", "-t", "two"],
         "Error: --threads takes comma-separated integers >= 1, got 'two'."),
        (["bench", TINY, "-t", "0"], "Error: --threads takes comma-separated integers >= 1"),
        (["bench", TINY, "-p", "fp32,int4"], "Error: Unknown precision 'int4'."),
        (["export", "x.json", "-r", "torch,openvino"],
         "Error: hwfit export takes one --runtime value"),
        (["history", "--limit", "-1"], "Error: --limit must be 0 or more, got -1."),
    ],
    ids=["optimize-batches", "frontier-runtimes", "frontier-batches", "frontier-threads",
         "frontier-precisions", "optimize-bad-threads", "bench-zero-threads",
         "bench-bad-precision", "export-runtimes", "history-negative-limit"],
)  # fmt: skip
def test_a_value_a_command_cannot_take_is_one_line_and_exit_2(args, message, tmp_path):
    proc = _cli(*args, "--db", str(tmp_path / "r.db"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith(message), proc.stderr
    assert len(lines) == 2  # the error, then the hint


def test_threads_beyond_the_usable_cores_warn(tmp_path):
    too_many = usable_cores() + 1
    # The warning comes first, before anything is loaded; the unknown runtime then stops it.
    proc = _cli("bench", TINY, "-r", "onnxrt", "-t", f"1,{too_many}")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[0] == (
        f"Warning: --threads {too_many} is more than the {usable_cores()} cores this process may "
        "use; those rows oversubscribe the CPU and measure the contention, not the model."
    )
    assert lines[1].startswith("Error: Unknown runtime 'onnxrt'")
    quiet = _cli("bench", TINY, "-r", "onnxrt", "-t", str(usable_cores()))
    assert "Warning" not in quiet.stderr


def _row(source, runtime, p50, created_at):
    from hwfit.records import (
        BenchResult,
        Executed,
        InputSpec,
        LatencyStats,
        ModelInfo,
        RowState,
        RunConfig,
    )

    lat = LatencyStats(
        n=50, p50_ms=p50, p90_ms=p50, p99_ms=p50, mean_ms=p50, std_ms=0.0, min_ms=p50,
        max_ms=p50, ci_low_ms=p50 * 0.99, ci_high_ms=p50 * 1.01, ci_rel=0.0123,
        warmup_runs=1, timed_s=1.0,
    )  # fmt: skip
    return BenchResult(
        model=ModelInfo(source, "torch", source, InputSpec("x", (1, 3, 224, 224))),
        config=RunConfig(runtime=runtime),
        state=RowState.COMPLETE,
        latency=lat,
        executed=Executed("fp32", 2),
        fingerprint="8e7caccdc4373e33",
        created_at=created_at,
    )


@pytest.fixture
def history_db(tmp_path):
    from hwfit.db import ResultStore

    path = str(tmp_path / "r.db")
    long_name = "timm:mobilenetv3_large_100.ra4_e3600_r224_in1k_with_a_very_long_tag"
    with ResultStore(path) as store:
        for i, runtime in enumerate(["onnxruntime", "openvino", "torch"] * 2):
            stamp = f"2025-01-0{i + 1}T10:00:00+00:00"
            store.save(_row(long_name, runtime, 123456.789 + i, stamp), {"label": "here"})
    return path, long_name


def test_tables_are_never_cut_when_stdout_is_not_a_terminal(history_db):
    path, long_name = history_db
    proc = _cli("history", "--db", path)  # stdout is a pipe; COLUMNS is unset
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    assert long_name in proc.stdout
    assert "123461.8" in proc.stdout  # the newest row's p50, whole
    assert "complete" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) > 80


def test_hardware_table_is_not_cut_when_stdout_is_not_a_terminal():
    table = _cli("hardware")
    assert table.returncode == 0, table.stderr
    assert "…" not in table.stdout
    reasons = [r["reason"] for r in json.loads(_cli("hardware", "--json").stdout)["runtimes"]]
    for reason in filter(None, reasons):
        assert reason in table.stdout


def test_history_limit_zero_means_no_limit(history_db, capsys):
    path, _ = history_db
    assert run(["history", "--db", path, "--limit", "0", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 6
    assert run(["history", "--db", path, "--limit", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_history_filters_by_several_runtimes_newest_first(history_db, capsys):
    path, _ = history_db
    assert run(["history", "--db", path, "-r", "torch,onnxruntime", "--limit", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["config"]["runtime"] for r in rows] == ["torch", "onnxruntime", "torch"]
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)


def test_bench_sweeps_precisions_and_no_save_stores_nothing(onnx_file, tmp_path, capsys):
    db = tmp_path / "r.db"
    args = ["-r", "onnxruntime", "-p", "fp32,bf16", "--duration", "0.2", "--min-runs", "5"]
    code = run(
        ["bench", str(onnx_file), *args, "--no-async", "--no-save", "--db", str(db), "--json"]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    got = {(r["config"]["runtime"], r["config"]["precision"]): r["state"] for r in rows}
    # ONNX Runtime has no BF16 path on any CPU: a skipped row with its reason, not an error.
    assert got == {("onnxruntime", "fp32"): "complete", ("onnxruntime", "bf16"): "skipped"}
    assert not db.exists()


def test_gap_no_save_measures_without_storing(onnx_file, tmp_path):
    """``gap --no-save``: the measurer reads the database but stores nothing it measures."""
    from hwfit.analysis._measure import Measurer
    from hwfit.db import ResultStore
    from hwfit.hardware import probe
    from hwfit.models import load_model
    from hwfit.records import RunConfig

    info = load_model(str(onnx_file)).info
    config = RunConfig("onnxruntime", duration_s=0.2, min_time_s=0.1, async_throughput=False)
    with ResultStore(str(tmp_path / "r.db")) as store:
        for save, stored in ((False, 0), (True, 1)):
            measurer = Measurer(probe(include_runtimes=False), store, save=save)
            assert measurer.measure(info, config).state.value == "complete"
            assert (measurer.saved, store.count()) == (stored, stored)


def test_a_narrow_terminal_folds_cells_instead_of_cutting_them(history_db):
    import io
    from collections import Counter

    from rich.console import Console

    from hwfit.cli.render import history_table
    from hwfit.db import ResultStore

    with ResultStore(history_db[0]) as store:
        rows = store.query()

    def shown(width):
        out = io.StringIO()
        Console(file=out, width=width, force_terminal=True, color_system=None).print(
            history_table(rows)
        )
        text = out.getvalue()
        return text, Counter(ch for ch in text if ch.isalnum() or ch in ".%:")

    narrow, narrow_chars = shown(60)
    _, wide_chars = shown(400)
    assert "…" not in narrow
    assert narrow_chars == wide_chars  # every character of every cell is still there
