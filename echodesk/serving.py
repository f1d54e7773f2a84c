"""Running Echo's long-lived parts in one process: receiver, pollers, worker, jobs.

``echodesk serve`` and ``echodesk worker`` both come here. The SMTP receiver
runs on aiosmtpd's own thread, each IMAP account on a thread of its own, the
scheduled jobs on APScheduler's, and the pipeline worker on the main thread.
SIGTERM (how platforms stop a process) or Ctrl-C stops them in order: first
nothing new is accepted, then the batch in hand finishes and commits.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass, field

from echodesk.config import Settings
from echodesk.desk.context import DeskContext
from echodesk.desk.intake import Intake
from echodesk.desk.jobs import start_scheduler
from echodesk.desk.worker import Worker
from echodesk.errors import EchoError
from echodesk.mailbox.imap import ImapPoller
from echodesk.mailbox.smtp import SmtpReceiver
from echodesk.store.db import Database
from echodesk.store.imap_state import DbCursor

log = logging.getLogger(__name__)


def pollers_for(settings: Settings, db: Database, ctx: DeskContext) -> list[ImapPoller]:
    """One poller per configured IMAP account, storing into the spool."""
    accept = Intake(db, ctx).accept
    cursor = DbCursor(db)
    return [
        ImapPoller(account, accept, cursor, poll_seconds=settings.imap_poll_seconds)
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
    stop_event: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Start everything, run until SIGTERM or Ctrl-C, then stop in order."""
        # Receivers share the interpreter with the worker: switch threads often, so
        # the SMTP event loop answers while a batch is being decided.
        sys.setswitchinterval(0.001)
        # aiosmtpd logs every SMTP command at INFO; Echo logs one line per message.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        receiver = self._start_receiver() if self.with_smtp else None
        threads = self._start_pollers()
        scheduler = start_scheduler(self.db, self.ctx)
        previous = signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        try:
            if self.with_worker:
                Worker(self.db, self.ctx).run_forever(self.stop_event.is_set, idle_sleep=0.5)
            else:
                while not self.stop_event.wait(0.5):
                    pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop_event.set()
            signal.signal(signal.SIGTERM, previous)
            if receiver is not None:
                receiver.stop()
            for thread in threads:
                thread.join(timeout=30)
            scheduler.shutdown(wait=False)
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
