#!/usr/bin/env python3
"""End-to-end checks of tokenauth against a real Django + Django REST framework project.

Run with the Python of the venv that tests/django/venv.sh makes:

    e2e.py import --backend sqlite|postgres [--pg-admin-url URL] \\
        --tokenauth-cli PATH --quickstart PATH
    e2e.py side-by-side [--pg-admin-url URL] --server PATH

--pg-admin-url defaults to $TOKENAUTH_TEST_POSTGRES_URL; on it, fresh databases with random
names are created for the run and dropped at its end (--keep keeps them and the temporary
files, and prints where they are).

`import`: Django migrates and seeds a database (users hashed by each Django hasher, DRF tokens,
see project/harness/management/commands/seed.py); `tokenauth import-django` copies it into a
tokenauth database (dry run first, then for real, then again); the quickstart example then
serves it: every imported key and every password must work as in Django, and logins upgrade
the hashes to Argon2id.

`side-by-side`: a live Django process (`manage.py live_tokens`) issues, deactivates and deletes
tokens in a PostgreSQL database while a Rust server authenticates against the same
authtoken_token/auth_user tables; every answer must follow at once, and match the answer of
DRF's own TokenAuthentication in the same Django process.

Prints `e2e: <check> ... ok` or `... FAILED` (with indented details) per check, and closes
with `e2e: N passed, M failed`; exits 1 if any check failed, 2 on bad usage.
"""
import argparse
import atexit
import hashlib
import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"
PYTHON = sys.executable

INVALID_TOKEN = {"detail": "Invalid token."}
INACTIVE = {"detail": "User inactive or deleted."}
BAD_CREDENTIALS = {"non_field_errors": ["Unable to log in with provided credentials."]}
ARGON2ID_PREFIX = "$argon2id$v=19$"


# ---------------------------------------------------------------------------------------------
# Reporting


