"""Bad and foreign stores: `trial --store … --resume` and `report STORE` refuse each with one
line on stderr and exit 2 — never a traceback, never a hang (a database server that is down
fails at once). Run in-process through `cli.app.run`, as the shell would."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
optuna = pytest.importorskip("optuna")

from modelpick.cli.app import run  # noqa: E402
from modelpick.search.store import SCHEMA, Store, store_url  # noqa: E402


def _refused(capsys, argv: list, *expected: str) -> str:
    """Runs `modelpick argv`; expects exit 2 and one line on stderr saying `expected`."""
    code = run([str(a) for a in argv])
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in expected:
        assert word in lines[0], lines[0]
    assert captured.out == ""
    return lines[0]


def _resume(profile: Path, store, tmp_path: Path) -> list:
    return ["trial", profile, "--top", "3", "--minutes", "0.2", "--store", store, "--resume",
            "--output", tmp_path / "runs"]  # fmt: skip


def _sqlite_tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _foreign_db(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        con.execute("INSERT INTO notes (text) VALUES ('mine')")
    return path


def _optuna_store(path: Path, study: str, attrs: dict | None = None) -> str:
    url = store_url(path)
    s = optuna.create_study(storage=url, study_name=study)
    for k, v in (attrs or {}).items():
        s.set_user_attr(k, v)
    return url


# --- trial --resume -----------------------------------------------------------------------------


def test_a_text_file_is_not_a_store(digits_profile, tmp_path, capsys):
    store = tmp_path / "x.db"
    store.write_text("these are my notes\n")
    _refused(capsys, _resume(digits_profile, store, tmp_path), "cannot open it", "not a database")
    _refused(capsys, ["report", store], "cannot open it", "not a database")
    assert store.read_text() == "these are my notes\n"  # untouched
    assert not (tmp_path / "runs").exists()


def test_an_empty_file_holds_no_search(digits_profile, tmp_path, capsys):
    store = tmp_path / "x.db"
    store.write_bytes(b"")
    _refused(capsys, _resume(digits_profile, store, tmp_path), "no ", "search")
    _refused(capsys, ["report", store], "holds no modelpick trial search")


def test_a_fifo_a_folder_or_a_missing_folder_is_refused_at_once(digits_profile, tmp_path, capsys):
    fifo = tmp_path / "pipe.db"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.db"
    folder.mkdir()
    missing = tmp_path / "nowhere" / "x.db"
    for store in (fifo, folder, missing):
        t0 = time.monotonic()
        _refused(capsys, _resume(digits_profile, store, tmp_path), "--store", "cannot open it")
        assert time.monotonic() - t0 < 30
    _refused(capsys, ["report", fifo], "not a regular file")
    _refused(capsys, ["report", folder], "not a regular file")
    _refused(capsys, ["report", missing], "missing")


def test_a_sqlite_database_that_is_not_an_optuna_store(digits_profile, tmp_path, capsys):
    db = _foreign_db(tmp_path / "mine.db")
    _refused(capsys, _resume(digits_profile, db, tmp_path), str(db))
    _refused(capsys, ["report", db], str(db))
    with sqlite3.connect(db) as con:  # the user's own data is still there
        assert con.execute("SELECT text FROM notes").fetchall() == [("mine",)]


def test_a_foreign_database_is_not_written_to_and_is_named_as_such(
    digits_profile, tmp_path, capsys
):
    db = _foreign_db(tmp_path / "mine.db")
    line = _refused(capsys, ["report", db])
    assert _sqlite_tables(db) == {"notes"}, "report wrote into a database it does not own"
    assert "not an Optuna store" in line
    _refused(capsys, _resume(digits_profile, db, tmp_path), "not an Optuna store")
    assert _sqlite_tables(db) == {"notes"}


def test_an_optuna_store_without_a_modelpick_search(digits_profile, tmp_path, capsys):
    store = tmp_path / "other.db"
    _optuna_store(store, "someone-elses-study", {"note": "not ours"})
    _refused(capsys, ["report", store], "holds no modelpick trial search")
    _refused(capsys, _resume(digits_profile, store, tmp_path), "no search", "modelpick-digits")
    # a study with our name that modelpick did not make
    _optuna_store(store, "modelpick-digits", {"config": {"schema": "something/else"}})
    _refused(capsys, ["report", store], "holds no modelpick trial search")
    _refused(capsys, _resume(digits_profile, store, tmp_path), "is not a modelpick trial")


def test_an_optuna_store_of_another_schema_version(digits_profile, tmp_path, capsys):
    store = tmp_path / "old.db"
    _optuna_store(store, "x")
    with sqlite3.connect(store) as con:
        con.execute("UPDATE alembic_version SET version_num = 'v0.9.0.a'")
    _refused(capsys, ["report", store], "cannot open it")
    _refused(capsys, _resume(digits_profile, store, tmp_path), "cannot open it")


def test_a_database_server_that_is_down_fails_fast(digits_profile, tmp_path, capsys):
    for url in (
        "postgresql+psycopg2://nobody@127.0.0.1:1/x",
        "postgresql://nobody@127.0.0.1:1/x",  # SQLAlchemy's default driver: maybe not installed
    ):
        t0 = time.monotonic()
        _refused(capsys, ["report", url], "cannot open it")
        _refused(capsys, _resume(digits_profile, url, tmp_path), "cannot open it")
        assert time.monotonic() - t0 < 30, url


def test_an_unknown_kind_of_url(digits_profile, tmp_path, capsys):
    _refused(capsys, ["report", "nosuchdb://host/x"], "cannot open it")
    _refused(capsys, _resume(digits_profile, "nosuchdb://host/x", tmp_path), "cannot open it")


def test_resume_needs_a_store(digits_profile, tmp_path, capsys):
    argv = ["trial", digits_profile, "--top", "3", "--minutes", "0.2", "--resume"]
    _refused(capsys, argv, "--resume", "--store")


def _stored_search(path: Path, key: str) -> str:
    url = store_url(path)
    config = {"schema": SCHEMA, "key": key, "maximize": True, "candidates": []}
    Store.create(url, "modelpick-digits", config, resume=False)
    return url


def test_resume_with_other_arguments_is_refused(digits_profile, tmp_path, capsys):
    store = tmp_path / "s.db"
    _stored_search(store, key="0123456789abcdef")  # made by other candidates, data or budget
    _refused(
        capsys,
        _resume(digits_profile, store, tmp_path),
        "other candidates, data or budget",
        "same arguments",
    )
    assert not (tmp_path / "runs").exists()


def test_a_new_search_in_a_store_that_holds_one_needs_resume(digits_profile, tmp_path, capsys):
    store = tmp_path / "s.db"
    _stored_search(store, key="0123456789abcdef")
    argv = ["trial", digits_profile, "--top", "3", "--minutes", "0.5", "--store", store]
    _refused(capsys, [*argv, "--output", tmp_path / "runs"], "already holds", "--resume")


def test_postgres_database_that_is_not_an_optuna_store(postgres_db, capsys):
    """Against the real server: a database of someone else's, and one whose Optuna study is
    not modelpick's, are each refused in one line (and the owner's data is left alone)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_db)
    try:
        with engine.begin() as con:
            con.execute(sqlalchemy.text("CREATE TABLE notes_of_mine (x int)"))
            con.execute(sqlalchemy.text("INSERT INTO notes_of_mine VALUES (1)"))
        _refused(capsys, ["report", postgres_db], postgres_db)
        optuna.create_study(storage=postgres_db, study_name=f"someone-elses-{time.time()}")
        _refused(capsys, ["report", postgres_db], "holds no modelpick trial search")
        with engine.begin() as con:
            assert con.execute(sqlalchemy.text("SELECT x FROM notes_of_mine")).fetchall() == [(1,)]
            con.execute(sqlalchemy.text("DROP TABLE notes_of_mine"))
    finally:
        engine.dispose()
