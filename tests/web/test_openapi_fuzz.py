"""Schemathesis against the machine endpoints: no 5xx, every answer as the document says."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from echodesk.desk.intake.webhooks import Webhooks
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
# The document says text holds no NUL (PostgreSQL's text cannot): generate none.
schema.config.generation.update(allow_x00=False, codec="utf-8")
# A valid snapshot body may meet an Idempotency-Key an earlier example used with another body.
_ACCEPTANCE = schema.config.checks.positive_data_acceptance
_ACCEPTANCE.expected_statuses = [*_ACCEPTANCE.expected_statuses, "422"]


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("ECHODESK_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_endpoints_keep_their_document(case: schemathesis.Case) -> None:
    """And the worker processes what an accepted call spooled, without a failure.

    (Checked call by call, not by a later test: under xdist a later test may run
    in another process, with another desk.)
    """
    token = "snap-secret" if case.path.endswith("from-snapshot") else "hook-secret"
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
    if case.path.endswith(("/inbound", "/bounce")) and response.status_code == 200:
        outcomes = _DESK.run_worker_until_idle()
        failed = [o for o in outcomes if o.state in ("failed", "pending")]
        assert not failed, failed[:3]
        assert not _DESK.spool("pending")
        assert not _DESK.spool("failed")