class Abort(Exception):
    """A check whose failure makes the following ones meaningless."""


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, description, ok, *details):
        ok = bool(ok)
        print(f"e2e: {description} ... {'ok' if ok else 'FAILED'}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            for detail in details:
                for line in str(detail).splitlines() or [""]:
                    print(f"    {line}", flush=True)
        return ok

    def require(self, description, ok, *details):
        if not self.check(description, ok, *details):
            raise Abort(description)

    def summary(self):
        print(f"e2e: {self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


def tail(text, lines=60):
    parts = text.splitlines()
    if len(parts) > lines:
        parts = [f"[... {len(parts) - lines} earlier lines]"] + parts[-lines:]
    return "\n".join(parts)


def where(args, path):
    """" (path)" when --keep keeps the file, else nothing: the temporary directory goes."""
    return f" ({path})" if args.keep else ""


def describe(result):
    """The exit status and output of a finished command, for failure details."""
    return (f"$ {' '.join(map(str, result.args))}\nexit status: {result.returncode}\n"
            f"--- stdout\n{tail(result.stdout)}\n--- stderr\n{tail(result.stderr)}")


# ---------------------------------------------------------------------------------------------
# Processes


_CLEANUPS = []


def on_exit(fn):
    """Runs fn at exit (last registered first), even after an exception or SIGTERM."""
    _CLEANUPS.append(fn)
    return fn


@atexit.register
def _run_cleanups():
    while _CLEANUPS:
        fn = _CLEANUPS.pop()
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - keep cleaning up
            print(f"e2e: cleanup: {type(err).__name__}: {err}", file=sys.stderr, flush=True)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def run(cmd, *, env=None, cwd=None, timeout=300, stdin_text=None):
    """Runs a command to completion; a timeout gives exit status None (the process is killed)."""
    cmd = [str(c) for c in cmd]
    try:
        return subprocess.run(cmd, env=env, cwd=cwd, input=stdin_text, capture_output=True,
                              text=True, timeout=timeout,
                              stdin=None if stdin_text is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        def text(value):
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value or ""
        return subprocess.CompletedProcess(cmd, None, text(err.stdout),
                                           text(err.stderr) + f"\n[killed after {timeout}s]")
    except OSError as err:
        return subprocess.CompletedProcess(cmd, None, "", f"cannot run: {err}")


def stop_process(proc, grace=5.0):
    """SIGTERM to the process group, SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Service:
    """A server in the background: stdout and stderr to a log file, until a ready line."""

    def __init__(self, name, cmd, *, env, cwd, log_path):
        self.name = name
        self.log_path = Path(log_path)
        self.lines = []
        self._lock = threading.Lock()
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen([str(c) for c in cmd], env=env, cwd=cwd,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        on_exit(self.stop)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._lock:
                self.lines.append(line)
                self._log.write(line + "\n")
                self._log.flush()

    def wait_for(self, prefix, timeout):
        """True once a line starting with `prefix` was printed; False on exit or timeout."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            with self._lock:
                new = self.lines[seen:]
                seen = len(self.lines)
            if any(line.startswith(prefix) for line in new):
                return True
            if self.proc.poll() is not None:
                self._reader.join(timeout=2)
                with self._lock:
                    return any(line.startswith(prefix) for line in self.lines)
            time.sleep(0.05)
        return False

    def log(self):
        with self._lock:
            return "\n".join(self.lines)

    def stop(self):
        stop_process(self.proc)
        self._reader.join(timeout=5)
        with self._lock:
            if not self._log.closed:
                self._log.close()


class LiveDjango:
    """`manage.py live_tokens`: one command line in, one JSON line out (see its docstring)."""

    def __init__(self, env, log_path, ready_timeout=120):
        self.log_path = Path(log_path)
        self._stderr = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen([PYTHON, "manage.py", "live_tokens"], cwd=PROJECT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, encoding="utf-8",
                                     bufsize=1, start_new_session=True)
        on_exit(self.close)
        self._answers = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = self._next(ready_timeout)

    def _read(self):
        for line in self.proc.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def _next(self, timeout):
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"live Django gave no answer within {timeout}s") from None
        if line is None:
            raise RuntimeError(f"live Django exited (status {self.proc.poll()}):\n"
                               f"{tail(self.stderr_text())}")
        return json.loads(line)

    def call(self, command, timeout=60):
        """Sends one command and returns its JSON answer (thread-safe)."""
        with self._lock:
            try:
                self.proc.stdin.write(command + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as err:
                raise RuntimeError(f"live Django is gone: {err}\n"
                                   f"{tail(self.stderr_text())}") from None
            return self._next(timeout)

    def expect(self, command, key=None):
        """call(), raising RuntimeError on an {"error"} answer; returns answer[key] if given."""
        answer = self.call(command)
        if "error" in answer:
            raise RuntimeError(f"live Django: {command.split()[0]}: {answer['error']}")
        return answer[key] if key else answer

    def stderr_text(self):
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            try:
                with self._lock:
                    self.proc.stdin.write("quit\n")
                    self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        stop_process(self.proc)
        if not self._stderr.closed:
            self._stderr.close()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env, *args, timeout=600):
    return run([PYTHON, "manage.py", *args], env=env, cwd=PROJECT, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# Databases


def sqlite_url_for_django(path):
    """Django-style: sqlite:////abs/path.db (four slashes for an absolute path)."""
    return "sqlite:///" + str(Path(path).resolve())


def sqlite_url_for_tokenauth(path):
    """sqlx-style, as tokenauth documents it: sqlite:// + the path."""
    return "sqlite://" + str(Path(path).resolve())


def url_with_database(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(name)))


class Postgres:
    """Fresh databases on an admin URL, dropped at exit."""

    def __init__(self, admin_url, keep=False):
        import psycopg  # only this mode needs it

        self.psycopg = psycopg
        self.admin_url = admin_url
        self.keep = keep

    def create(self, purpose):
        from psycopg import sql

        name = f"tokenauth_e2e_{purpose}_{secrets.token_hex(4)}"
        with self.psycopg.connect(self.admin_url, autocommit=True) as conn:
            # UTF8 whatever the cluster's default (initdb --no-locale alone gives SQL_ASCII);
            # template0, since template1 may have another encoding.
            conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0")
                         .format(sql.Identifier(name)))
        if self.keep:
            print(f"e2e: keeping PostgreSQL database {name}", file=sys.stderr)
        else:
            on_exit(lambda: self.drop(name))
        return url_with_database(self.admin_url, name)

    def drop(self, name):
        from psycopg import sql

        with self.psycopg.connect(self.admin_url, autocommit=True) as conn:
            try:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                             .format(sql.Identifier(name)))
            except self.psycopg.errors.SyntaxError:  # before PostgreSQL 13
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


class TokenauthDb:
    """Read-only look at a tokenauth database (SQLite file or PostgreSQL URL)."""

    def __init__(self, *, sqlite_path=None, pg_url=None):
        self.sqlite_path = sqlite_path
        self.pg_url = pg_url

    def rows(self, query):
        if self.sqlite_path is not None:
            conn = sqlite3.connect(self.sqlite_path, timeout=10)
            try:
                return conn.execute(query).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.pg_url) as conn:
            return conn.execute(query).fetchall()

    def count_users(self):
        """Users in tokenauth_users; 0 when the table does not exist."""
        try:
            return self.rows("SELECT count(*) FROM tokenauth_users")[0][0]
        except sqlite3.OperationalError as err:
            if "no such table" in str(err):
                return 0
            raise
        except Exception as err:  # psycopg.errors.UndefinedTable
            if type(err).__name__ == "UndefinedTable":
                return 0
            raise

    def users(self):
        rows = self.rows("SELECT id, username, password_hash, is_active, date_joined "
                         "FROM tokenauth_users")
        return {r[1]: {"id": r[0], "username": r[1], "password_hash": r[2],
                       "is_active": bool(r[3]), "date_joined": parse_time(r[4])} for r in rows}

    def tokens(self):
        rows = self.rows("SELECT user_id, key_digest, created FROM tokenauth_tokens")
        return [{"user_id": r[0], "key_digest": r[1], "created": parse_time(r[2])} for r in rows]


