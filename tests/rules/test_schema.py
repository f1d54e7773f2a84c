"""Rules files that do not load: every problem, exactly worded, with FILE:LINE:COLUMN."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from echodesk.errors import RuleError
from echodesk.rules import RulesFileError, load_rules, nodes, parse_rules
from echodesk.rules.base import ConditionKind
from echodesk.rules.conditions import CONDITIONS

AGENTS = ["alice@example.com", "bob@example.com"]
OK_THEN = "  then: {tag: x}\n"

BROKEN: list[tuple[str, str, str]] = [
    (
        "yaml syntax",
        "- name: a\n  if: [1\n",
        "rules.yaml:3:1: YAML syntax error: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence, line 2)",
    ),
    (
        "yaml indentation",
        "- name: a\n  if: {always: true}\n then: {tag: x}\n",
        "rules.yaml:3:2: YAML syntax error: expected <block end>, "
        "but found '<block mapping start>' (while parsing a block collection, line 1)",
    ),
    (
        "yaml control character",
        "- name: a\x07\n",
        "rules.yaml:1:10: YAML syntax error: character #x0007 is not allowed "
        "(special characters are not allowed)",
    ),
    (
        "two documents",
        "- a\n---\n- b\n",
        "rules.yaml:2:1: YAML syntax error: but found another document "
        "(expected a single document in the stream, line 1)",
    ),
    (
        "top level not a list",
        "name: a\nif: {always: true}\n",
        "rules.yaml:1:1: expected a list of rules ('- name: ...'), got a mapping",
    ),
    (
        "rule not a mapping",
        "- just text\n",
        "rules.yaml:1:3: rule #1: expected a rule (a mapping with name, if and then), "
        "got 'just text'",
    ),
    (
        "missing name",
        "- if: {always: true}\n" + OK_THEN,
        "rules.yaml:1:3: rule #1: name: missing (every rule needs a unique name)",
    ),
    (
        "empty name",
        "- name: '  '\n  if: {always: true}\n" + OK_THEN,
        "rules.yaml:1:9: rule #1: name: empty (every rule needs a unique name)",
    ),
    (
        "name not text",
        "- name: [a]\n  if: {always: true}\n" + OK_THEN,
        "rules.yaml:1:9: rule #1: name: expected the rule's name as text, got a list",
    ),
    (
        "duplicate name",
        "- name: VIP\n  if: {always: true}\n"
        + OK_THEN
        + "- name: vip\n  if: {always: true}\n"
        + OK_THEN,
        "rules.yaml:4:9: rule 'vip': name: duplicate name 'vip' (first used at line 1)",
    ),
    (
        "unknown rule key",
        "- name: a\n  when: new_ticket\n  if: {always: true}\n" + OK_THEN,
        "rules.yaml:2:3: rule 'a': unknown key 'when' (use name, on, if, then, stop)",
    ),
    (
        "duplicate rule key",
        "- name: a\n  if: {always: true}\n  if: {always: false}\n" + OK_THEN,
        "rules.yaml:3:3: rule 'a': if: duplicate key",
    ),
    (
        "empty rule",
        "- name: a\n",
        "rules.yaml:1:3: rule 'a': empty rule: it needs 'if' (conditions) and 'then' (actions)",
    ),
    (
        "no if",
        "- name: a\n" + OK_THEN,
        "rules.yaml:1:3: rule 'a': if: missing (to match every message write 'if: {always: true}')",
    ),
    (
        "no then",
        "- name: a\n  if: {always: true}\n",
        "rules.yaml:1:3: rule 'a': then: missing (a rule needs at least one action)",
    ),
    (
        "empty then",
        "- name: a\n  if: {always: true}\n  then: []\n",
        "rules.yaml:3:9: rule 'a': then: expected a list of actions, got an empty list",
    ),
    (
        "bad on",
        "- name: a\n  on: new\n  if: {always: true}\n" + OK_THEN,
        "rules.yaml:2:7: rule 'a': on: unknown event 'new' (use new_ticket, customer_reply, any)",
    ),
    (
        "bad stop",
        "- name: a\n  if: {always: true}\n" + OK_THEN + "  stop: 'yes'\n",
        "rules.yaml:4:9: rule 'a': stop: expected true or false, got 'yes'",
    ),
    (
        "unknown condition, close to a known one",
        "- name: a\n  if: {frm: alice}\n" + OK_THEN,
        "rules.yaml:2:8: rule 'a': if: unknown condition 'frm' (did you mean 'from'?)",
    ),
    (
        "unknown condition",
        "- name: a\n  if: {weather: sunny}\n" + OK_THEN,
        "rules.yaml:2:8: rule 'a': if: unknown condition 'weather' (use from, to, cc, subject, "
        "body, header, has_attachment, attachment_type, spam_score, size, customer_tickets_24h, "
        "business_hours, weekday, time, all, any, not, always)",
    ),
    (
        "two conditions in one mapping",
        "- name: a\n  if: {subject: x, from: y}\n" + OK_THEN,
        "rules.yaml:2:7: rule 'a': if: one condition per mapping, found subject, from "
        "(list them under all: or any:, or as a list under if:)",
    ),
    (
        "condition not a mapping",
        "- name: a\n  if: [urgent]\n" + OK_THEN,
        "rules.yaml:2:8: rule 'a': if[0]: expected a condition (a mapping like 'subject: urgent'), "
        "got 'urgent'",
    ),
    (
        "unknown operator",
        "- name: a\n  if: {subject: {equals: x}}\n" + OK_THEN,
        "rules.yaml:2:18: rule 'a': if.subject.equals: unknown operator 'equals' "
        "(use is, contains, starts_with, matches, in)",
    ),
    (
        "domain on a text field",
        "- name: a\n  if: {subject: {domain: x.example}}\n" + OK_THEN,
        "rules.yaml:2:18: rule 'a': if.subject.domain: operator 'domain' works on from, to and cc "
        "only (use is, contains, starts_with, matches, in)",
    ),
    (
        "unknown comparison",
        "- name: a\n  if: {spam_score: {above: 5}}\n" + OK_THEN,
        "rules.yaml:2:21: rule 'a': if.spam_score: unknown operator 'above' "
        "(use gt, gte, lt, lte, eq, header)",
    ),
    (
        "unknown time operator",
        "- name: a\n  if: {time: {after: '18:00'}}\n" + OK_THEN,
        "rules.yaml:2:15: rule 'a': if.time: unknown operator 'after' (use between)",
    ),
    (
        "unknown action, close to a known one",
        "- name: a\n  if: {always: true}\n  then: [{asign: alice@example.com}]\n",
        "rules.yaml:3:11: rule 'a': then[0]: unknown action 'asign' (did you mean 'assign'?)",
    ),
    (
        "two actions in one item",
        "- name: a\n  if: {always: true}\n  then: [{tag: x, status: open}]\n",
        "rules.yaml:3:10: rule 'a': then[0]: one action per list item, found tag, status",
    ),
    (
        "action not a mapping",
        "- name: a\n  if: {always: true}\n  then: [drop]\n",
        "rules.yaml:3:10: rule 'a': then[0]: expected an action (a mapping like '- tag: billing'), "
        "got 'drop'",
    ),
    (
        "unknown agent",
        "- name: a\n  if: {always: true}\n  then: {assign: carol@example.com}\n",
        "rules.yaml:3:18: rule 'a': then.assign: unknown agent 'carol@example.com'",
    ),
    (
        "unknown round-robin agent",
        "- name: a\n  if: {always: true}\n"
        "  then: {assign: {round_robin: [alice@example.com, eve@example.com]}}\n",
        "rules.yaml:3:52: rule 'a': then.assign.round_robin: unknown agent 'eve@example.com'",
    ),
    (
        "bad round-robin key",
        "- name: a\n  if: {always: true}\n  then: {assign: {rotate: [alice@example.com]}}\n",
        "rules.yaml:3:19: rule 'a': then.assign: unknown key 'rotate' (use round_robin)",
    ),
    (
        "not an address",
        "- name: a\n  if: {always: true}\n  then: {notify: [boss@example.com, the boss]}\n",
        "rules.yaml:3:37: rule 'a': then.notify: not an email address: 'the boss'",
    ),
    (
        "bad regular expression",
        "- name: a\n  if: {subject: {matches: '[z-a]'}}\n" + OK_THEN,
        "rules.yaml:2:27: rule 'a': if.subject.matches: bad regular expression '[z-a]': "
        "invalid character class range: z-a",
    ),
    (
        "backreference re2 cannot run",
        "- name: a\n  if: {subject: {matches: '(a)\\1'}}\n" + OK_THEN,
        "rules.yaml:2:27: rule 'a': if.subject.matches: bad regular expression '(a)\\1': "
        "invalid escape sequence: \\1 (re2 has no backreferences)",
    ),
    (
        "lookahead re2 cannot run",
        "- name: a\n  if: {body: {matches: 'foo(?=bar)'}}\n" + OK_THEN,
        "rules.yaml:2:24: rule 'a': if.body.matches: bad regular expression 'foo(?=bar)': "
        "invalid perl operator: (?= (re2 has no lookahead or lookbehind)",
    ),
    (
        "wrong type for a flag",
        "- name: a\n  if: {has_attachment: maybe}\n" + OK_THEN,
        "rules.yaml:2:24: rule 'a': if.has_attachment: expected true or false, got 'maybe'",
    ),
    (
        "wrong type for a number",
        "- name: a\n  if: {spam_score: {gt: high}}\n" + OK_THEN,
        "rules.yaml:2:25: rule 'a': if.spam_score.gt: expected a number, got 'high'",
    ),
    (
        "bare number for comparisons",
        "- name: a\n  if: {spam_score: 5}\n" + OK_THEN,
        "rules.yaml:2:20: rule 'a': if.spam_score: expected comparisons like {gt: 5} "
        "(gt, gte, lt, lte, eq), got 5",
    ),
    (
        "no comparison",
        "- name: a\n  if: {spam_score: {header: X-Score}}\n" + OK_THEN,
        "rules.yaml:2:20: rule 'a': if.spam_score: no comparison (use gt, gte, lt, lte, eq)",
    ),
    (
        "bad spam header and bad comparison, both",
        "- name: a\n  if: {spam_score: {gt: x, header: 'a b'}}\n" + OK_THEN,
        "rules.yaml:2:25: rule 'a': if.spam_score.gt: expected a number, got 'x'\n"
        "rules.yaml:2:36: rule 'a': if.spam_score.header: not a header name: 'a b'",
    ),
    (
        "time without an operator",
        "- name: a\n  if: {time: {}}\n" + OK_THEN,
        "rules.yaml:2:14: rule 'a': if.time: no operator (use between)",
    ),
    (
        "assign with an empty mapping",
        "- name: a\n  if: {always: true}\n  then: {assign: {}}\n",
        "rules.yaml:3:18: rule 'a': then.assign: expected {round_robin: [...]}, "
        "got an empty mapping",
    ),
    (
        "bad size",
        "- name: a\n  if: {size: {gt: 10 parsecs}}\n" + OK_THEN,
        "rules.yaml:2:19: rule 'a': if.size.gt: expected a size like 500kB or 10MB "
        "(units: B, kB, MB, GB, KiB, MiB, GiB), got '10 parsecs'",
    ),
    (
        "negative ticket count",
        "- name: a\n  if: {customer_tickets_24h: {gt: -1}}\n" + OK_THEN,
        "rules.yaml:2:35: rule 'a': if.customer_tickets_24h.gt: expected a whole number of "
        "tickets, got -1",
    ),
    (
        "bad status",
        "- name: a\n  if: {always: true}\n  then: {status: done}\n",
        "rules.yaml:3:18: rule 'a': then.status: unknown status 'done' "
        "(use open, pending, resolved, closed)",
    ),
    (
        "bad priority",
        "- name: a\n  if: {always: true}\n  then: {priority: 5}\n",
        "rules.yaml:3:20: rule 'a': then.priority: unknown priority '5' "
        "(use low, normal, high, urgent)",
    ),
    (
        "bad weekday",
        "- name: a\n  if: {weekday: [mon, funday]}\n" + OK_THEN,
        "rules.yaml:2:23: rule 'a': if.weekday: bad weekday 'funday' "
        "(use mon, tue, wed, thu, fri, sat, sun), or a range like mon-fri",
    ),
    (
        "bad time",
        "- name: a\n  if: {time: {between: ['18:00', '8pm']}}\n" + OK_THEN,
        "rules.yaml:2:34: rule 'a': if.time.between[1]: bad time '8pm' "
        "(use HH:MM on a 24-hour clock, like 08:30)",
    ),
    (
        "one time only",
        "- name: a\n  if: {time: {between: ['18:00']}}\n" + OK_THEN,
        "rules.yaml:2:24: rule 'a': if.time.between: expected two times like "
        '["18:00", "08:00"], got a list',
    ),
    (
        "empty time span",
        "- name: a\n  if: {time: {between: ['18:00', '18:00']}}\n" + OK_THEN,
        "rules.yaml:2:24: rule 'a': if.time.between: the start and end times are the same "
        "(the span is empty)",
    ),
    (
        "not with a list",
        "- name: a\n  if: {not: [{always: true}]}\n" + OK_THEN,
        "rules.yaml:2:13: rule 'a': if.not: takes one condition (a mapping), not a list; "
        "for 'none of these' write not: {any: [...]}",
    ),
    (
        "empty all",
        "- name: a\n  if: {all: []}\n" + OK_THEN,
        "rules.yaml:2:13: rule 'a': if.all: empty list (put at least one condition under if.all)",
    ),
    (
        "empty any, nested",
        "- name: a\n  if: {not: {any: []}}\n" + OK_THEN,
        "rules.yaml:2:19: rule 'a': if.not.any: empty list "
        "(put at least one condition under if.not.any)",
    ),
    (
        "empty if list",
        "- name: a\n  if: []\n" + OK_THEN,
        "rules.yaml:2:7: rule 'a': if: empty list (put at least one condition under if)",
    ),
    (
        "empty condition",
        "- name: a\n  if: {}\n" + OK_THEN,
        "rules.yaml:2:7: rule 'a': if: empty condition",
    ),
    (
        "empty contains",
        "- name: a\n  if: {subject: ''}\n" + OK_THEN,
        "rules.yaml:2:17: rule 'a': if.subject: empty text (it would match everything)",
    ),
    (
        "in without a list",
        "- name: a\n  if: {from: {in: alice@example.com}}\n" + OK_THEN,
        "rules.yaml:2:19: rule 'a': if.from.in: expected a list of values, got 'alice@example.com'",
    ),
    (
        "bad domain",
        "- name: a\n  if: {from: {domain: 'a@b.example'}}\n" + OK_THEN,
        "rules.yaml:2:23: rule 'a': if.from.domain: not a domain: 'a@b.example'",
    ),
    (
        "bad header name",
        "- name: a\n  if: {header: 'X Priority', is: '1'}\n" + OK_THEN,
        "rules.yaml:2:16: rule 'a': if.header: not a header name: 'X Priority'",
    ),
    (
        "header with an unknown operator",
        "- name: a\n  if: {header: X-Priority, equals: '1'}\n" + OK_THEN,
        "rules.yaml:2:28: rule 'a': if.equals: unknown operator 'equals' "
        "(use is, contains, starts_with, matches, in)",
    ),
    (
        "header beside another condition",
        "- name: a\n  if: {header: X-Priority, subject: x}\n" + OK_THEN,
        "rules.yaml:2:7: rule 'a': if: one condition per mapping, found header, subject "
        "(list them under all: or any:, or as a list under if:)",
    ),
    (
        "bad attachment type",
        "- name: a\n  if: {attachment_type: pdf}\n" + OK_THEN,
        "rules.yaml:2:25: rule 'a': if.attachment_type: not a content type: 'pdf' "
        "(like image/* or application/pdf)",
    ),
    (
        "bad tag",
        "- name: a\n  if: {always: true}\n  then: {tag: [ok, Big Deal]}\n",
        "rules.yaml:3:20: rule 'a': then.tag: not a tag: 'Big Deal' "
        "(letters, digits, - _ . : only, up to 50)",
    ),
    (
        "unknown placeholder",
        "- name: a\n  if: {always: true}\n  then: {auto_reply: 'Hi $customer'}\n",
        "rules.yaml:3:22: rule 'a': then.auto_reply: unknown placeholder $customer "
        "(use $ticket, $subject, $name)",
    ),
    (
        "stray dollar",
        "- name: a\n  if: {always: true}\n  then: {auto_reply: 'That is $ 5'}\n",
        "rules.yaml:3:22: rule 'a': then.auto_reply: a '$' that starts no placeholder "
        "(write $$ for a dollar sign)",
    ),
    (
        "drop false",
        "- name: a\n  if: {always: true}\n  then: {drop: false}\n",
        "rules.yaml:3:16: rule 'a': then.drop: false does nothing "
        "(give a reason or true, or remove it)",
    ),
    (
        "alias loop",
        "- name: a\n  if: &loop {not: *loop}\n" + OK_THEN,
        "rules.yaml:2:7: rule 'a': if" + ".not" * 33 + ": conditions nested more than 32 deep",
    ),
]


@pytest.mark.parametrize(("case", "text", "problem"), BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_file(case: str, text: str, problem: str) -> None:
    with pytest.raises(RulesFileError) as caught:
        parse_rules(text, "rules.yaml", agents=AGENTS)
    assert str(caught.value) == problem
    assert caught.value.problems == tuple(problem.split("\n"))
    assert isinstance(caught.value, RuleError)


def test_every_problem_of_a_file_in_one_pass() -> None:
    text = textwrap.dedent(
        """\
        - name: first
          if:
            all:
              - from: {domain: bigcorp.example}
              - subject: {containz: urgent}
              - not: {has_attachment: perhaps}
          then:
            - assign: carol@example.com
            - priority: highest
        - name: first
          on: always
          if: {weekday: [someday]}
          then: {tag: ok}
        - 42
        """
    )
    with pytest.raises(RulesFileError) as caught:
        parse_rules(text, "team.yaml", agents=AGENTS)
    assert caught.value.problems == (
        "team.yaml:5:19: rule 'first': if.all[1].subject.containz: unknown operator 'containz' "
        "(use is, contains, starts_with, matches, in)",
        "team.yaml:6:31: rule 'first': if.all[2].not.has_attachment: expected true or false, "
        "got 'perhaps'",
        "team.yaml:8:15: rule 'first': then[0].assign: unknown agent 'carol@example.com'",
        "team.yaml:9:17: rule 'first': then[1].priority: unknown priority 'highest' "
        "(use low, normal, high, urgent)",
        "team.yaml:10:9: rule 'first': name: duplicate name 'first' (first used at line 1)",
        "team.yaml:11:7: rule 'first': on: unknown event 'always' "
        "(use new_ticket, customer_reply, any)",
        "team.yaml:12:18: rule 'first': if.weekday: bad weekday 'someday' "
        "(use mon, tue, wed, thu, fri, sat, sun), or a range like mon-fri",
        "team.yaml:14:3: rule #3: expected a rule (a mapping with name, if and then), got 42",
    )
    assert str(caught.value) == "\n".join(caught.value.problems)


def test_agents_are_checked_only_when_given() -> None:
    text = "- name: a\n  if: {always: true}\n  then: {assign: Carol@Example.com}\n"
    assert parse_rules(text).agents == frozenset({"carol@example.com"})
    assert parse_rules(text, agents=["CAROL@example.com"]).rules[0].actions[0].value == (
        "carol@example.com"
    )


def test_a_good_file_loads_with_lines_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "# routing\n- name: one\n  if: {always: true}\n  then: {tag: x}\n"
        "- name: two\n  on: customer_reply\n  if: {always: true}\n  then: {tag: y}\n  stop: true\n",
        encoding="utf-8",
    )
    rules = load_rules(path)
    assert rules.source == str(path)
    assert [(r.name, r.on, r.stop, r.line) for r in rules.rules] == [
        ("one", "any", False, 2),
        ("two", "customer_reply", True, 5),
    ]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "[]\n"])
def test_an_empty_file_has_no_rules(text: str) -> None:
    assert parse_rules(text).rules == ()


def test_missing_unreadable_and_binary_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RuleError, match=f"^{missing}: rules file not found$"):
        load_rules(missing)
    with pytest.raises(RuleError, match=f"^{tmp_path}: cannot read rules file: Is a directory$"):
        load_rules(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe- name")
    with pytest.raises(RuleError, match=f"^{binary}: rules file is not UTF-8 text$"):
        load_rules(binary)


def test_problems_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("- name: a\n  if: {always: maybe}\n  then: {tag: x}\n", encoding="utf-8")
    with pytest.raises(RulesFileError) as caught:
        load_rules(path)
    assert (
        str(caught.value)
        == f"{path}:2:16: rule 'a': if.always: expected true or false, got 'maybe'"
    )


def test_a_huge_file_is_refused() -> None:
    with pytest.raises(RulesFileError, match=r"^<string>: larger than 1000000 characters$"):
        parse_rules("#" * 1_000_001)


def test_alias_bombs_hit_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # 3**13 copies of one condition from a 20-line file; a smaller budget keeps the test quick.
    monkeypatch.setattr(nodes, "BUDGET", 5000)
    lines = ["- name: a", "  if:", "    any:", "      - &c0 {subject: x}"]
    lines += [f"      - &c{i} {{any: [*c{i - 1}, *c{i - 1}, *c{i - 1}]}}" for i in range(1, 14)]
    lines.append("  then: {tag: x}")
    with pytest.raises(RulesFileError) as caught:
        parse_rules("\n".join(lines))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].endswith(
        ": more than 5000 conditions and values (anchors and aliases expand into copies; "
        "write the rules out)"
    )


def test_deep_yaml_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(RulesFileError) as caught:
        parse_rules("[" * 1000 + "]" * 1000)
    assert str(caught.value) == "<string>: YAML nested too deeply"


def test_a_rule_that_cannot_be_read_never_vanishes_silently(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    silent = ConditionKind("silent", "silent: x", "a careless parser", lambda entry, r: None)
    monkeypatch.setitem(CONDITIONS, "silent", silent)
    with pytest.raises(RulesFileError) as caught:
        parse_rules("- name: a\n  if: {silent: x}\n" + OK_THEN, "rules.yaml")
    assert str(caught.value) == "rules.yaml:1:3: rule 'a': cannot be read (no reason given)"
