"""The OpenAPI 3.1 document of the machine-facing endpoints (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

#: What JSON Schema cannot say about a body (see echodesk.web.jsonbody), said in words.
LIMITS = (
    "UTF-8 JSON nested at most 64 levels deep; finite numbers; text without NUL (U+0000) "
    "or unpaired surrogates."
)
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
#: Optional fields may be null, as Postmark sends some of them.
_TEXT = {"type": ["string", "null"]}
_NUMBER = {"type": ["integer", "null"]}
_ADDRESS = {
    "type": "object",
    "properties": {"Email": _TEXT, "Name": _TEXT},
}
_FILLED = {"type": "string", "pattern": "\\S", "description": "text that is not blank"}
#: Where the mail comes from: the raw message, or at least its sender.
_SENDER = [
    {"required": ["RawEmail"], "properties": {"RawEmail": _FILLED}},
    {"required": ["From"], "properties": {"From": _FILLED}},
    {
        "required": ["FromFull"],
        "properties": {
            "FromFull": {
                "type": "object",
                "required": ["Email"],
                "properties": {"Email": {"type": "string", "pattern": "@"}},
            }
        },
    },
]
INBOUND = {
    "type": "object",
    "anyOf": _SENDER,
    "description": "Postmark's inbound webhook (https://postmarkapp.com/developer/webhooks/inbound-webhook).",
    "properties": {
        "From": _TEXT,
        "FromName": _TEXT,
        "FromFull": _ADDRESS,
        "To": _TEXT,
        "ToFull": {"type": "array", "items": _ADDRESS},
        "Cc": _TEXT,
        "CcFull": {"type": "array", "items": _ADDRESS},
        "ReplyTo": _TEXT,
        "Subject": _TEXT,
        "MessageID": _TEXT,
        "Date": _TEXT,
        "TextBody": _TEXT,
        "HtmlBody": _TEXT,
        "StrippedTextReply": _TEXT,
        "Headers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["Name", "Value"],
                "properties": {"Name": {"type": "string"}, "Value": {"type": "string"}},
            },
        },
        "Attachments": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "Name": _TEXT,
                    "Content": {
                        "type": ["string", "null"],
                        "pattern": "^[A-Za-z0-9+/=\\r\\n ]*$",
                        "description": "base64",
                    },
                    "ContentType": _TEXT,
                    "ContentLength": _NUMBER,
                    "ContentID": _TEXT,
                },
            },
        },
        "RawEmail": _TEXT,
    },
}
BOUNCE = {
    "type": "object",
    "description": "Postmark's bounce webhook (https://postmarkapp.com/developer/webhooks/bounce-webhook).",
    "required": ["Email"],
    "properties": {
        "RecordType": _TEXT,
        "ID": _NUMBER,
        "Type": _TEXT,
        "TypeCode": _NUMBER,
        "Email": {"type": "string", "pattern": "@", "description": "the address that bounced"},
        "MessageID": _TEXT,
        "BouncedAt": _TEXT,
        "Details": _TEXT,
        "Description": _TEXT,
    },
}
SNAPSHOT = {
    "type": "object",
    "required": ["deploy_id", "surface_id", "title", "severity", "snapshot"],
    "properties": {
        "deploy_id": _FILLED,
        "surface_id": _FILLED,
        "title": _FILLED,
        "severity": _FILLED,
        "requested_by": {"type": "string"},
        "snapshot": {"description": "An audit-log extract: any JSON."},
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    why = {
        400: "Malformed JSON or a missing field",
        401: "Missing or wrong credentials",
        413: "Too large",
        415: "Not JSON",
        422: "The Idempotency-Key was used before with a different body",
        503: "Not served by this process",
    }
    return {
        str(code): {
            "description": why[code],
            "content": {"application/json": {"schema": _ERROR}},
        }
        for code in codes
    }


def _operation(
    summary: str, body: dict[str, Any], ok: dict[str, Any], security: str
) -> dict[str, Any]:
    # Only the snapshot endpoint takes an Idempotency-Key (422: reused with another body).
    codes = (400, 401, 413, 415, 503) + ((422,) if security == "snapshotToken" else ())
    return {
        "summary": summary,
        "security": [{security: []}]
        if security == "snapshotToken"
        else [{"webhookBasic": []}, {"webhookBearer": []}],
        "requestBody": {
            "required": True,
            "description": LIMITS,
            "content": {"application/json": {"schema": body}},
        },
        "responses": {**ok, **_errors(*codes)},
    }


def json_ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


#: What the mail webhooks answer.
_ACCEPTED = {
    "type": "object",
    "required": ["accepted"],
    "properties": {
        "accepted": {"type": "boolean"},
        "spool_id": {"type": "integer"},
        "result": {"type": "string"},
    },
}
#: What the snapshot endpoint answers.
_TICKET = {
    "type": "object",
    "required": ["ticket", "url", "created", "replayed"],
    "properties": {
        "ticket": {"type": "string"},
        "url": {"type": "string"},
        "created": {"type": "boolean"},
        "replayed": {"type": "boolean"},
    },
}


def _snapshot() -> dict[str, Any]:
    """The snapshot endpoint: opens or extends an Investigate ticket, idempotently."""
    return {
        **_operation(
            "Open (201) or extend (200) the Investigate ticket of a deploy and surface",
            SNAPSHOT,
            {
                "201": {"description": "Ticket opened", **json_ok(_TICKET)},
                "200": {"description": "Added to the open ticket", **json_ok(_TICKET)},
            },
            "snapshotToken",
        ),
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
            }
        ],
    }


def document(prefix: str) -> dict[str, Any]:
    """The whole document, with paths under the archive's prefix."""
    base = prefix.rstrip("/")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Echo machine endpoints", "version": "1"},
        "paths": {
            f"{base}/inbound": {
                "post": _operation(
                    "Inbound mail from Postmark's webhook, spooled like SMTP mail",
                    INBOUND,
                    {"200": {"description": "Committed to the spool", **json_ok(_ACCEPTED)}},
                    "webhook",
                )
            },
            f"{base}/bounce": {
                "post": _operation(
                    "A bounce from Postmark's webhook, handled like a DSN",
                    BOUNCE,
                    {"200": {"description": "Recorded", **json_ok(_ACCEPTED)}},
                    "webhook",
                )
            },
            f"{base}/from-snapshot": {"post": _snapshot()},
        },
        "components": {
            "securitySchemes": {
                "webhookBasic": {"type": "http", "scheme": "basic"},
                "webhookBearer": {"type": "http", "scheme": "bearer"},
                "snapshotToken": {"type": "http", "scheme": "bearer"},
            }
        },
    }