def parse_time(value):
    """A timestamp as stored (datetime, ISO text, or Unix seconds) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)):
        dt = datetime.fromtimestamp(value, tz=timezone.utc)
    else:
        text = str(value).strip()
        if text.endswith(" UTC"):
            text = text[:-4] + "+00:00"
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


# ---------------------------------------------------------------------------------------------
# HTTP


class Answer:
    def __init__(self, status, headers, text):
        self.status = status
        self.headers = headers
        self.text = text
        try:
            self.json = json.loads(text)
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"HTTP {self.status} {self.text[:300]!r}"


def http(method, url, *, key=None, authorization=None, body=None, timeout=30):
    headers = {"Accept": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Token {key}"
    if authorization is not None:
        headers["Authorization"] = authorization
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.headers,
                          response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        return Answer(err.code, err.headers, err.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, HTTPException, OSError) as err:
        # No HTTP answer at all (refused, reset, timed out): status None fails every check.
        return Answer(None, {}, f"<no answer: {type(err).__name__}: {err}>")


# ---------------------------------------------------------------------------------------------
# import


COUNTS = {
    "Users": re.compile(r"^Users: (\d+) imported, (\d+) already present$", re.M),
    "Tokens": re.compile(r"^Tokens: (\d+) imported, (\d+) already present$", re.M),
}


def counts(stdout, what):
    match = COUNTS[what].search(stdout)
    return (int(match.group(1)), int(match.group(2))) if match else None


def leaks(texts, secrets_by_label):
    """Labels (never the secrets) of the secrets that appear in any of `texts`."""
    joined = "\n".join(texts)
    return sorted(label for label, secret in secrets_by_label.items() if secret in joined)


def temp_dir(prefix, keep):
    """A fresh temporary directory, removed at exit unless `keep`."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    if keep:
        print(f"e2e: keeping {tmp}", file=sys.stderr)
    else:
        on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    return tmp


