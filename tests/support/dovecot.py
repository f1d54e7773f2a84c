"""A throw-away Dovecot IMAP server for tests: loopback port, Maildir in a temp dir.

The recipe is the one measured in ``../shared/notes/test-servers.md``:
Maildir under a temporary folder, ``dovecot -F -c CONF`` in the foreground.
Instead of a passwd-file, a static passdb lets *any* user name log in with
:data:`PASSWORD`, so each test can take a fresh mailbox without a reload
(Dovecot re-reads a passwd-file at most once a second). Dovecot needs root here (its mail
processes run as ``nobody``); the suite runs as root in CI. A missing binary
or a server that does not come up raises: an IMAP test must never skip
silently.

Each start writes a new ``login_greeting`` token, so the readiness probe
cannot be fooled by an old instance that still holds the port for a moment
(``restart()`` reuses the port, because a running poller is configured with
it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from imapclient import IMAPClient

from tests.support.postgres import free_port

DOVECOT = os.environ.get("ECHODESK_TEST_DOVECOT", "/usr/sbin/dovecot")
HOST = "127.0.0.1"
PASSWORD = "secret"

_CONF = """\
protocols = imap
listen = {host}
base_dir = {base}/run
state_dir = {base}/state
instance_name = echodesk-test-{port}
log_path = {base}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
first_valid_uid = 1
login_greeting = {greeting}
mail_location = maildir:{base}/mail/%u/Maildir
{passdb}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={base}/mail/%u
}}
# No growing delay after failed logins (the wrong-password test retries fast).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


_PASSWORD_DB = """\
passdb {{
  driver = static
  args = password={password}
}}"""
#: Dovecot's oauth2 passdb: a token is good when the introspection endpoint says so.
_OAUTH_DB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {base}/dovecot-oauth2.conf.ext
}}"""
_OAUTH_ARGS = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
"""


class Dovecot:
    """One Dovecot instance; every user name is a mailbox, the password is PASSWORD.

    With ``introspection_url`` it takes OAuth2 access tokens instead (XOAUTH2
    and OAUTHBEARER), each checked at that endpoint, and no passwords.
    """

    def __init__(self, extra_conf: str = "", introspection_url: str = "") -> None:
        if not os.access(DOVECOT, os.X_OK):
            raise RuntimeError(
                f"Dovecot not found at {DOVECOT}: install Debian's 'dovecot-imapd' "
                "(scripts/test does) or set ECHODESK_TEST_DOVECOT"
            )
        # Not under pytest's tmp_path: its parents are 0700 and the auth
        # process (user 'dovecot') must read the users file.
        self.base = Path(tempfile.mkdtemp(prefix="echodesk-dovecot-"))
        os.chmod(self.base, 0o755)
        for sub in ("run", "state", "mail"):
            (self.base / sub).mkdir()
        shutil.chown(self.base / "mail", "nobody", "nogroup")
        self.host = HOST
        self.port = free_port()
        self.extra_conf = extra_conf  # more settings, e.g. a narrower imap_capability
        self.introspection_url = introspection_url
        self._proc: subprocess.Popen[bytes] | None = None
        self._generation = 0

    # -- lifecycle ---------------------------------------------------------------

    def start(self, timeout: float = 15) -> None:
        """Start the server and return once it greets with this start's token."""
        self._generation += 1
        greeting = f"echodesk-test-{os.getpid()}-{self._generation}"
        conf = self.base / "dovecot.conf"
        if self.introspection_url:
            (self.base / "dovecot-oauth2.conf.ext").write_text(
                _OAUTH_ARGS.format(url=self.introspection_url)
            )
            mechanisms, passdb = "xoauth2 oauthbearer", _OAUTH_DB.format(base=self.base)
        else:
            mechanisms, passdb = "plain login", _PASSWORD_DB.format(password=PASSWORD)
        conf.write_text(
            _CONF.format(
                host=self.host,
                port=self.port,
                base=self.base,
                greeting=greeting,
                mechanisms=mechanisms,
                passdb=passdb,
            )
            + self.extra_conf
        )
        deadline = time.monotonic() + timeout
        while True:
            with open(self.base / "stderr.log", "wb") as stderr:  # start-up errors land here
                self._proc = subprocess.Popen(
                    [DOVECOT, "-F", "-c", str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,  # its own process group: stop() ends every child
                )
            if self._wait_ready(greeting, deadline):
                return
            # Exited at once: most likely the old instance's port is not free yet.
            err = self._reap()
            if time.monotonic() > deadline:
                raise RuntimeError(f"Dovecot did not start on port {self.port}: {err}")
            time.sleep(0.2)

    def _wait_ready(self, greeting: str, deadline: float) -> bool:
        """True once our instance greets; False if the process ended first."""
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if greeting in self._greeting():
                return True
            time.sleep(0.02)
        self.stop(grace=0.5)
        raise RuntimeError(f"Dovecot did not answer on port {self.port}:\n{self.log()}")

    def _greeting(self) -> str:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                return sock.recv(200).decode("ascii", "replace")
        except OSError:
            return ""

    def _reap(self) -> str:
        assert self._proc is not None
        self._proc.wait()
        self._proc = None
        err = (self.base / "stderr.log").read_text(errors="replace").strip()
        return err or self.log()

    def stop(self, grace: float = 2.0) -> None:
        """Terminate the master; after at most ``grace`` seconds kill its whole group.

        A clean shutdown with a client logged in can take Dovecot ten
        seconds, and a master that exits sooner may leave a session's imap
        process running on. Killing the process group afterwards ends every
        session for sure, which to a client looks like a crashed server. The
        Maildir stays for a restart.
        """
        if self._proc is None:
            return
        self._proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port, with the same users and mail."""
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def log(self, tail: int | None = 4000) -> str:
        """The server's log (its last ``tail`` characters; None for all of it)."""
        path = self.base / "dovecot.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text if tail is None else text[-tail:]

    def __enter__(self) -> Dovecot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()

    # -- clients ---------------------------------------------------------------

    def client(self, user: str) -> Any:
        """A logged-in IMAPClient for ``user`` ("someone else" in the tests)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(user, PASSWORD)
        return client


def start_dovecot(extra_conf: str = "", introspection_url: str = "") -> Dovecot:
    server = Dovecot(extra_conf, introspection_url)
    try:
        server.start()
    except BaseException:
        server.destroy()
        raise
    return server
