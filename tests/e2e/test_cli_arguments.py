"""Bad input to every `shopbridge` command: one line with a stable code on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import itertools
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy
import sqlalchemy.event
import sqlalchemy.exc
from cryptography.fernet import Fernet

from adapters.text import shown, shown_path
from gql.cli import _database_problem, main
from tests.fixtures.waiting import DEADLINE_SECONDS

REPO = Path(__file__).resolve().parents[2]


def the_servers_other_keys(data_dir: Path) -> None:
    """The keys a server's first start makes besides the secret key (`shopbridge token` makes none: KEY_MISSING)."""
    (data_dir / "encryption_key").write_text("A" * 43 + "=")  # a valid Fernet key (32 zero bytes)
    (data_dir / "sandbox_app_secret").write_text("0" * 32)


NOT_HERE = ("--host", "192.0.2.1")  # TEST-NET-1 (RFC 5737): `sandbox: CANNOT_LISTEN` if the flags pass
BAD_ARGUMENTS = [
    (["token", ""], "merchant_id"),
    (["token", " "], "merchant_id"),
    (["token", "m1\nm2"], "merchant_id"),
    (["token", "m" * 129], "merchant_id"),
    (["token", "m1", "--ttl", "-5"], "--ttl"),
    (["token", "m1", "--ttl", "0"], "--ttl"),
    (["token", "m1", "--ttl", "soon"], "--ttl"),
    (["token"], "merchant_id"),
    (["demo", "--merchant-id", "  "], "--merchant-id"),
    (["demo", "--port", "70000"], "--port"),
    (["demo", "--host", ""], "--host"),
    (["serve", "--port", "-1"], "--port"),
    (["serve", "--workers", "0"], "--workers"),
    (["serve", "--timeout-worker-healthcheck", "0"], "--timeout-worker-healthcheck"),
    (["serve", "--timeout-worker-shutdown", "0"], "--timeout-worker-shutdown"),
    (["serve", "--timeout-worker-start", "0"], "--timeout-worker-start"),
    (["serve", "--timeout-worker-start", "3601"], "--timeout-worker-start"),
    (["worker", "--processes", "0"], "--processes"),
    (["worker", "--threads", "-2"], "--threads"),
    (["sandbox", "--orders", "-1"], "--orders"),
    (["sandbox", "--products", "many"], "--products"),
    (["sandbox", "--products", "10000000"], "--products"),  # past the sandbox's bound: gigabytes per shop
    (["sandbox", "--orders", "300001"], "--orders"),
    (["sandbox", "--access-token-ttl", "0"], "--access-token-ttl"),
    (["sandbox", "--rate-limit", "-1"], "--rate-limit"),
    (["sandbox", "--webhook-retry-factor", "0"], "--webhook-retry-factor"),
    # before: taken by the parser, then SandboxConfig's ValueError traceback (exit 1)
    (["sandbox", "--product-search-cap", "0"], "--product-search-cap"),
    (["sandbox", "--port", "0"], "--port"),
    # before: uvicorn's start failed with a KeyError traceback
    (["sandbox", "--log-level", "loud"], "--log-level"),
    # before: taken, the sandbox then redirected consent to it, or pushed to it, in vain
    (["sandbox", "--redirect-url", "notaurl"], "--redirect-url"),
    (["sandbox", "--webhook-url", "ftp://x"], "--webhook-url"),
    # before: taken, the state was lost at the first save (a WARNING line) while the sandbox served on
    (["sandbox", "--state-dir", __file__], "--state-dir"),
    # before: taken, the sandbox then served an app no client could sign for (Shopbridge reads a blank key as unset);
    # NOT_HERE (no address of this machine) stops a sandbox that took it before it serves
    (["sandbox", "--app-key", "", *NOT_HERE], "--app-key"),
    (["sandbox", "--app-key", " k ", *NOT_HERE], "--app-key"),
    (["sandbox", "--app-secret", "   ", *NOT_HERE], "--app-secret"),
    (["sandbox", "--app-secret", "s3cret\n", *NOT_HERE], "--app-secret"),
    (["sandbox", "--service-id", "", *NOT_HERE], "--service-id"),
    (["bogus"], "command"),
]


