"""``echodesk blobs``: move the stored bytes to another store, or check them where they are."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.errors import EchoError
from echodesk.store.blobs import BlobStore, open_blob_store
from echodesk.store.blobstores import transfer
from echodesk.store.blobstores.transfer import Report, Step

STORES = "local, database or s3://BUCKET/PREFIX"


@main.group()
def blobs() -> None:
    """Attachments and large raw mail: move them to another store, or check them."""


@blobs.command("migrate")
@click.option("--to", "to", required=True, help=f"The store to copy into: {STORES}.")
@click.option(
    "--from", "source", default=None, help="The store to copy from (default: blob_store)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
@friendly_errors
def migrate_cmd(app: App, to: str, source: str | None, as_json: bool) -> None:
    """Copy every stored blob the database names into another store (resumable: what
    is there already is not copied again). Then set blob_store to the new store."""
    settings = app.settings
    source = source or settings.effective_blob_store()
    if source == to:
        raise EchoError(f"the blobs are in {to} already: name another store with --to")
    db = app.database()
    origin, target = _store(app, source), _store(app, to)
    with _progress(app, "copying", as_json) as step:
        report = transfer.migrate(db, settings, origin, target, step)
    if as_json:
        emit_json({"from": origin.name, "to": target.name, **report.as_dict()})
    else:
        click.echo(
            f"{report.keys} blob(s): {report.copied} copied ({report.size} bytes), "
            f"{report.present} already in {target.name}"
        )
        _problems(report, origin)
        if settings.effective_blob_store() != to:
            click.echo(f"now set blob_store: {to} (or ECHODESK_BLOB_STORE={to}) and restart Echo")
    if not report.ok:
        sys.exit(1)


@blobs.command("check")
@click.option("--store", default=None, help=f"The store to check: {STORES} (default: blob_store).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@pass_app
@friendly_errors
def check_cmd(app: App, store: str | None, as_json: bool) -> None:
    """Check that every blob the database names is stored, with its sha256."""
    db = app.database()
    checked = _store(app, store or app.settings.effective_blob_store())
    with _progress(app, "checking", as_json) as step:
        report = transfer.check(db, app.settings, checked, step)
    if as_json:
        emit_json({"store": checked.name, **report.as_dict()})
    else:
        bad = len({n.key for n in report.missing + report.corrupted})
        click.echo(
            f"{report.keys} blob(s) in {checked.name}: {report.present} intact "
            f"({report.size} bytes), {bad} missing or corrupted"
        )
        _problems(report, checked)
    if not report.ok:
        sys.exit(1)


def _store(app: App, spec: str) -> BlobStore:
    if spec not in ("local", "database") and not spec.startswith("s3://"):
        raise EchoError(f"unknown blob store {spec!r}: expected {STORES}")
    return open_blob_store(spec, app.settings, app.database())


def _problems(report: Report, store: BlobStore) -> None:
    for label, rows in (("missing", report.missing), ("corrupted", report.corrupted)):
        for named in rows:
            where = f" of {named.ticket}" if named.ticket else ""
            click.echo(f"{label}: {named.key} {named.what}{where} in {store.name}")


@contextmanager
def _progress(app: App, label: str, as_json: bool) -> Iterator[Step]:
    """A progress bar over the rows that name keys, on a terminal only."""
    if as_json or not sys.stderr.isatty():
        yield lambda: None
        return
    total = transfer.count_named(app.database())
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield lambda: bar.update(1)