def import_mode(args, rep):
    keep = args.keep
    tmp = temp_dir("tokenauth-e2e-import-", keep)

    if args.backend == "sqlite":
        django_url = sqlite_url_for_django(tmp / "django.db")
        tokenauth_url = sqlite_url_for_tokenauth(tmp / "tokenauth.db")
        db = TokenauthDb(sqlite_path=tmp / "tokenauth.db")
    else:
        pg = Postgres(args.pg_admin_url, keep=keep)
        django_url = pg.create("django")
        tokenauth_url = pg.create("tokenauth")
        db = TokenauthDb(pg_url=tokenauth_url)

    env = {**os.environ, "DJANGO_DATABASE_URL": django_url}
    result = manage(env, "migrate", "--no-input", "-v0")
    rep.require(f"Django migrates its {args.backend} database", result.returncode == 0,
                describe(result))
    manifest_path = tmp / "manifest.json"
    result = manage(env, "seed", "--manifest", manifest_path)
    rep.require("Django seeds users (every hasher) and DRF tokens", result.returncode == 0,
                describe(result))
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    users = manifest["users"]
    by_name = {u["username"]: u for u in users}
    with_key = [u for u in users if u["key"]]
    print(f"e2e: Django {manifest['django_version']}, DRF {manifest['drf_version']}: "
          f"{len(users)} users, {len(with_key)} tokens", flush=True)

    secrets_by_label = {f"key of {u['username']}": u["key"] for u in with_key}
    secrets_by_label.update({f"password of {u['username']}": u["password"]
                             for u in users if u["password"]})

    cli = [args.tokenauth_cli, "--database-url", tokenauth_url]
    cli_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = run(cli + ["migrate"], env=cli_env)
    rep.require("tokenauth migrate creates its tables", result.returncode == 0, describe(result))

    # Dry run.
    dry = run(cli + ["import-django", "--from", django_url, "--dry-run"], env=cli_env)
    rep.check("import-django --dry-run exits 0 and says \"Dry run\"",
              dry.returncode == 0 and "Dry run" in dry.stdout, describe(dry))
    n = db.count_users()
    rep.check("import-django --dry-run imports no user", n == 0,
              f"{n} users in tokenauth_users after the dry run")
    leaked = leaks([dry.stdout, dry.stderr], secrets_by_label)
    rep.check("import-django --dry-run prints no key or password", not leaked,
              "printed: " + ", ".join(leaked))

    # The import.
    real = run(cli + ["import-django", "--from", django_url], env=cli_env)
    rep.require("import-django exits 0", real.returncode == 0, describe(real))
    got = counts(real.stdout, "Users")
    rep.check(f"import-django reports \"Users: {len(users)} imported, 0 already present\"",
              got == (len(users), 0), f"got {got}", describe(real))
    got = counts(real.stdout, "Tokens")
    rep.check(f"import-django reports \"Tokens: {len(with_key)} imported, 0 already present\"",
              got == (len(with_key), 0), f"got {got}", describe(real))
    warned = [line for line in (real.stdout + "\n" + real.stderr).splitlines()
              if "u_shortkey" in line and "warning" in line.lower()]
    rep.check("import-django warns about u_shortkey's short key", warned, describe(real))
    leaked = leaks([real.stdout, real.stderr], secrets_by_label)
    rep.check("import-django prints no key or password", not leaked,
              "printed: " + ", ".join(leaked))

    check_imported_rows(rep, db, users, with_key)

    # Again: nothing new.
    again = run(cli + ["import-django", "--from", django_url], env=cli_env)
    rep.check("import-django again exits 0", again.returncode == 0, describe(again))
    got = counts(again.stdout, "Users")
    rep.check(f"import-django again: \"Users: 0 imported, {len(users)} already present\"",
              got == (0, len(users)), f"got {got}", describe(again))
    got = counts(again.stdout, "Tokens")
    rep.check(f"import-django again: \"Tokens: 0 imported, {len(with_key)} already present\"",
              got == (0, len(with_key)), f"got {got}", describe(again))
    leaked = leaks([again.stdout, again.stderr], secrets_by_label)
    rep.check("import-django again prints no key or password", not leaked,
              "printed: " + ", ".join(leaked))
    n = db.count_users()
    rep.check("import-django again adds no user", n == len(users), f"{n} users")

    # The quickstart serves the imported database.
    port = free_port()
    qs_dir = tmp / "quickstart"
    qs_dir.mkdir()
    qs_env = {**cli_env, "DATABASE_URL": tokenauth_url, "TOKENAUTH_BIND": f"127.0.0.1:{port}",
              "RUST_LOG": os.environ.get("RUST_LOG", "info,sqlx=warn")}
    qs_env.pop("TOKENAUTH_TRUSTED_PROXIES", None)
    quickstart = Service("quickstart", [args.quickstart], env=qs_env, cwd=qs_dir,
                         log_path=tmp / "quickstart.log")
    failed_before = rep.failed
    try:
        rep.require("the quickstart starts on the imported database",
                    quickstart.wait_for("Listening", args.start_timeout),
                    f"exit status: {quickstart.proc.poll()}", tail(quickstart.log()))
        new_keys = check_quickstart(rep, f"http://127.0.0.1:{port}", db, users, by_name)
        max_id = max(u["id"] for u in users)
        demo = db.users().get("demo")
        rep.check(f"a user created after the import gets a fresh id (quickstart's demo: > {max_id})",
                  demo is not None and demo["id"] > max_id,
                  f"demo: {demo and demo['id']}")
        quickstart.stop()
        labels = dict(secrets_by_label)
        labels.update({f"new key #{i}": k for i, k in enumerate(new_keys)})
        leaked = leaks([quickstart.log()], labels)
        rep.check("the quickstart's log shows no key or password", not leaked,
                  "logged: " + ", ".join(leaked))
    finally:
        quickstart.stop()
        if rep.failed > failed_before:
            print(f"    --- quickstart log{where(args, quickstart.log_path)}", flush=True)
            for line in tail(quickstart.log(), 80).splitlines():
                print(f"    {line}", flush=True)