@pytest.mark.parametrize(("argv", "argument"), BAD_ARGUMENTS, ids=lambda value: repr(value)[:40])
def test_bad_arguments_are_one_coded_line_and_exit_2(argv, argument, capsys) -> None:
    # when a command is given a value it cannot use
    with pytest.raises(SystemExit) as exited:
        main(argv)
    # then it exits 2 before doing anything, with one line that names the code and the argument
    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "BAD_ARGUMENT" in lines[0] and argument in lines[0] and "--help" in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("flag", "value", "problem"),
    [
        ("--app-key", "", "must not be empty or blank"),
        ("--app-secret", " \t ", "must not be empty or blank"),
        ("--app-secret", " s3cret", "must have no space at either end and no control character"),
        ("--service-id", "7000000000000000001\n", "must have no space at either end and no control character"),
    ],
    ids=["empty-key", "blank-secret", "padded-secret", "service-id-newline"],
)
def test_python_m_sandbox_refuses_blank_or_padded_credentials(tmp_path, flag: str, value: str, problem: str) -> None:
    # when the sandbox's own command is given an app credential no client could sign with
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")} | {"PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", flag, value, *NOT_HERE],
        cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_SECONDS, env=env,
    )  # fmt: skip
    # then it exits 2 before serving (argparse's refusal, its usage first), naming the flag but not the value
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines()[-1] == f"sandbox: error: argument {flag}: {problem}"
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--products", "100001"], "argument --products: must be a whole number from 0 to 100000 (got '100001')"),
        (["--orders", "10000000"], "argument --orders: must be a whole number from 0 to 300000 (got '10000000')"),
    ],
    ids=["products", "orders"],
)
def test_sandbox_data_sizes_beyond_the_bound_name_the_bound(argv, line: str, capsys) -> None:
    # when the sandbox is asked for more data per shop than it can hold
    with pytest.raises(SystemExit) as exited:
        main(["sandbox", *argv])
    # then it exits 2 before serving, with the usual one line that says the bound
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"shopbridge sandbox: BAD_ARGUMENT: {line}; see `shopbridge sandbox --help`"
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--bogus"], ["demo", "--port", "8125", "--bogus=1"], ["migrate", "--bogus"],
        ["token", "m1", "--bogus"], ["worker", "--bogus"], ["sandbox", "--bogus"], ["export-schema", "--bogus"],
    ],
    ids=["serve", "demo", "migrate", "token", "worker", "sandbox", "export-schema"],
)  # fmt: skip
def test_an_unknown_argument_is_named_and_sends_to_its_commands_help(argv: list[str], capsys) -> None:
    # when a command is given an option it does not have
    with pytest.raises(SystemExit) as exited:
        main(argv)
    # then its own parser refuses it in the one coded line, naming it and that command's help: before, argparse handed
    # it up to the top-level parser, whose line began `shopbridge:` and sent to `shopbridge --help` (the command list)
    command, unknown = argv[0], argv[-1]
    assert exited.value.code == 2
    assert capsys.readouterr() == (
        "",
        f"shopbridge {command}: BAD_ARGUMENT: unrecognized arguments: {unknown}; see `shopbridge {command} --help`\n",
    )


def _help_of_option(help_text: str, option: str) -> str:
    """The help of `option` in argparse's `--help` text: from its line to the next option's (wrapped lines joined)."""
    lines = help_text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip().startswith(option + " "))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if line.strip().startswith("-") or not line.strip():
            break
        block.append(line)
    return " ".join(part.strip() for part in block)


@pytest.mark.parametrize(
    ("command", "option", "default"),
    [
        ("serve", "--host", "127.0.0.1"), ("serve", "--port", "8000"), ("demo", "--host", "127.0.0.1"),
        ("demo", "--port", "8000"), ("worker", "--processes", "2"), ("worker", "--threads", "4"),
        ("export-schema", "--output", "schema.graphql"),
    ],
    ids=["serve-host", "serve-port", "demo-host", "demo-port", "worker-processes", "worker-threads", "schema-output"],
)  # fmt: skip
def test_help_says_what_each_listening_and_worker_option_is_and_its_default(command, option, default, capsys) -> None:
    # when a command's help is asked for
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    # then the option has a sentence of help, with its default (before: `--host HOST` alone)
    described = _help_of_option(capsys.readouterr().out, option)
    assert f"(default {default})" in described, described
    assert len(described.split()) > 4, described


