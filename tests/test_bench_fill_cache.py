"""bench/run.sh --fill-cache: a SQLite fill is kept and later runs start from a copy of it."""

import argparse
import importlib.util
import sqlite3
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH_DIR / "run.py")
    module = importlib.util.module_from_spec(spec)
    path, modules = list(sys.path), set(sys.modules)
    sys.modules["bench_run"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)  # puts bench/ on sys.path for its siblings
    yield module
    # The bench's modules have plain names (run, seed, fill): keep them out of later tests.
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if getattr(sys.modules[name], "__file__", "") and \
                Path(sys.modules[name].__file__).parent == BENCH_DIR:
            del sys.modules[name]


def _migrated_database(bench_run, folder: Path):
    folder.mkdir()
    database = bench_run.provision_database("", folder)
    bench_run.migrate(bench_run.server_environment(database, 0, 1), folder)
    return database


def _user_emails(database) -> list[str]:
    with sqlite3.connect(database.path) as connection:
        return [email for (email,) in connection.execute("SELECT email FROM users ORDER BY email")]


def test_a_kept_fill_starts_the_next_run(bench_run, tmp_path, capsys):
    args = argparse.Namespace(fill_users=40, fill_cache=tmp_path / "fills")
    first = _migrated_database(bench_run, tmp_path / "first")
    bench_run.fill_database(args, first)
    kept = args.fill_cache / bench_run.fill_cache_name(40)
    assert kept.is_file()
    assert list(args.fill_cache.iterdir()) == [kept]  # no partial copy left behind
    assert "filling 40 users" in capsys.readouterr().out

    second = _migrated_database(bench_run, tmp_path / "second")
    bench_run.fill_database(args, second)
    assert f"copied from {kept}" in capsys.readouterr().out
    emails = _user_emails(second)
    assert len(emails) == 40
    assert emails == _user_emails(first)


def test_another_size_is_filled_anew(bench_run, tmp_path, capsys):
    cache = tmp_path / "fills"
    bench_run.fill_database(argparse.Namespace(fill_users=20, fill_cache=cache),
                            _migrated_database(bench_run, tmp_path / "twenty"))
    other = _migrated_database(bench_run, tmp_path / "thirty")
    capsys.readouterr()
    bench_run.fill_database(argparse.Namespace(fill_users=30, fill_cache=cache), other)
    assert "filling 30 users" in capsys.readouterr().out
    assert len(_user_emails(other)) == 30
    assert bench_run.fill_cache_name(20) != bench_run.fill_cache_name(30)
    assert len(list(cache.iterdir())) == 2
