"""Running Echo's long-lived parts together: receiver, pollers, worker, jobs.

``echodesk serve`` and ``echodesk worker`` both come here. The SMTP receiver
runs on aiosmtpd's own thread, each IMAP account on a thread of its own, the
scheduled jobs (auto-close among them) on APScheduler's, and the pipeline
worker in a child process with the outbox sender on a thread beside it, so
receivers answer promptly while batches are decided and mail is sent. SIGTERM (how
platforms stop a process) or Ctrl-C stops them in order: first nothing new is
accepted, then the worker finishes and commits the batch in hand.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from echodesk.config import Settings
from echodesk.desk.agents.signin_mail import queue_signin_mail
from echodesk.desk.context import DeskContext
from echodesk.desk.intake.accept import Intake
from echodesk.desk.intake.webhooks import Webhooks
from echodesk.desk.intake.worker import Worker
from echodesk.desk.jobs.schedule import start_scheduler
from echodesk.desk.oauth import TokenSources
from echodesk.desk.outbound.delivery import Deliverer, sender_for
from echodesk.desk.tickets.worktime import calendar_for
from echodesk.errors import ConfigError, EchoError
from echodesk.mailbox.imap import ImapPoller
from echodesk.mailbox.smtp import SmtpReceiver, split_host_port
from echodesk.store.connectors import DbHealth
from echodesk.store.db import Database
from echodesk.store.health import snapshot_for
from echodesk.store.imap_state import DbCursor
from echodesk.web.app import WebContext, create_app
from echodesk.web.monitor import metrics_app

log = logging.getLogger(__name__)


class DeploymentError(ConfigError):
    """Settings a deployment on several machines needs are missing (one line each)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def deployment_problems(settings: Settings, dialect: str, role: str) -> list[str]:
    """What this process (``serve``, ``worker`` or ``web``) lacks to run beside others.

    On several machines, or on a disk that does not survive a restart, nothing
    may depend on this machine's disk: the database, the mail sent, the links
    given out. Each problem is one line naming the setting.
    """
    problems = []
    if dialect != "postgresql":
        problems.append(
            "setting 'database_url' (or DATABASE_URL): several machines, or a disk that does "
            "not last, need one PostgreSQL database; SQLite keeps it on this machine"
        )
    if role in ("serve", "worker") and settings.relay is None:
        problems.append(
            "setting 'relay': none is set, so outgoing mail would be written as .eml files "
            f"into {settings.data_dir / 'outbox'} on this machine and reach nobody; set the "
            "SMTP relay (Postmark: host smtp.postmarkapp.com, port 587, starttls)"
        )
    if role in ("serve", "web") and not settings.web_url and not settings.web_trusted_header:
        problems.append(
            "setting 'web_url': not set, so sign-in links would point to "
            f"{settings.public_web_url}, where this process listens; set the archive's "
            "public address (https://desk.example.com)"
        )
    return problems


def check_deployment(
    settings: Settings, dialect: str, role: str, warn: Callable[[str], None]
) -> None:
    """Refuse to start (``multi_machine``) or warn (PostgreSQL) about what is missing."""
    problems = deployment_problems(settings, dialect, role)
    if problems and settings.multi_machine:
        raise DeploymentError(problems)
    if dialect == "postgresql":
        for problem in problems:
            warn(problem)


def platform_listen(environ: Mapping[str, str] | None = None) -> str | None:
    """``0.0.0.0:$PORT`` where the platform names the port the web process answers on."""
    port = (os.environ if environ is None else environ).get("PORT", "").strip()
    if not port:
        return None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"PORT (set by the platform): expected a port number, got {port!r}")
    return f"0.0.0.0:{port}"


def web_app(settings: Settings, db: Database, ctx: DeskContext) -> Flask:
    """The archive wired to this database and outbox."""
    web = WebContext(
        settings=settings,
        db=db,
        blobs=ctx.blobs,
        secret=ctx.secret,
        keyring=ctx.keyring,
        saved_replies=lambda: _saved_replies(ctx),
        calendar_for=calendar_for(settings.business_hours, settings.timezone),
        send_link=lambda session, email, link: queue_signin_mail(session, ctx, email, link),
        hooks=Webhooks(db, ctx),
    )
    return create_app(web)


def _saved_replies(ctx: DeskContext) -> tuple[list[tuple[str, str, str]], str]:
    found = ctx.replies.current()
    rows = [(r.name, r.about, r.text) for r in (found.replies[n] for n in found.names)]
    return rows, ctx.replies.error


def pollers_for(settings: Settings, db: Database, ctx: DeskContext) -> list[ImapPoller]:
    """One poller per configured IMAP account, storing into the spool."""
    accept = Intake(db, ctx).accept
    cursor = DbCursor(db)
    health = DbHealth(db, "imap")
    assert ctx.keyring is not None
    tokens = TokenSources(settings, db, ctx.keyring)
    return [
        ImapPoller(
            account,
            accept,
            cursor,
            poll_seconds=settings.imap_poll_seconds,
            health=health,
            tokens=tokens.get(account.oauth),
        )
        for account in settings.imap
    ]