COMMANDS = ["serve", "demo", "migrate", "rotate-keys", "token", "worker", "sandbox", "export-schema"]


@pytest.mark.parametrize("command", COMMANDS)
def test_each_commands_help_says_what_it_does_and_every_argument(command, capsys) -> None:
    # when a command's help is asked for
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    # then a paragraph between the usage and the arguments says what the command does (before, `migrate --help`,
    # `rotate-keys --help`, `token --help` and the others showed the usage line alone) ...
    text = capsys.readouterr().out
    usage, _, rest = text.partition("\n\n")
    description = rest.split("\n\n", 1)[0]
    assert usage.startswith(f"usage: shopbridge {command}"), text
    assert not description.splitlines()[0].endswith(":") and len(description.split()) > 8, text
    # ... and every argument has a help of its own (`token`'s merchant_id had none)
    for block in rest.split("\n\n")[1:]:
        lines = [*block.splitlines()[1:], ""]
        for line, after in itertools.pairwise(lines):
            if line.startswith("  ") and not line.startswith("   "):  # an argument's first line, its help beside it
                helped = len(line.split()) > 1 or after.startswith("      ")  # or below it (a long flag)
                assert helped, f"{line!r} has no help:\n{text}"


def test_bad_settings_are_one_coded_line(tmp_path, monkeypatch, capsys) -> None:
    # given a negative token lifetime in the environment
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPBRIDGE_SECRET_KEY", "k" * 32)
    the_servers_other_keys(tmp_path)
    monkeypatch.setenv("SHOPBRIDGE_TOKEN_TTL", "-5")
    # when a token is asked for
    code = main(["token", "m1"])
    # then the setting is refused in one line
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "shopbridge: BAD_CONFIGURATION: SHOPBRIDGE_TOKEN_TTL must be an integer from 1 to 315360000, got -5"
    ]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        # before: Dramatiq booted, its worker process raised SystemExit, and the pool stopped with a CRITICAL line
        # ("Worker with PID … exited unexpectedly (code 1)"), then an uncoded line, exit 1
        (["worker"], "shopbridge: BAD_CONFIGURATION: shopbridge worker needs SHOPBRIDGE_BROKER_URL (redis://host:6379/0)"),
        # before: the same line without its code
        (["serve", "--workers", "2"], "shopbridge: BAD_CONFIGURATION: --workers > 1 needs SHOPBRIDGE_BROKER_URL"),
    ],
    ids=["worker", "serve-workers"],
)  # fmt: skip
def test_a_command_that_needs_redis_without_a_broker_url_is_one_coded_line(argv, line, tmp_path, monkeypatch, capsys):
    # given no SHOPBRIDGE_BROKER_URL (the embedded default)
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SHOPBRIDGE_BROKER_URL", raising=False)
    monkeypatch.setenv("SHOPBRIDGE_PUBLIC_URL", "http://127.0.0.1:8000")  # else `serve` sets it in os.environ for good
    # when a command that needs Redis runs
    code = main(argv)
    # then it stops before starting anything, in one line with the usual code and status
    out, err = capsys.readouterr()
    assert code == 2 and out == "", err
    assert len(err.splitlines()) == 1 and err.startswith(line), err
    # and before writing anything: no secret_key, encryption_key nor sandbox_app_secret left in the data directory
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("database", [None, "postgresql+asyncpg://u:p@127.0.0.1:1/db"], ids=["sqlite", "postgresql"])
def test_serve_workers_with_the_embedded_sandbox_is_refused_in_one_coded_line(database, tmp_path, monkeypatch, capsys):
    """tryout64 F6: `serve --workers 2` with the embedded sandbox started N processes, each with its own sandbox, and
    every Add store failed AUTHORIZATION_DENIED (a consent code one process's sandbox issued, the other's refused)."""
    # given Redis, keys, and SQLite or PostgreSQL, with the TikTok settings unset (the embedded sandbox)
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPBRIDGE_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SHOPBRIDGE_PUBLIC_URL", "http://127.0.0.1:8000")  # else `serve` sets it in os.environ for good
    monkeypatch.setenv("SHOPBRIDGE_SECRET_KEY", "k" * 32)  # (keys as a broker asks: what it refused before)
    monkeypatch.setenv("SHOPBRIDGE_ENCRYPTION_KEY", Fernet.generate_key().decode())
    if database is None:
        monkeypatch.delenv("SHOPBRIDGE_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("SHOPBRIDGE_DATABASE_URL", database)
    for name in ("APP_KEY", "APP_SECRET", "SERVICE_ID", "API_URL", "AUTH_URL", "AUTHORIZE_URL"):
        monkeypatch.delenv(f"SHOPBRIDGE_TIKTOK_{name}", raising=False)
    # when the API is served by two processes
    code = main(["serve", "--workers", "2"])
    # then it stops before starting anything, saying what each process would need, and writes nothing
    out, err = capsys.readouterr()
    needs = (
        "needs a TikTok of its own (the SHOPBRIDGE_TIKTOK_* settings, or a standalone `shopbridge sandbox`): the "
        "embedded sandbox lives in one process; or serve with --workers 1."
    )
    assert (code, out, err) == (2, "", f"shopbridge: BAD_CONFIGURATION: --workers > 1 {needs}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        # logging was set up with it before any setting was read: a ValueError traceback from `logging`
        ("SHOPBRIDGE_LOG_LEVEL", "loud", "SHOPBRIDGE_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, "
         "got 'loud'"),
        # the server's start-up failed on it with a traceback ("Application startup failed")
        ("SHOPBRIDGE_ENCRYPTION_KEY", "short", "SHOPBRIDGE_ENCRYPTION_KEY: Encryption key #1 is not a urlsafe-base64 "
         "32-byte Fernet key."),
        ("SHOPBRIDGE_TIKTOK_RATE_LIMIT", "0", "SHOPBRIDGE_TIKTOK_RATE_LIMIT must be > 0 requests per second, got 0.0"),
        # the embedded worker failed on it with a traceback at every scheduler tick
        ("SHOPBRIDGE_POLL_INTERVAL", "nan", "SHOPBRIDGE_POLL_INTERVAL must be a finite number, got 'nan'"),
        # passed as "1 or more"; the embedded pool's boot then died on it (OverflowError, a CRITICAL traceback) while
        # the server said "shopbridge ready" and ran no imports, polls or webhooks
        ("SHOPBRIDGE_POLL_INTERVAL", "99999999999999999999", "SHOPBRIDGE_POLL_INTERVAL must be at most 315360000 "
         "seconds (10 years), got 1e+20"),
        # migrate, serve and worker died with a traceback (ArgumentError; ModuleNotFoundError: psycopg2 is no async
        # driver; Redis's ValueError), and the refusal must not show the password
        ("SHOPBRIDGE_DATABASE_URL", "postgres://shopbridge:s3cret@db/shopbridge", "SHOPBRIDGE_DATABASE_URL must be "
         "postgresql+asyncpg://user:password@host/database or sqlite+aiosqlite:///path, got 'postgres://…'"),
        ("SHOPBRIDGE_DATABASE_URL", "shopbridge:s3cret@db", "SHOPBRIDGE_DATABASE_URL must be "
         "postgresql+asyncpg://user:password@host/database or sqlite+aiosqlite:///path, got a value without a scheme"),
        ("SHOPBRIDGE_BROKER_URL", "http://:s3cret@redis:6379/0", "SHOPBRIDGE_BROKER_URL must be a Redis URL like "
         "redis://host:6379/0, got 'http://…'"),
        # merchant tokens were signed with it (PyJWT warned on stderr, at each signature): anyone could guess it
        ("SHOPBRIDGE_SECRET_KEY", "short", "SHOPBRIDGE_SECRET_KEY must be at least 32 bytes (it signs merchant "
         "tokens: a shorter key can be guessed, and then any merchant's token forged), got 5; generate one with: "
         "python -c 'import secrets; print(secrets.token_urlsafe(48))'"),
        # the embedded sandbox built 10,000,000 products on the first sync, past 10 GB
        ("SHOPBRIDGE_SANDBOX_PRODUCTS", "10000000", "SHOPBRIDGE_SANDBOX_PRODUCTS must be an integer from 0 to 100000, "
         "got 10000000"),
    ],
)  # fmt: skip
def test_a_setting_the_server_would_fail_on_is_refused_by_any_command_in_one_line(
    tmp_path, monkeypatch, capsys, name: str, value: str, line: str
) -> None:
    # given a setting no process can run with
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPBRIDGE_SECRET_KEY", "k" * 32)
    the_servers_other_keys(tmp_path)
    monkeypatch.setenv(name, value)
    # when any command starts
    code = main(["token", "m1"])
    # then it stops at once with one coded line naming the setting, no traceback and no token
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"shopbridge: BAD_CONFIGURATION: {line}"]


