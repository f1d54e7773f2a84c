"""Echo's exception kinds.

Every domain error derives from :class:`EchoError` (never from a builtin such as
``ValueError``), so one ``except EchoError`` at the edge of each entry point
tells expected, explainable failures apart from bugs. The message of an
EchoError is written for the person who has to act on it.
"""

from __future__ import annotations


class EchoError(Exception):
    """Base of all expected errors; ``str(err)`` is shown to the user as is."""


class ConfigError(EchoError):
    """The settings file or an ``ECHODESK_*`` variable is wrong (names the key)."""


class StoreError(EchoError):
    """The database cannot be used as asked (unreachable, wrong URL, ...)."""


class SchemaBehindError(StoreError):
    """The database schema is older than this code: ``echodesk db upgrade`` fixes it."""


class IngestError(EchoError):
    """An input path for ``echodesk ingest`` is missing or of an unknown kind."""


class NotFoundError(EchoError):
    """A ticket, spool row or other named object does not exist."""


class RuleError(EchoError):
    """A routing rule is invalid."""


class CommandError(EchoError):
    """An agent email command is invalid."""


class DeliveryError(EchoError):
    """Outgoing mail could not be delivered."""
