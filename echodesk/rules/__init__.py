"""Routing rules: YAML that decides what happens to a message, and never acts itself.

A rules file is an ordered list of rules. Each incoming message is checked
against every rule in order; the actions of every rule that matches are
collected, in rule order, into a :class:`RuleDecision`, which the desk then
carries out in one place. Each rule's outcome says *why* it matched or not,
for ``rules test`` and the audit log.

Rules
=====

::

    - name: VIP customers            # required, unique (case-insensitive)
      on: new_ticket                 # optional: new_ticket | customer_reply | any (default)
      if:                            # required: one condition, or a list (all must hold)
        all:
          - from: {domain: bigcorp.example}
          - subject: {contains: urgent}
          - not: {has_attachment: true}
          - header: X-Priority
            is: "1"
      then:                          # required: actions, in order
        - assign: alice@example.com
        - tag: [vip, urgent]
        - priority: high
      stop: true                     # optional: when this rule matches, later rules are skipped

A rule takes only the keys ``name``, ``on``, ``if``, ``then`` and ``stop``.
``if`` is one condition (a mapping) or a non-empty list of conditions that
must all hold; to match every message write ``if: {always: true}``. ``then``
is a list of actions, each a one-key mapping (``- tag: billing``), or a
single such mapping.

Conditions
==========

A condition is a mapping with one key: the condition's name. All text
comparisons ignore case.

Text and address fields::

    - from: TEXT                     # a bare value means "contains"
    - from: {OPERATOR: VALUE, ...}   # several operators: all must hold
    - to: ...    cc: ...    subject: ...    body: ...
    - header: List-Id                # no operator: the header is present
    - header: X-Priority             # operators sit beside 'header', in the same mapping
      is: "1"

=============== ==================================================================
``is``          equal (surrounding space ignored)
``contains``    contains the text
``starts_with`` starts with the text
``matches``     an RE2 regular expression matches somewhere (case-insensitive;
                linear time, so no backreferences, lookahead or lookbehind)
``in``          equal to one of a list: ``{in: [a@x.example, b@x.example]}``
``domain``      addresses only: the domain or a subdomain of it; one or a list
=============== ==================================================================

``from``, ``to`` and ``cc`` hold if *any* of the message's addresses there
does; ``is``, ``in``, ``starts_with`` and ``domain`` compare the address,
``contains`` and ``matches`` the address and the display name. A message
without a From address matches no ``from`` condition. ``body`` is the
message's text (the HTML part converted when there is no text part); only
its first 1,000,000 characters are read. ``header`` holds if any value of
that header does (names are case-insensitive; the parser leaves out transport
headers such as Received and DKIM-Signature); a missing header matches no
operator.

Other conditions::

    has_attachment: true | false         # any file, inline images included
    attachment_type: image/*             # a glob on some file's content type, or a list
    spam_score: {gt: 5}                  # comparisons: gt gte lt lte eq, several = all
    spam_score: {gte: 3, header: X-Rspamd-Score}   # read this header instead
    size: {gt: 10MB}                     # raw bytes; 500kB, 10MB, 1GB (x1000), KiB MiB GiB (x1024)
    customer_tickets_24h: {gte: 3}       # tickets the sender opened in the last 24 hours
    business_hours: true | false         # in the context's business hours and time zone
    weekday: [sat, sun]                  # one or a list: mon tue wed thu fri sat sun, mon-fri
    time: {between: ["18:00", "08:00"]}  # local time; start included, end excluded;
                                         # a start after the end wraps past midnight
    always: true | false                 # every message / none (a rule switched off)

The spam score is the first value found in the context's spam headers, in
order (``x-spam-score``, ``x-spam-status``, ``x-spam-flag`` by default): a
bare number, a ``score=N``, or a row of stars; ``X-Spam-Flag: YES`` (or any
value starting with "yes" and giving no number) is spam at every threshold.
Without any, ``spam_score`` does not hold.

Combinators, nestable::

    all: [CONDITION, ...]      # every one holds (a non-empty list)
    any: [CONDITION, ...]      # at least one holds (a non-empty list)
    not: CONDITION             # one condition (a mapping); for "none of", not: {any: [...]}

Actions
=======

::

    assign: alice@example.com                         # an agent (must be known, when checked)
    assign: {round_robin: [a@example.com, b@example.com]}
    tag: billing          tag: [billing, vip]         # a-z 0-9 - _ . : (lower-cased, <= 50)
    untag: billing        untag: [billing, vip]
    status: open | pending | resolved | closed
    priority: low | normal | high | urgent
    auto_reply: "We got it: $ticket ($subject). Thanks, $name!"
    notify: lead@example.com    notify: [a@example.com, b@example.com]
    quarantine: "reason"  |  quarantine: true         # hold for an operator
    drop: "reason"        |  drop: true               # keep out of the desk

Actions are data (:class:`Action`: ``kind``, ``rule``, ``value``, ``values``);
``assign`` with ``round_robin`` has the kind ``assign_round_robin``.

Explanations
============

Every condition explains itself as ``LABEL: yes|no (DETAIL)``, e.g.
``from domain bigcorp.example: yes (alice@bigcorp.example)`` or
``spam_score > 5: no (no spam score in x-spam-score, x-spam-status, x-spam-flag)``.
A rule's ``if`` list (or top ``all``) is joined with ``; `` and stops at the
first "no"; nested combinators read ``all of (...): yes``, ``any of (...): no``
(stopping at the first "yes") and ``not (...): yes``. A rule skipped for its
``on``, or after a ``stop``, says so instead.

Errors
======

Loading reports every problem in the file at once, one per line, as
``FILE:LINE:COLUMN: rule 'NAME': KEY: what is wrong`` in a
:class:`RulesFileError` (a :class:`~echodesk.errors.RuleError`). A file that
loads has nothing left to fail: evaluation never raises, and a condition that
cannot be evaluated for a message (no From, no spam header) does not hold,
and its explanation says why.
"""

from __future__ import annotations

from echodesk.rules.actions import ACTIONS, Action
from echodesk.rules.conditions import CONDITIONS
from echodesk.rules.engine import RuleDecision, RuleOutcome, evaluate
from echodesk.rules.facts import Facts, RulesContext
from echodesk.rules.nodes import RulesFileError
from echodesk.rules.schema import EMPTY, Rule, RuleSet, load_rules, parse_rules


def reference() -> str:
    """One line per condition and action, from the registries (for ``rules`` help)."""
    lines = ["Conditions:"]
    lines += [f"  {kind.usage}\n      {kind.description}" for kind in CONDITIONS.values()]
    lines.append("Actions:")
    lines += [f"  {kind.usage}\n      {kind.description}" for kind in ACTIONS.values()]
    return "\n".join(lines)


__all__ = [
    "EMPTY",
    "Action",
    "Facts",
    "Rule",
    "RuleDecision",
    "RuleOutcome",
    "RuleSet",
    "RulesContext",
    "RulesFileError",
    "evaluate",
    "load_rules",
    "parse_rules",
    "reference",
]