@pytest.mark.parametrize("depth", [0, 30], ids=["short-path", "long-path"])
def test_a_schema_that_cannot_be_written_is_one_line(tmp_path, capsys, depth: int) -> None:
    # however deep the directory (a temporary one can be), the line keeps the end of the path: what is missing
    output = tmp_path.joinpath(*["deep"] * depth) / "missing" / "schema.graphql"
    code = main(["export-schema", "--output", str(output)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and "CANNOT_WRITE" in err
    assert "/missing/schema.graphql': No such file or directory" in err


def test_a_good_token_command_still_prints_a_token(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPBRIDGE_SECRET_KEY", "k" * 32)
    the_servers_other_keys(tmp_path)
    from gql.auth import verify_token

    assert main(["token", "merchant-1", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert verify_token("k" * 32, token) == "merchant-1"


def test_an_unusable_data_directory_or_database_is_one_coded_line(tmp_path, monkeypatch, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    # a data directory that cannot hold the generated keys
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(blocker / "data"))
    assert main(["migrate"]) == 2
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("shopbridge")]
    assert len(ours) == 1 and "BAD_CONFIGURATION" in ours[0] and "SHOPBRIDGE_DATA_DIR" in ours[0]
    # a database file that cannot be opened
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHOPBRIDGE_DATABASE_URL", f"sqlite+aiosqlite:///{blocker}/x.db")
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("shopbridge")]
    assert len(ours) == 1 and "DATABASE_UNAVAILABLE" in ours[0] and "Traceback" not in err


@pytest.mark.parametrize("where", ["missing-directory", "directory-is-a-file", "file-is-a-directory"])
def test_a_sqlite_file_that_cannot_be_opened_is_named_with_why(tmp_path, monkeypatch, capsys, where) -> None:
    # given a SQLite database URL whose file cannot be a database: its directory missing, its directory a file, or
    # the path itself a directory
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    database, why = {
        "missing-directory": (
            tmp_path / "no-such-dir" / "x.db",
            f"the directory {shown_path(tmp_path / 'no-such-dir')} does not exist",
        ),
        "directory-is-a-file": (blocker / "x.db", f"{shown_path(blocker)} is a file, not a directory"),
        "file-is-a-directory": (tmp_path, f"{shown_path(tmp_path)} is a directory"),
    }[where]
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHOPBRIDGE_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    # when `migrate` opens it (`serve`: tests/e2e/test_cli_serve.py, in a process of its own, as serve holds a lock)
    assert main(["migrate"]) == 1
    # then its one line says which file and what is wrong with it: before, SQLite's "unable to open database file"
    # alone, which names neither
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("shopbridge")]
    assert ours == [
        f"shopbridge: DATABASE_UNAVAILABLE: OperationalError: unable to open database file ({why}); check "
        "SHOPBRIDGE_DATABASE_URL"
    ]


@pytest.mark.parametrize("merchant_id", ["", " ", " m1", "m1\n", "m" * 129])
def test_a_token_naming_no_usable_merchant_is_refused(merchant_id: str) -> None:
    import jwt

    from gql.auth import ALGORITHM, ISSUER, AuthenticationError, verify_token

    forged = jwt.encode({"sub": merchant_id, "exp": 2**40, "iss": ISSUER}, "k" * 32, algorithm=ALGORITHM)
    with pytest.raises(AuthenticationError):
        verify_token("k" * 32, forged)


@pytest.mark.parametrize(
    ("argv", "argument", "given"),
    [
        ([b"token", b"m\xff"], "merchant_id", "b'm\\xff'"),
        ([b"token", b"caf\xc3\xa9\xff"], "merchant_id", "b'caf\\xc3\\xa9\\xff'"),  # é is UTF-8, the byte after not
        ([b"token", b"\xed\xa0\x80"], "merchant_id", "b'\\xed\\xa0\\x80'"),  # a surrogate spelled in UTF-8's way
        ([b"demo", b"--merchant-id", b"m\xff"], "--merchant-id", "b'm\\xff'"),
        ([b"serve", b"--host", b"h\xff"], "--host", "b'h\\xff'"),  # before: a traceback, "encoding of hostname failed"
    ],
    ids=["token-ff", "token-after-e-acute", "token-encoded-surrogate", "demo-merchant-id", "serve-host"],
)
def test_an_argument_that_is_not_utf8_text_is_told_so_with_its_bytes(
    tmp_path, argv: list[bytes], argument: str, given: str
) -> None:
    # given a command line of bytes that are not UTF-8 (a Linux argv is bytes; Python decodes it as UTF-8, an
    # undecodable byte becoming a lone surrogate, PEP 383)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")}
    env |= {"PYTHONPATH": str(REPO), "SHOPBRIDGE_DATA_DIR": str(tmp_path / "data")}
    # when the command is run with it
    result = subprocess.run(
        [sys.executable, "-m", "gql.cli", *argv], env=env, cwd=tmp_path, capture_output=True, timeout=DEADLINE_SECONDS
    )
    # then it is one BAD_ARGUMENT line saying the argument is not UTF-8 text, with the bytes given, exit 2, before
    # anything is made: before, "a merchant id must not contain control characters (got 'm\udcff')"
    assert result.returncode == 2, result.stderr
    command = argv[0].decode()
    assert result.stderr.decode().splitlines() == [
        f"shopbridge {command}: BAD_ARGUMENT: argument {argument}: must be valid UTF-8 text (got {given}); see "
        f"`shopbridge {command} --help`"
    ]
    assert result.stdout == b""
    assert not (tmp_path / "data").exists()


def test_a_full_disk_is_told_to_free_space_not_to_check_the_database_url(tmp_path) -> None:
    # given SQLite's own "database or disk is full" (SQLITE_FULL), from a database that may not grow past 1 page
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'full.db'}")
    sqlalchemy.event.listen(engine, "connect", lambda connection, _: connection.execute("PRAGMA max_page_count = 1"))
    with pytest.raises(sqlalchemy.exc.OperationalError) as full, engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (b BLOB)")
        connection.exec_driver_sql("INSERT INTO t VALUES (zeroblob(100000))")
    engine.dispose()
    # when a command stops on it (as `migrate` did on a 200 KiB file system mid-migration)
    line = _database_problem(full.value)
    # then its one line says what to do: free space; before, "check SHOPBRIDGE_DATABASE_URL", a setting that was right
    assert line == (
        "shopbridge: DATABASE_UNAVAILABLE: OperationalError: database or disk is full; the disk that holds the "
        "database is full: free space on it, then run the command again"
    ), line


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "8000"], ["token", "m1"]], ids=lambda c: c[0])
@pytest.mark.parametrize("relative", ["var", "~/shopbridge"])
def test_a_relative_data_directory_is_refused_before_anything_is_made(
    tmp_path, monkeypatch, capsys, command: list[str], relative: str
) -> None:
    # given SHOPBRIDGE_DATA_DIR relative (no shell expands a `~` inside a setting), run from some directory
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", relative)
    # when any command starts
    code = main(command)
    # then one BAD_CONFIGURATION line naming the setting and where it would have gone, exit 2, and nothing made:
    # before, each command made (or looked for) keys and a database under its own working directory, so `token`
    # run elsewhere than `serve` signed with other keys
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert err.splitlines() == [
        f"shopbridge: BAD_CONFIGURATION: SHOPBRIDGE_DATA_DIR must be an absolute path, so that every command finds "
        f"the same keys and database from any directory; got {shown(relative)}, here {shown_path(tmp_path / relative)}"
    ], err
    assert list(tmp_path.iterdir()) == []