def check_imported_rows(rep, db, users, with_key):
    rows = db.users()
    problems = []
    for u in users:
        row = rows.get(u["username"])
        if row is None:
            problems.append(f"{u['username']}: missing")
            continue
        want = {"id": u["id"], "is_active": u["is_active"],
                "date_joined": parse_time(u["date_joined"])}
        for field, value in want.items():
            if row[field] != value:
                problems.append(f"{u['username']}: {field} {row[field]!r}, Django has {value!r}")
    extra = sorted(set(rows) - {u["username"] for u in users})
    if extra:
        problems.append(f"users Django does not have: {extra}")
    rep.check("imported users keep Django's id, username, is_active and date_joined",
              not problems, *problems)

    problems = []
    for u in users:
        row = rows.get(u["username"])
        if row is None:
            continue
        if u["password"] is not None:
            ok = row["password_hash"] == u["encoded"]
            expected = repr(u["encoded"])
        else:  # either way no password login: NULL, or Django's "!..." kept as it is
            ok = row["password_hash"] in (None, u["encoded"])
            expected = f"None or {u['encoded']!r}"
        if not ok:
            problems.append(f"{u['username']} ({u['hasher']}): {row['password_hash']!r}, "
                            f"expected {expected}")
    rep.check("imported password hashes are Django's encoded strings as they are "
              "(unusable password: NULL or kept)", not problems, *problems)

    tokens = db.tokens()
    by_digest = {t["key_digest"]: t for t in tokens}
    problems = []
    for u in with_key:
        digest = hashlib.sha256(u["key"].encode("utf-8")).hexdigest()
        token = by_digest.get(digest)
        if token is None:
            problems.append(f"{u['username']}: no token with the SHA-256 of Django's key")
            continue
        if token["user_id"] != u["id"]:
            problems.append(f"{u['username']}: token belongs to user {token['user_id']}")
        if token["created"] != parse_time(u["token_created"]):
            problems.append(f"{u['username']}: created {token['created']}, "
                            f"Django has {u['token_created']}")
    if len(tokens) != len(with_key):
        problems.append(f"{len(tokens)} tokens, Django has {len(with_key)}")
    rep.check("imported tokens: SHA-256 of Django's keys, same owners and creation dates",
              not problems, *problems)


def check_quickstart(rep, base, db, users, by_name):
    """The imported keys and passwords against the quickstart; returns the keys it issued."""
    new_keys = []

    for u in users:
        if not u["key"]:
            continue
        answer = http("GET", f"{base}/api/me", key=u["key"])
        if u["is_active"]:
            body = answer.json if isinstance(answer.json, dict) else {}
            rep.check(f"GET /api/me with {u['username']}'s Django key: 200, id {u['id']}",
                      answer.status == 200 and body.get("id") == u["id"]
                      and body.get("username") == u["username"], answer)
        else:
            rep.check(f"GET /api/me with {u['username']}'s Django key: 401 \"User inactive or "
                      "deleted.\"", answer.status == 401 and answer.json == INACTIVE, answer)

    made_up = secrets.token_hex(20)
    answer = http("GET", f"{base}/api/me", key=made_up)
    rep.check("GET /api/me with a made-up key: 401 \"Invalid token.\", WWW-Authenticate: Token",
              answer.status == 401 and answer.json == INVALID_TOKEN
              and answer.headers.get("WWW-Authenticate") == "Token",
              answer, f"WWW-Authenticate: {answer.headers.get('WWW-Authenticate')!r}")

    # Logins: every hasher once, plus a few more kinds of user; kept under the per-client
    # throttle (only failures count there, and there are 4 of them).
    login_users = [u for u in users
                   if u["password"] and u["is_active"]
                   and not (u["username"].startswith("bulk_") and u["username"] != "bulk_1")]

    def login(username, password):
        return http("POST", f"{base}/api/auth/token",
                    body={"username": username, "password": password})

    for u in login_users:
        what = f"{u['username']} ({u['hasher']})"
        answer = login(u["username"], u["password"])
        body = answer.json if isinstance(answer.json, dict) else {}
        key = body.get("token")
        if not rep.check(f"POST /api/auth/token as {what}: 200 {{\"token\": ...}}",
                         answer.status == 200 and set(body) == {"token"} and isinstance(key, str),
                         answer):
            continue
        new_keys.append(key)
        me = http("GET", f"{base}/api/me", key=key)
        rep.check(f"the key issued to {u['username']} authenticates it",
                  me.status == 200 and isinstance(me.json, dict) and me.json.get("id") == u["id"],
                  me)
        stored = (db.users().get(u["username"]) or {}).get("password_hash") or ""
        rep.check(f"{u['username']}'s hash is upgraded to Argon2id on login",
                  stored.startswith(ARGON2ID_PREFIX), f"stored: {stored[:40]!r}...")
        again = login(u["username"], u["password"])
        body = again.json if isinstance(again.json, dict) else {}
        ok = again.status == 200 and isinstance(body.get("token"), str)
        if ok:
            new_keys.append(body["token"])
            me = http("GET", f"{base}/api/me", key=body["token"])
            ok = me.status == 200 and isinstance(me.json, dict) and me.json.get("id") == u["id"]
        rep.check(f"{u['username']} logs in again with the same password (upgraded hash)",
                  ok, again)
        if u["key"]:
            old = http("GET", f"{base}/api/me", key=u["key"])
            rep.check(f"{u['username']}'s imported key still works after its logins",
                      old.status == 200, old)

    failures = [
        ("a wrong password for u_pbkdf2_sha256", "u_pbkdf2_sha256",
         by_name["u_pbkdf2_sha256"]["password"] + "x"),
        ("u_unusable (unusable password)", "u_unusable", secrets.token_urlsafe()),
        ("u_inactive with its right password", "u_inactive", by_name["u_inactive"]["password"]),
        ("a user Django does not have", "no_such_user_" + secrets.token_hex(4),
         secrets.token_urlsafe()),
    ]
    for what, username, password in failures:
        answer = login(username, password)
        rep.check(f"POST /api/auth/token as {what}: 400 \"Unable to log in with provided "
                  "credentials.\"", answer.status == 400 and answer.json == BAD_CREDENTIALS,
                  answer)
    return new_keys


