"""Fixtures for the search tests: a PostgreSQL server for the several-workers test, and
scikit-learn's digits (8×8 grey) as a .npz with a task profile for `modelpick trial`.

PostgreSQL: `MODELPICK_TEST_POSTGRES` (a SQLAlchemy URL) names a server to use; otherwise the
fixture looks for the server's binaries (Debian's `postgresql` package puts them in
/usr/lib/postgresql/<version>/bin), makes a throw-away cluster in a temporary folder (as the
`postgres` user when the tests run as root: the server refuses to run as root), starts it on a
free port of 127.0.0.1 with trust authentication and its socket in that folder, creates a
database, and stops the server and removes the folder at the end of the session. When there
are no binaries or the server cannot start, the tests that need it are skipped, with the
reason; `MODELPICK_REQUIRE_POSTGRES=1` makes that a failure instead (for a CI that installed
it).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PROFILE = """\
name: {name}
domain: vision
task: classification
input: {{channels: 1, height: 8, width: 8}}
outputs: 10
data:
  train_samples: 1438
  path: {path}
budget:
  device: cpu
  memory_gb: 4
  train_minutes: 1
  batch_size: 64
"""


@pytest.fixture(scope="session")
def make_digits_profile(tmp_path_factory):
    """make(name) -> a task profile (YAML) named `name` (the study's name comes from it) whose
    data is scikit-learn's digits written as .npz."""
    np = pytest.importorskip("numpy")
    datasets = pytest.importorskip("sklearn.datasets")
    d = tmp_path_factory.mktemp("digits")
    data = datasets.load_digits()
    np.savez(d / "digits.npz", x=data.images[:, None].astype("float32"), y=data.target)

    def make(name: str = "digits") -> Path:
        profile = d / f"{name}.yaml"
        profile.write_text(PROFILE.format(name=name, path="digits.npz"))
        return profile

    return make


@pytest.fixture(scope="session")
def digits_profile(make_digits_profile) -> Path:
    return make_digits_profile("digits")


# --- PostgreSQL ------------------------------------------------------------------------------


def _version(path: str) -> tuple[int, ...]:
    m = re.search(r"/postgresql/([\d.]+)/bin/", path)
    return tuple(int(p) for p in m.group(1).split(".") if p) if m else (0,)


def _bindir() -> Path | None:
    """The newest PostgreSQL server binaries: Debian's, then whatever is on PATH."""
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True):
        bindir = Path(initdb).parent
        if (bindir / "pg_ctl").exists():
            return bindir
    for initdb in (shutil.which("initdb"),):
        if initdb and shutil.which("pg_ctl"):
            return Path(initdb).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and (Path(out) / "initdb").exists() and (Path(out) / "pg_ctl").exists():
            return Path(out)
    return None


def _driver() -> str | None:
    """The installed DBAPI driver: psycopg (3, SQLAlchemy 2.1's default), else psycopg2."""
    import importlib.util

    for name in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


class _Unavailable(Exception):
    pass


class _Cluster:
    """A throw-away PostgreSQL cluster in a temporary folder."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="modelpick-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.started = False
        self.run_as: dict = {}
        if os.geteuid() == 0:  # the server refuses root: run it as the `postgres` user
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                raise _Unavailable("running as root and there is no `postgres` user") from None
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            os.chmod(self.root, 0o700)
            self.run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            self.env = {**os.environ, "HOME": str(self.root), "USER": "postgres"}
        else:
            self.env = dict(os.environ)
        self.env.pop("PGDATA", None)

    def _cmd(self, *args: str, timeout: float = 60) -> None:
        try:
            done = subprocess.run(
                list(args),
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.root,
                env=self.env,
                **self.run_as,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise _Unavailable(f"{Path(args[0]).name}: {exc}") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            why = said[-1] if said else f"exit {done.returncode}"
            log = _tail(self.log)
            raise _Unavailable(f"{Path(args[0]).name}: {why}" + (f" (log: {log})" if log else ""))

    def start(self, driver: str) -> str:
        b = self.bindir
        self._cmd(
            str(b / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40"
        )
        self._cmd(
            str(b / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
            "-t", "60", "start", timeout=90,
        )  # fmt: skip
        self.started = True
        self._cmd(
            str(b / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "modelpick_test",
        )  # fmt: skip
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/modelpick_test"

    def stop(self) -> None:
        if self.started:
            try:
                self._cmd(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop",
                    timeout=60,
                )  # fmt: skip
            except _Unavailable:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def _unavailable(reason: str):
    message = f"PostgreSQL not available: {reason}"
    if os.environ.get("MODELPICK_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " (MODELPICK_REQUIRE_POSTGRES=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url():
    """A SQLAlchemy URL of an empty-ish PostgreSQL database (see the module's docstring)."""
    driver = _driver()
    if driver is None:
        _unavailable(
            "no PostgreSQL driver for SQLAlchemy (pip install 'psycopg[binary]' or psycopg2-binary)"
        )
    given = os.environ.get("MODELPICK_TEST_POSTGRES")
    if given:
        yield given
        return
    bindir = _bindir()
    if bindir is None:
        _unavailable(
            "no server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH; "
            "install Debian's `postgresql` package or set MODELPICK_TEST_POSTGRES to a URL"
        )
    try:
        cluster = _Cluster(bindir)
    except _Unavailable as exc:
        _unavailable(str(exc))
    try:
        url = cluster.start(driver)
    except _Unavailable as exc:
        cluster.stop()
        _unavailable(str(exc))
    try:
        yield url
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def postgres_db(postgres_url):
    """A new, empty database on the test server (dropped afterwards), so that a test sees
    only what it made even on a shared server; the server's own database when it may not
    create one."""
    import uuid

    import sqlalchemy

    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"modelpick_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as con:
            con.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    except sqlalchemy.exc.SQLAlchemyError:
        admin.dispose()
        yield postgres_url
        return
    url = sqlalchemy.engine.make_url(postgres_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as con:
            con.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