IN_MEMORY_SQLITE = {
    "memory": "sqlite+aiosqlite:///:memory:",
    "no-path": "sqlite+aiosqlite://",
    "no-path-slash": "sqlite+aiosqlite:///",
    "uri-memory": "sqlite+aiosqlite:///file::memory:?uri=true",
    "uri-memory-shared": "sqlite+aiosqlite:///file::memory:?cache=shared&uri=true",
    "uri-mode-memory": "sqlite+aiosqlite:///file:shopbridge?mode=memory&cache=shared&uri=true",
    "uri-mode-memory-quoted": "sqlite+aiosqlite:///file:shopbridge%3Fmode%3Dmemory?uri=true",
}


@pytest.mark.parametrize("url", list(IN_MEMORY_SQLITE.values()), ids=list(IN_MEMORY_SQLITE))
def test_migrate_refuses_an_in_memory_sqlite_database_in_one_line(tmp_path, monkeypatch, capsys, url) -> None:
    """`serve` and `worker` read the URL through the same settings (tests/unit/test_config.py)."""
    # given SHOPBRIDGE_DATABASE_URL naming an in-memory (or nameless, temporary) SQLite database
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPBRIDGE_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # where a `file:` name read as a path would be created
    # when it is migrated (before: it was, and `migrate` said so, exit 0; the tables vanished with the process)
    code = main(["migrate"])
    # then it stops at once with one coded line naming the setting, and no database file is made
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "shopbridge: BAD_CONFIGURATION: SHOPBRIDGE_DATABASE_URL must name a SQLite database file "
        "(sqlite+aiosqlite:///path/to/shopbridge.db), got an in-memory or temporary database: it is gone when the "
        "process ends, and no other process (serve, worker, migrate) sees it"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "8000"]], ids=lambda c: c[0])
