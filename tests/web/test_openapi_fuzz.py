"""Schemathesis against the machine endpoints: no 5xx, every answer as the document says."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from echodesk.desk.webhooks import Webhooks
from echodesk.web.app import WebContext, create_app
from tests.support.desk import Desk

_HOME = Path(tempfile.mkdtemp(prefix="echodesk-fuzz-"))
_DESK = Desk(
    f"sqlite:///{_HOME / 'fuzz.db'}",
    _HOME / "data",
    webhook_token="hook-secret",
    snapshot_token="snap-secret",
    flood_limit=0,
)
_APP = create_app(
    WebContext(
        settings=_DESK.settings,
        db=_DESK.db,
        blobs=_DESK.ctx.blobs,
        secret=_DESK.ctx.secret,
        send_link=lambda *_: None,
        hooks=Webhooks(_DESK.db, _DESK.ctx),
    )
)
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", _APP)


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("ECHODESK_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_endpoints_keep_their_document(case: schemathesis.Case) -> None:
    token = "snap-secret" if case.path.endswith("from-snapshot") else "hook-secret"
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})


def test_everything_the_fuzzing_spooled_is_processed_without_a_failure() -> None:
    """Runs after the endpoint tests (file order): the worker takes every spooled message."""
    spooled = _DESK.spool()
    assert spooled, "the fuzzing spooled no mail: the endpoint tests did not run first"
    outcomes = _DESK.run_worker_until_idle()
    failed = [o for o in outcomes if o.state in ("failed", "pending")]
    assert not failed, failed[:3]
    assert not _DESK.spool("pending")
    assert not _DESK.spool("failed")
