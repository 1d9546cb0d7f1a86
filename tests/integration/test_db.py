"""ResultStore against real SQLite files: round trips, filters, transactions, errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

import hwfit.db
from hwfit.db import HistoryQuery, ResultStore, default_db_url
from hwfit.db.store import normalize_url
from hwfit.errors import DatabaseError, UnknownNameError, UserError
from hwfit.records import (
    BenchResult,
    Executed,
    InputSpec,
    LatencyStats,
    ModelInfo,
    RowState,
    RunConfig,
)

FINGERPRINT = "fp-0123456789abcdef"
PROFILE = {"cpu": {"model": "Test CPU", "cores": 8, "flags": ["avx2", "avx512_vnni"]}, "gpu": None}


def _full_result(**changes: object) -> BenchResult:
    result = BenchResult(
        model=ModelInfo(
            source="timm:resnet18",
            kind="torch",
            content_hash="sha256:abc123",
            input=InputSpec("input", (1, 3, 224, 224), "float32"),
            params=11_689_512,
            macs=1_814_073_856,
            weights="random",
            path=None,
        ),
        config=RunConfig(
            runtime="onnxruntime",
            batch=4,
            threads=8,
            precision="int8-static",
            end_to_end=True,
            duration_s=5.0,
            min_runs=20,
            max_runs=5000,
            target_ci_rel=0.01,
            warmup_max_s=1.5,
            async_throughput=False,
        ),
        state=RowState.COMPLETE,
        reason=None,
        runtime_version="1.22.0",
        executed=Executed(
            precision="int8",
            threads=8,
            streams=2,
            device="CPU",
            provider="CPUExecutionProvider",
            details={"graph_optimization_level": "ORT_ENABLE_ALL", "arena": "on"},
        ),
        latency=LatencyStats(
            n=812,
            p50_ms=3.25,
            p90_ms=3.5,
            p99_ms=4.75,
            mean_ms=3.3125,
            std_ms=0.21,
            min_ms=3.0,
            max_ms=9.5,
            ci_low_ms=3.2,
            ci_high_ms=3.3,
            ci_rel=0.0154,
            warmup_runs=17,
            timed_s=5.01,
            noise=("cpu-frequency-scaling", "high-variance"),
        ),
        throughput=1230.8,
        async_throughput=2100.5,
        convert_s=2.5,
        compile_s=0.75,
        first_run_ms=41.0,
        peak_rss_mb=512.25,
        rss_model_mb=96.5,
        artifact_size_bytes=11_800_000,
        fingerprint=FINGERPRINT,
        hwfit_version="0.1.0",
        created_at="2025-06-01T12:00:00+00:00",
    )
    return dataclasses.replace(result, **changes)  # type: ignore[arg-type]


def _unmeasured(state: RowState, reason: str, created_at: str) -> BenchResult:
    return BenchResult(
        model=ModelInfo(
            source="model.onnx",
            kind="onnx",
            content_hash="sha256:def456",
            input=InputSpec("x", (1, 3, 32, 32)),
        ),
        config=RunConfig(runtime="openvino", precision="bf16"),
        state=state,
        reason=reason,
        created_at=created_at,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    with ResultStore(f"sqlite:///{tmp_path / 'results.db'}") as opened:
        yield opened


def test_db_exports_sorted_public_names() -> None:
    assert hwfit.db.__all__ == sorted(hwfit.db.__all__)
    assert set(hwfit.db.__all__) == {"HistoryQuery", "ResultStore", "default_db_url"}


def test_store_round_trips_fully_populated_result(store: ResultStore) -> None:
    original = _full_result()

    row_id = store.save(original, profile=PROFILE)

    assert isinstance(row_id, int)
    (loaded,) = store.query(HistoryQuery())
    assert loaded == original
    assert isinstance(loaded.state, RowState)
    assert loaded.latency is not None
    assert loaded.latency.noise == ("cpu-frequency-scaling", "high-variance")
    assert loaded.model.input.shape == (1, 3, 224, 224)
    assert store.machines() == [(FINGERPRINT, PROFILE)]
    assert store.count() == 1


def test_store_round_trips_failed_and_skipped_rows_without_latency(store: ResultStore) -> None:
    failed = _unmeasured(RowState.FAILED, "Worker crashed: SIGSEGV", "2025-06-01T10:00:00+00:00")
    skipped = _unmeasured(
        RowState.SKIPPED, "BF16 needs AVX512-BF16 or AMX", "2025-06-01T11:00:00+00:00"
    )

    store.save(failed)
    store.save(skipped)

    assert store.query(HistoryQuery()) == [skipped, failed]
    assert store.query(HistoryQuery(state=RowState.FAILED)) == [failed]
    assert store.machines() == []


def test_store_survives_reopen_of_same_file(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with ResultStore(str(path)) as first:
        first.save(_full_result())

    with ResultStore(f"sqlite:///{path}") as second:
        assert second.query() == [_full_result()]


def test_store_query_filters(store: ResultStore) -> None:
    old = _full_result(created_at="2025-01-01T00:00:00+00:00")
    new_ort = _full_result(
        model=dataclasses.replace(_full_result().model, source="timm:MobileNetV3_small"),
        created_at="2025-06-02T00:00:00+00:00",
    )
    other_machine = _full_result(
        config=RunConfig(runtime="torch"),
        fingerprint="other-machine",
        created_at="2025-06-03T00:00:00+02:00",  # 2025-06-02T22:00Z
    )
    failed = _unmeasured(RowState.FAILED, "boom", "2025-06-04T00:00:00+00:00")
    for result in (old, new_ort, other_machine, failed):
        store.save(result)

    assert store.query() == [failed, other_machine, new_ort, old]
    assert store.query(HistoryQuery(model="mobilenet")) == [new_ort]
    assert store.query(HistoryQuery(model="RESNET")) == [other_machine, old]
    assert store.query(HistoryQuery(model="%")) == []  # LIKE wildcards are matched literally
    assert store.query(HistoryQuery(runtime="onnxruntime")) == [new_ort, old]
    assert store.query(HistoryQuery(fingerprint=FINGERPRINT)) == [new_ort, old]
    assert store.query(HistoryQuery(fingerprint="other")) == [other_machine]
    assert store.query(HistoryQuery(state="failed")) == [failed]  # type: ignore[arg-type]
    assert store.query(HistoryQuery(state=RowState.COMPLETE, limit=2)) == [
        other_machine,
        new_ort,
    ]
    since = dt.datetime(2025, 6, 2, 23, 0, tzinfo=dt.UTC)
    assert store.query(HistoryQuery(since=since)) == [failed]
    assert store.query(HistoryQuery(since=dt.datetime(2025, 6, 2, 21, 0))) == [
        failed,
        other_machine,
    ]
    assert store.query(HistoryQuery(runtime="torch", model="resnet")) == [other_machine]
    assert store.query(HistoryQuery(runtime="openvino", state=RowState.COMPLETE)) == []
    assert {fp for fp, _ in store.machines()} == {FINGERPRINT, "other-machine"}


def test_store_result_without_created_at_gets_save_time(store: ResultStore) -> None:
    result = _full_result(created_at=None)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    store.save(result)

    assert store.query(HistoryQuery(since=before)) == [result]


def test_store_save_machine_upserts_profile(store: ResultStore) -> None:
    store.save(_full_result())  # no profile yet: the machine is known with an empty one
    assert store.machines() == [(FINGERPRINT, {})]

    store.save_machine(FINGERPRINT, PROFILE)
    store.save_machine(FINGERPRINT, {**PROFILE, "gpu": "H100"})

    assert store.machines() == [(FINGERPRINT, {**PROFILE, "gpu": "H100"})]


def test_store_session_scope_rolls_back_on_error(store: ResultStore) -> None:
    kept = _full_result()
    store.save(kept)

    def delete_then_fail() -> None:
        with store.session_scope() as session:
            session.execute(text("DELETE FROM results"))
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        delete_then_fail()

    assert store.query() == [kept]


def test_store_session_scope_converts_sqlalchemy_errors(store: ResultStore) -> None:
    store.save(_full_result())

    def delete_then_bad_sql() -> None:
        with store.session_scope() as session:
            session.execute(text("DELETE FROM results"))
            session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DatabaseError) as info:
        delete_then_bad_sql()

    assert "no_such_table" in info.value.message
    assert info.value.hint
    assert store.count() == 1


def test_store_failed_save_leaves_earlier_rows(store: ResultStore) -> None:
    kept = _full_result()
    store.save(kept)

    with pytest.raises(DatabaseError):  # the record cannot be written as JSON
        store.save(_full_result(reason=object()))  # type: ignore[arg-type]

    assert store.query() == [kept]


def test_store_unreachable_server_raises_database_error_without_password() -> None:
    url = "postgresql+psycopg://u:secret@127.0.0.1:1/x"

    with pytest.raises(DatabaseError) as info:
        ResultStore(url)

    assert "secret" not in str(info.value)
    assert "127.0.0.1" in info.value.message
    assert "***" in info.value.message
    assert info.value.hint


def test_store_unwritable_sqlite_path_raises_database_error() -> None:
    with pytest.raises(DatabaseError) as info:
        ResultStore("sqlite:////proc/nonexistent/x.db")

    assert "/proc/nonexistent/x.db" in info.value.message
    assert info.value.hint


def test_store_unopenable_sqlite_file_raises_database_error(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.db"
    folder.mkdir()

    with pytest.raises(DatabaseError, match="unable to open database file"):
        ResultStore(f"sqlite:///{folder}")


def test_store_unknown_dialect_raises_database_error() -> None:
    with pytest.raises(DatabaseError, match="unknown database kind") as info:
        ResultStore("nosuchdialect+x://u:secret@h/db")

    assert "secret" not in str(info.value)


def test_store_malformed_url_raises_database_error() -> None:
    with pytest.raises(DatabaseError, match="Cannot parse") as info:
        ResultStore("postgresql://u:secret@h:notaport/db")

    assert "secret" not in str(info.value)


def test_store_unknown_schema_version_raises_database_error(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with ResultStore(str(path)) as store, store.session_scope() as session:
        session.execute(text("UPDATE hwfit_meta SET value = '99' WHERE key = 'schema_version'"))

    with pytest.raises(DatabaseError, match="schema version '99'"):
        ResultStore(str(path))


def test_normalize_url_accepts_plain_path_and_creates_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "results.db"

    url = normalize_url(str(path))

    assert url == f"sqlite:///{path}"
    assert path.parent.is_dir()
    with ResultStore(str(path)) as store:
        store.save(_full_result())
    assert path.is_file()


def test_normalize_url_keeps_urls() -> None:
    for url in ("sqlite:///x.db", "postgresql://u@h/db", "postgresql+psycopg://u:p@h:5432/db"):
        assert normalize_url(url) == url


def test_default_db_url_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HWFIT_DB", "postgresql+psycopg://team@db/hwfit")
    assert default_db_url() == "postgresql+psycopg://team@db/hwfit"

    monkeypatch.setenv("HWFIT_DB", str(tmp_path / "mine.db"))
    assert default_db_url() == f"sqlite:///{tmp_path / 'mine.db'}"

    monkeypatch.delenv("HWFIT_DB")
    assert default_db_url().startswith("sqlite:///")
    assert default_db_url().endswith("results.db")


def test_store_default_url_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HWFIT_DB", str(tmp_path / "sub" / "env.db"))

    with ResultStore() as store:
        store.save(_full_result())

    assert (tmp_path / "sub" / "env.db").is_file()


def test_history_query_rejects_bad_values() -> None:
    with pytest.raises(UnknownNameError, match="Unknown row state"):
        HistoryQuery(state="done")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="at least 1"):
        HistoryQuery(limit=0)


def test_store_concurrent_first_use_of_new_sqlite_file_all_succeed(tmp_path: Path) -> None:
    from db_openers import open_at_once

    urls = [f"sqlite:///{tmp_path / f'new-{i}.db'}" for i in range(4)]

    failures = open_at_once(urls, processes=4)

    errors = [error for round_errors in failures.values() for error in round_errors]
    assert (sorted(failures), errors) == (list(range(4)), []), "\n".join(errors)
    for url in urls:
        with ResultStore(url) as store:
            assert store.count() == 4
            assert [fp for fp, _ in store.machines()] == ["fp-shared"]


def test_store_check_writable_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    with ResultStore(str(path), writable=True) as store:
        store.check_writable()
        with store.session_scope() as session:
            counts = {
                table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("machines", "results", "latency_cache", "latency_reference")
            }
    assert counts == dict.fromkeys(counts, 0)


@pytest.mark.parametrize("how", ["mode=ro", "immutable=1"])
def test_store_read_only_sqlite_opens_for_reading_but_not_writing(tmp_path: Path, how) -> None:
    path = tmp_path / "results.db"
    with ResultStore(str(path)) as store:
        store.save(_full_result())
    url = f"sqlite:///file:{path}?{how}&uri=true"

    with ResultStore(url) as reader:  # history and export still work
        assert reader.count() == 1
    with pytest.raises(DatabaseError) as info:
        ResultStore(url, writable=True)

    assert info.value.message == (
        f"Cannot write to the database {url!r}: attempt to write a readonly database."
    )
    assert "--no-save" in (info.value.hint or "")


def test_store_locked_by_another_process_says_so(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "results.db"
    url = f"sqlite:///{path}?timeout=0.1"
    with ResultStore(url) as store:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            with pytest.raises(DatabaseError) as info:
                store.save(_full_result())
        finally:
            other.close()
        store.save(_full_result())  # the lock is gone: writing works again
        assert store.count() == 1

    assert info.value.message.endswith(": database is locked.")
    assert (info.value.hint or "").startswith("Another process holds a write lock")


def test_store_file_that_is_not_sqlite_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 40)

    with pytest.raises(DatabaseError) as info:
        ResultStore(str(path))

    assert info.value.message == (
        f"Cannot open the database 'sqlite:///{path}': file is not a database."
    )
    assert (info.value.hint or "").startswith("It is not an SQLite database")
    assert path.read_text().startswith("these are my notes")


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("postgresql+asyncpg://u:pw@h/db", "hwfit uses synchronous drivers"),
        ("sqlite+aiosqlite:///x.db", "hwfit uses synchronous drivers"),
        ("mysql+mysqlconnector://u:pw@h/db", "pip install mysql-connector-python"),
        ("oracle+cx_oracle://u:pw@h/db", "pip install oracledb and use an oracle+oracledb://"),
    ],
    ids=["asyncpg", "aiosqlite", "mysqlconnector", "cx_oracle"],
)
def test_store_driver_hints(url: str, hint: str) -> None:
    import importlib.util

    module = {"mysqlconnector": "mysql.connector", "cx_oracle": "cx_Oracle"}.get(
        url.split("+", 1)[1].split(":", 1)[0]
    )
    if module is not None and importlib.util.find_spec(module.split(".")[0]) is not None:
        pytest.skip(f"{module} is installed here")

    with pytest.raises(DatabaseError) as info:
        ResultStore(url)

    assert (info.value.hint or "").startswith(hint), info.value.hint
    assert "pw" not in str(info.value)
    assert "\n" not in str(info.value)