def test_a_sqlite_database_in_a_shared_directory_is_refused_before_anything_is_made(
    tmp_path, monkeypatch, capsys, command: list[str]
) -> None:
    """The data directory's rule (tests/unit/test_config.py) for the database's own directory (tryout65): only the data
    directory was checked, so a database file another local user made first in /tmp, empty and mode 0666, was
    migrated and served as it was: buyers' names and addresses and the tokens' ciphertexts in a file they read."""
    # given SHOPBRIDGE_DATABASE_URL naming a file in a directory every user may write in, sticky as /tmp is, where
    # another user made the database's file first (as root here: a file not this user's; else this user's own)
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    planted = shared / "shopbridge.db"
    planted.touch(mode=0o666)
    planted.chmod(0o666)
    if os.geteuid() == 0:
        os.chown(planted, 65534, 65534)
    monkeypatch.setenv("SHOPBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHOPBRIDGE_DATABASE_URL", f"sqlite+aiosqlite:///{planted}")
    # when the command starts
    code = main(command)
    # then one BAD_CONFIGURATION line names the setting, the directory, its mode and owner, exit 2; the planted file
    # is left empty, nothing else is made there (no -wal, no lock) and no data directory with keys
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    owner = pwd.getpwuid(os.geteuid()).pw_name
    assert err.splitlines() == [
        f"shopbridge: BAD_CONFIGURATION: SHOPBRIDGE_DATABASE_URL puts the SQLite database {shown_path(planted)} in "
        f"{shown_path(shared)}, a shared directory (mode 1777, owner {owner}): another local user could make or "
        "replace its files there (the database, its -wal and -journal, its lock) before Shopbridge does, and read "
        f"them; give it a directory of its own, e.g. {shown_path(shared / 'shopbridge' / 'shopbridge.db')} (in a "
        "directory made mode 0700); nothing was made"
    ], err
    assert [p.name for p in shared.iterdir()] == ["shopbridge.db"] and planted.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