# ---------------------------------------------------------------------------------------------
# side-by-side


class Tally:
    """Failures of one kind across many rounds, with the first few described."""

    def __init__(self):
        self.count = 0
        self.total = 0
        self.examples = []
        self._lock = threading.Lock()

    def add(self, ok, detail):
        with self._lock:
            self.total += 1
            if not ok:
                self.count += 1
                if len(self.examples) < 8:
                    self.examples.append(detail)

    def report(self, rep, description):
        extra = [f"{self.count} of {self.total} failed; first ones:"] + self.examples
        rep.check(f"{description} ({self.total} checks)", self.count == 0, *extra)


def side_by_side_mode(args, rep):
    keep = args.keep
    tmp = temp_dir("tokenauth-e2e-side-", keep)
    pg = Postgres(args.pg_admin_url, keep=keep)
    django_url = pg.create("live")
    env = {**os.environ, "DJANGO_DATABASE_URL": django_url}
    result = manage(env, "migrate", "--no-input", "-v0")
    rep.require("Django migrates its PostgreSQL database", result.returncode == 0,
                describe(result))

    lives = []
    for i in range(args.live_processes):
        try:
            lives.append(LiveDjango(env, tmp / f"live-{i}.log", ready_timeout=args.start_timeout))
        except RuntimeError as err:
            rep.require(f"live Django #{i} starts", False, err)
    rep.check(f"{len(lives)} live Django processes ready (Django {lives[0].ready.get('django_version')}, "
              f"DRF {lives[0].ready.get('drf_version')})",
              all(live.ready.get("ready") for live in lives), [live.ready for live in lives])
    live = lives[0]

    port = free_port()
    server_env = {**os.environ, "DATABASE_URL": django_url, "TOKENAUTH_BIND": f"127.0.0.1:{port}",
                  "RUST_LOG": os.environ.get("RUST_LOG", "info,sqlx=warn")}
    server_env.pop("DJANGO_DATABASE_URL", None)
    server = Service("server", [args.server], env=server_env, cwd=tmp, log_path=tmp / "server.log")
    failed_before = rep.failed
    try:
        rep.require("the Rust server starts on Django's database",
                    server.wait_for("Listening", args.start_timeout),
                    f"exit status: {server.proc.poll()}", tail(server.log()))
        base = f"http://127.0.0.1:{port}"
        sequential_rounds(rep, live, base, args.rounds)
        other_cases(rep, live, base)
        concurrent_rounds(rep, lives, base, args.threads, args.thread_rounds)
    except RuntimeError as err:  # the live Django failed
        rep.check("live Django answers every command", False, err)
    finally:
        server.stop()
        for one in lives:
            one.close()
        if rep.failed > failed_before:
            print(f"    --- Rust server log{where(args, server.log_path)}", flush=True)
            for line in tail(server.log(), 80).splitlines():
                print(f"    {line}", flush=True)
            for one in lives:
                text = one.stderr_text().strip()
                if text:
                    print(f"    --- live Django log{where(args, one.log_path)}", flush=True)
                    for line in tail(text, 40).splitlines():
                        print(f"    {line}", flush=True)


def rust_me(base, key):
    return http("GET", f"{base}/me", key=key)


# The Rust server caches authentications and learns of Django's changes through tokenauth's
# change feed (a log that Django's transactions write through triggers, read at least every
# 100 ms): a revocation must show within this bound. A key Django creates, or a user it
# activates, must work at once: the cache checks its refusals with the database.
FEED_BOUND = 0.3
feed_latencies = []


def rust_me_within(base, key, status):
    """GET /me: a `200` expected must be the first answer (nothing is refused stale); a
    refusal expected may take up to FEED_BOUND seconds. The last answer."""
    started = time.monotonic()
    while True:
        answer = rust_me(base, key)
        elapsed = time.monotonic() - started
        if answer.status == status or elapsed > FEED_BOUND or status == 200:
            if status != 200:
                feed_latencies.append(elapsed)
            return answer
        time.sleep(0.001)


