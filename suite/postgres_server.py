"""A real PostgreSQL server on a free loopback port: installed from Debian when missing.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (created
as a system user when there is none), in a temporary directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from suite.debian_package import can_install, install_package
from suite.supervisor import free_address

SERVER_USER = "postgres"
SUPERUSER = "keyart"
_PROGRAMS = ("initdb", "postgres")


def _binaries_dir() -> Path | None:
    """The folder holding initdb and postgres: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += [
        Path(found)
        for found in sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
            reverse=True,
        )
    ]
    for folder in candidates:
        if all((folder / program).is_file() for program in _PROGRAMS):
            return folder
    return None


def postgres_binaries() -> Path | None:
    """Where PostgreSQL's programs are; as root, installs Debian's package first when missing."""
    found = _binaries_dir()
    if found or not can_install():
        return found
    install_package("postgresql")
    return _binaries_dir()


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as: None (this one) unless root, then `postgres`."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", SERVER_USER], check=True
        )
        return pwd.getpwnam(SERVER_USER)


class PostgresServer:
    """One cluster in a temporary directory, durable (fsync on), trusting loopback clients."""

    def __init__(
        self, binaries: Path, port: int | None = None, directory: Path | None = None
    ) -> None:
        """`directory` (default: a new temporary one) keeps the cluster; one holding a
        cluster already is started as it is. As root, the server user must be able to enter
        every folder above it."""
        self._binaries = binaries
        self._account = _server_account()
        self.port = port or int(free_address().rsplit(":", 1)[1])
        # Not under pytest's tmp_path: that is private to root, and the server user must enter it.
        self.directory = directory or Path(tempfile.mkdtemp(prefix="keyart-postgres-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.directory / "data"
        if self._account is not None:
            os.chown(self.directory, self._account.pw_uid, self._account.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._databases = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def _initdb(self) -> None:
        self._run_as_server_user(
            [
                str(self._binaries / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
            ]
        )

    def _popen(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        """`command` run as the server's account, its output appended to `log_name`.

        The account is switched by util-linux's setpriv, which then execs the command, and not
        by Popen's `user=`: that makes Python fork instead of vfork, and in a test process with
        gRPC threads the forked child can crash in gRPC's fork handlers before it execs.
        """
        if self._account is not None:
            uid, gid = self._account.pw_uid, self._account.pw_gid
            command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]
        # The child has its own copy of the log descriptor; ours closes once it has started.
        with open(self.directory / log_name, "ab") as log:
            # Its own session: a Ctrl-C reaches the owner, which stops it in order.
            return subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _run_as_server_user(self, command: list[str]) -> None:
        if self._popen(command, "initdb.log").wait() != 0:
            raise RuntimeError(f"{command[0]} failed; see {self.directory / 'initdb.log'}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Starts the server (again, after stop) on the same port and data; waits until it answers."""
        self.process = self._popen(
            [
                str(self._binaries / "postgres"),
                "-D",
                str(self.data_dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"port={self.port}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
                "-c",
                "max_connections=200",
            ],
            "postgres.log",
        )
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.process is None or self.process.poll() is not None:
                tail = (self.directory / "postgres.log").read_text(errors="replace")[-2000:]
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"postgres exited ({code}); the end of its log:\n{tail}")
            try:
                psycopg.connect(self.url(), connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise TimeoutError(f"postgres did not answer on port {self.port}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: open sessions are ended, committed data is kept)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def fresh_database(self) -> str:
        """The URL of a new, empty database."""
        self._databases += 1
        name = f"test_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        """Stops the server and deletes its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