@dataclass
class Services:
    settings: Settings
    db: Database
    ctx: DeskContext
    smtp_listen: str | None = None
    with_smtp: bool = True
    with_worker: bool = True
    #: Serve the web archive here (HOST:PORT); None: no web.
    web_listen: str | None = None
    with_scheduler: bool = True
    stop_event: threading.Event = field(default_factory=threading.Event)
    #: Called once everything listens (``serve`` prints where to send a first mail).
    on_ready: Callable[[], None] | None = None

    def run(self) -> None:
        """Start everything, run until SIGTERM or Ctrl-C, then stop in order."""
        # aiosmtpd logs every SMTP command at INFO; Echo logs one line per message.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        worker = WorkerProcess(self.settings) if self.with_worker else None
        if worker is not None:
            worker.start()
        receiver = self._start_receiver() if self.with_smtp else None
        threads = self._start_pollers()
        web = self._start_web() if self.web_listen else None
        metrics = self._start_metrics() if self.settings.metrics_listen else None
        scheduler = start_scheduler(self.db, self.ctx) if self.with_scheduler else None
        previous = signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        # SIGHUP: reload the routing rules now (the worker process holds them).
        signal.signal(signal.SIGHUP, lambda *_: worker.hangup() if worker else None)
        if self.on_ready is not None:
            self.on_ready()
        try:
            while not self.stop_event.wait(0.5):
                if worker is not None:
                    worker.keep_alive()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop_event.set()
            signal.signal(signal.SIGTERM, previous)
            if receiver is not None:
                receiver.stop()
            for server in (web, metrics):
                if server is not None:
                    server.shutdown()
            for thread in threads:
                thread.join(timeout=30)
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if worker is not None:
                worker.stop()
            log.info("stopped")

    def _start_receiver(self) -> SmtpReceiver:
        listen = self.smtp_listen or self.settings.smtp_listen
        receiver = SmtpReceiver.for_settings(
            self.settings, Intake(self.db, self.ctx).accept, listen
        )
        try:
            receiver.start()
        except (OSError, RuntimeError) as exc:
            raise EchoError(f"cannot listen for SMTP on {listen}: {exc}") from exc
        return receiver

    def _start_web(self) -> BaseWSGIServer:
        """The archive on a threaded WSGI server of its own (gunicorn in production)."""
        assert self.web_listen is not None
        host, port = split_host_port(self.web_listen)
        try:
            server = make_server(
                host, port, web_app(self.settings, self.db, self.ctx), threaded=True
            )
        except (OSError, SystemExit) as exc:
            raise EchoError(f"cannot serve the web archive on {self.web_listen}: {exc}") from exc
        thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
        thread.start()
        log.debug("web archive on http://%s%s", self.web_listen, self.settings.web_prefix)
        return server

    def _start_metrics(self) -> BaseWSGIServer:
        """``/metrics`` alone on ``metrics_listen``: the worker's figures, or a private port."""
        listen = self.settings.metrics_listen
        host, port = split_host_port(listen)
        app = metrics_app(
            lambda: snapshot_for(self.settings, self.db, self.ctx.blobs),
            self.settings.metrics_token,
        )
        try:
            server = make_server(host, port, app, threaded=True)
        except (OSError, SystemExit) as exc:
            raise EchoError(f"cannot serve /metrics on {listen}: {exc}") from exc
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics on http://%s/metrics", listen)
        return server

    def _start_pollers(self) -> list[threading.Thread]:
        threads = []
        for poller in pollers_for(self.settings, self.db, self.ctx):
            thread = threading.Thread(
                target=poller.run,
                args=(self.stop_event,),
                name=f"imap-{poller.where}",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        return threads


class WorkerProcess:
    """The pipeline worker in a process of its own.

    Receivers must answer within milliseconds while the worker parses and
    decides batches; in one interpreter they would take turns. The worker
    stops when told (SIGTERM: after the batch in hand) and when the process
    that started it is gone, so a killed ``serve`` leaves nothing running.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context = multiprocessing.get_context("spawn")
        self.process: BaseProcess | None = None

    def start(self) -> None:
        self.process = self.context.Process(
            target=run_worker, args=(self.settings, os.getpid()), name="echodesk-worker"
        )
        self.process.start()

    def keep_alive(self) -> None:
        """Restart the worker if it died (it is stateless; the spool holds the work)."""
        if self.process is not None and not self.process.is_alive():
            log.error("worker process exited with %s; starting a new one", self.process.exitcode)
            self.start()

    def hangup(self) -> None:
        """Pass a SIGHUP on: the worker reloads its rules before the next batch."""
        if self.process is not None and self.process.pid and self.process.is_alive():
            os.kill(self.process.pid, signal.SIGHUP)

    def stop(self) -> None:
        if self.process is None or not self.process.is_alive():
            return
        self.process.terminate()  # SIGTERM: finish the batch in hand, then exit
        self.process.join(timeout=60)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=10)


def run_worker(settings: Settings, parent: int) -> None:
    """Entry point of the worker process."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    db = Database(settings.effective_database_url())
    ctx = DeskContext.for_settings(settings, db)
    signal.signal(signal.SIGHUP, lambda *_: ctx.rules.request_reload())

    def stop() -> bool:
        return bool(stopping) or os.getppid() != parent

    deliverer = Deliverer(db, ctx, sender_for(db, ctx))
    sending = threading.Thread(
        target=deliverer.run_forever, args=(stop,), kwargs={"idle_sleep": 0.5}, name="sender"
    )
    sending.start()
    try:
        Worker(db, ctx, shared_lock=True).run_forever(stop, idle_sleep=0.5)
    finally:
        stopping.append(0)
        sending.join(timeout=60)
        db.dispose()