def same_as_django(answer, django):
    """The Rust server's answer agrees with DRF's own `me/` view for the same key.

    Same status. An error: the same JSON body and, on 401, the same WWW-Authenticate. A success:
    the same id and username, and is_staff and token_created (compared as instants) when the
    Rust server returns them; other fields of its answer are its own business.
    """
    if answer.status != django["status"]:
        return False
    if answer.status != 200:
        if answer.json != django["body"]:
            return False
        if answer.status == 401:
            return answer.headers.get("WWW-Authenticate") == django["www_authenticate"]
        return True
    mine, drf = answer.json, django["body"]
    if not isinstance(mine, dict) or not isinstance(drf, dict):
        return False
    if any(mine.get(k) != drf.get(k) for k in ("id", "username")):
        return False
    if "is_staff" in mine and mine["is_staff"] != drf.get("is_staff"):
        return False
    if "token_created" in mine:
        try:
            return parse_time(mine["token_created"]) == parse_time(drf.get("token_created"))
        except (TypeError, ValueError):
            return False
    return True


def sequential_rounds(rep, live, base, rounds):
    tallies = {name: Tally() for name in ("created", "deactivated", "activated", "deleted",
                                          "parity")}
    for n in range(1, rounds + 1):
        username = f"u{n}"
        created = live.expect(f"create {username}")
        key, user_id = created["key"], created["user_id"]
        steps = [
            ("created", None, 200, {"id": user_id, "username": username}),
            ("deactivated", f"deactivate {username}", 401, INACTIVE),
            ("activated", f"activate {username}", 200, {"id": user_id, "username": username}),
            ("deleted", f"delete {username}", 401, INVALID_TOKEN),
        ]
        for name, command, status, body in steps:
            if command:
                live.expect(command)
            answer = rust_me_within(base, key, status)
            ok = answer.status == status and (
                answer.json == body if status != 200
                else isinstance(answer.json, dict)
                and {k: answer.json.get(k) for k in body} == body)
            tallies[name].add(ok, f"round {n}: {answer}")
            django = live.expect(f"auth Token {key}")
            tallies["parity"].add(same_as_django(answer, django),
                                  f"round {n}, {name}: Rust {answer}, "
                                  f"WWW-Authenticate {answer.headers.get('WWW-Authenticate')!r}; "
                                  f"DRF {django}")
    tallies["created"].report(rep, "a key DRF just created authenticates at its first use: 200, its "
                              "user's id and username")
    tallies["deactivated"].report(rep, "deactivated in Django: 401 \"User inactive or deleted.\"")
    tallies["activated"].report(rep, "activated again in Django: 200 at once")
    tallies["deleted"].report(rep, "token deleted in Django: 401 \"Invalid token.\"")
    tallies["parity"].report(rep, "the Rust server answers as DRF's TokenAuthentication "
                             "(status, body, WWW-Authenticate)")


def other_cases(rep, live, base):
    # A user deleted in Django (its token goes by cascade).
    created = live.expect("create gone_user")
    before = rust_me_within(base, created["key"], 200)
    live.expect("delete-user gone_user")
    after = rust_me_within(base, created["key"], 401)
    rep.check("user deleted in Django: its key goes from 200 to 401 \"Invalid token.\"",
              before.status == 200 and after.status == 401 and after.json == INVALID_TOKEN,
              f"before: {before}", f"after: {after}")

    # A short, non-hex key, which DRF accepts (any string of at most 40 characters).
    short = f"short-Key_{secrets.token_hex(2)}"
    created = live.expect(f"create short_key_user {short}")
    answer = rust_me_within(base, short, 200)
    django = live.expect(f"auth Token {short}")
    rep.check("a short non-hex key that DRF accepts authenticates (as in DRF)",
              answer.status == 200 and same_as_django(answer, django)
              and isinstance(answer.json, dict) and answer.json.get("id") == created["user_id"],
              answer, f"DRF: {django}")

    # A key from DRF's own login view, obtain_auth_token.
    password = secrets.token_urlsafe() + " é"
    live.expect("create obtainer")
    live.expect("delete obtainer")
    live.expect(f"set-password obtainer {password}")
    obtained = live.expect(f"obtain obtainer {password}")
    key = obtained.get("body", {}).get("token") if isinstance(obtained.get("body"), dict) else None
    answer = rust_me_within(base, key, 200) if key else None
    rep.check("a key from DRF's obtain_auth_token view authenticates",
              obtained.get("status") == 200 and answer is not None and answer.status == 200,
              f"obtain: {obtained}", f"GET /me: {answer}")


def concurrent_rounds(rep, lives, base, threads, rounds):
    accepted_after_delete = Tally()
    refused_while_alive = Tally()
    errors = []
    errors_lock = threading.Lock()

    def worker(t):
        live = lives[t % len(lives)]
        username = f"c{t}"
        old_keys = []
        try:
            for r in range(rounds):
                key = live.expect(f"create {username}", "key")
                answer = rust_me_within(base, key, 200)
                refused_while_alive.add(answer.status == 200,
                                        f"thread {t} round {r}: while alive: {answer}")
                live.expect(f"delete {username}")
                old_keys.append(key)
                for old in old_keys[-2:]:
                    answer = rust_me_within(base, old, 401)
                    accepted_after_delete.add(answer.status == 401 and answer.json == INVALID_TOKEN,
                                              f"thread {t} round {r}: after delete: {answer}")
        except Exception as err:  # noqa: BLE001 - reported below
            with errors_lock:
                errors.append(f"thread {t}: {type(err).__name__}: {err}")

    workers = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=600)
    hung = sum(w.is_alive() for w in workers)
    elapsed = time.monotonic() - started
    print(f"e2e: concurrent: {threads} threads x {rounds} rounds over {len(lives)} live Django "
          f"processes in {elapsed:.1f}s", flush=True)
    rep.check("concurrent: every thread finished without error", not errors and not hung,
              *errors, *([f"{hung} threads still running after 600s"] if hung else []))
    accepted_after_delete.report(rep, "concurrent: every deleted token refused within "
                                 f"{FEED_BOUND * 1000:.0f} ms")
    refused_while_alive.report(rep, "concurrent: every new token accepted at its first use")
    if feed_latencies:
        ordered = sorted(feed_latencies)
        print(f"e2e: Django's changes seen by the Rust server after: median "
              f"{ordered[len(ordered) // 2] * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms "
              f"({len(ordered)} changes)", flush=True)


# ---------------------------------------------------------------------------------------------
# main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--pg-admin-url", default=os.environ.get("TOKENAUTH_TEST_POSTGRES_URL"),
                        help="PostgreSQL URL allowed to create databases "
                             "(default: $TOKENAUTH_TEST_POSTGRES_URL)")
    common.add_argument("--keep", action="store_true",
                        help="keep the temporary directory and databases, for debugging")
    common.add_argument("--start-timeout", type=float, default=120.0,
                        help="seconds to wait for a server's Listening line (default 120)")

    imp = sub.add_parser("import", parents=[common],
                         help="import-django into tokenauth, then the quickstart serves it")
    imp.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    imp.add_argument("--tokenauth-cli", required=True, type=Path)
    imp.add_argument("--quickstart", required=True, type=Path)

    side = sub.add_parser("side-by-side", parents=[common],
                          help="a live Django and a Rust server share Django's database")
    side.add_argument("--server", required=True, type=Path)
    side.add_argument("--rounds", type=int, default=30)
    side.add_argument("--threads", type=int, default=8)
    side.add_argument("--thread-rounds", type=int, default=10)
    side.add_argument("--live-processes", type=int, default=4,
                      help="live Django processes the threads share (default 4)")

    args = parser.parse_args(argv)
    if args.mode == "side-by-side" or args.backend == "postgres":
        if not args.pg_admin_url:
            parser.error("--pg-admin-url (or TOKENAUTH_TEST_POSTGRES_URL) is needed")
    for name in ("tokenauth_cli", "quickstart", "server"):
        path = getattr(args, name, None)
        if path is not None and not (path.is_file() and os.access(path, os.X_OK)):
            parser.error(f"--{name.replace('_', '-')}: {path} is not an executable file")
    if args.mode == "side-by-side" and args.live_processes < 1:
        parser.error("--live-processes must be at least 1")
    try:
        import django  # noqa: F401
        import rest_framework  # noqa: F401
    except ImportError:
        parser.error(f"{PYTHON} has no Django/DRF: run e2e.py with the venv's python "
                     "(see tests/django/venv.sh)")
    # Absolute paths: the servers run in other directories.
    for name in ("tokenauth_cli", "quickstart", "server"):
        if getattr(args, name, None) is not None:
            setattr(args, name, getattr(args, name).resolve())

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    rep = Report()
    try:
        if args.mode == "import":
            import_mode(args, rep)
        else:
            side_by_side_mode(args, rep)
    except Abort:
        pass
    except Exception:  # noqa: BLE001 - a bug or an outage: report it as a failed check
        rep.check("the run completes without an unexpected error", False, traceback.format_exc())
    except (KeyboardInterrupt, SystemExit):
        rep.check("the run completes (not interrupted)", False)
        rep.summary()
        raise
    return rep.summary()


if __name__ == "__main__":
    sys.exit(main())
