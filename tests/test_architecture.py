"""The shape of the package: the import directions of DESIGN §1 (import-linter's
contracts), and the ticket statuses, defined in one module and set by one other."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from echodesk.statuses import Status

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is not installed (pip install -e '.[test]')"
    proc = subprocess.run(
        [exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_importing_the_package_has_no_side_effects() -> None:
    code = "import echodesk, sys; print(sorted(m for m in sys.modules if m.startswith('echodesk')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['echodesk']"


# What is a ticket's status write: its columns, assigned or passed by keyword
# to a row, a bulk update or a batch's changes, or given a status outright.
STATUS_MODULE = "echodesk/desk/tickets/status.py"
STATUS_DEFINITION = "echodesk/statuses.py"
STATUS_VALUES = frozenset(status.value for status in Status)
STATUS_COLUMNS = frozenset({"status", "status_changed_at", "closed_at"})
#: Calls whose ``status=`` is a ticket's status whatever its value: the row,
#: a bulk ``.values(...)``, a batch's ``changes.update(...)``.
TICKET_WRITERS = frozenset({"Ticket", "values", "update"})
#: Assignments to a ``status`` that is not a ticket's, with the reason.
NOT_A_TICKET = {
    ("echodesk/web/hooks.py", "self.status"): "a webhook error's HTTP status code",
    ("echodesk/web/pages.py", "found['status']"): "the archive's filter, from the query string",
}


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / "echodesk").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        yield name, ast.parse(path.read_text(encoding="utf-8"), filename=name)


def _is_status(node: ast.expr | None) -> bool:
    """A status written as such: ``"closed"``, ``Status.CLOSED`` or ``Status.CLOSED.value``."""
    if isinstance(node, ast.Attribute) and node.attr == "value":
        node = node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id == "Status" and node.attr in Status.__members__
    return isinstance(node, ast.Constant) and node.value in STATUS_VALUES


def _is_status_column(target: ast.expr) -> bool:
    if isinstance(target, ast.Tuple | ast.List):
        return any(_is_status_column(t) for t in target.elts)
    if isinstance(target, ast.Attribute):
        return target.attr in STATUS_COLUMNS
    if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
        return target.slice.value in STATUS_COLUMNS
    return False


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _writes_status(node: ast.AST) -> bool:
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(_is_status_column(t) for t in targets)
    if isinstance(node, ast.Call):
        return any(
            kw.arg in ("status_changed_at", "closed_at")
            or (kw.arg == "status" and (_callee(node) in TICKET_WRITERS or _is_status(kw.value)))
            for kw in node.keywords
        )
    if isinstance(node, ast.Dict):
        keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
        return "status_changed_at" in keys or any(
            k == "status" and _is_status(v) for k, v in zip(keys, node.values, strict=True)
        )
    return False


def _target_text(node: ast.AST) -> str:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        return ast.unparse(node.targets[0])
    return ast.unparse(node.target) if isinstance(node, ast.AugAssign | ast.AnnAssign) else ""


def test_only_the_status_module_writes_a_ticket_status() -> None:
    """One module moves tickets through the transition table; nothing goes around it."""
    found = [
        f"{name}:{node.lineno}: {ast.unparse(node)[:100]}"
        for name, tree in _modules()
        if name != STATUS_MODULE
        for node in ast.walk(tree)
        if _writes_status(node) and (name, _target_text(node)) not in NOT_A_TICKET
    ]
    assert not found, f"a ticket's status is set outside {STATUS_MODULE}:\n" + "\n".join(found)


def test_the_statuses_are_written_out_once() -> None:
    """Lists of statuses come from echodesk/statuses.py, never spelled out again."""
    found = [
        f"{name}:{node.lineno}: {ast.unparse(node)[:100]}"
        for name, tree in _modules()
        if name != STATUS_DEFINITION
        for node in ast.walk(tree)
        if isinstance(node, ast.Tuple | ast.List | ast.Set)
        and len({ast.dump(e) for e in node.elts if _is_status(e)}) >= 2
    ]
    assert not found, "statuses written out beside echodesk/statuses.py:\n" + "\n".join(found)


#: Rows every path writes the same way: built in one place, inserted by the store.
ONE_WAY_ROWS = {"Ticket", "Attachment", "AuditLog", "TicketTag", "TicketParticipant"}


def test_tickets_files_and_audit_rows_are_made_one_way() -> None:
    """No module outside the store builds a ticket, attachment, audit, tag or participant
    row as an ORM object: tickets open through ``writes.open_tickets``, files through
    ``desk/files.py``, audit rows through ``desk/audit.py``."""
    found = [
        f"{name}:{node.lineno}: {ast.unparse(node)[:100]}"
        for name, tree in _modules()
        if not name.startswith("echodesk/store/")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _callee(node) in ONE_WAY_ROWS
    ]
    assert not found, "rows built outside the store's one way:\n" + "\n".join(found)


#: What the desk may take from SQLAlchemy: the session it is handed, and error types.
DESK_MAY_IMPORT = {"sqlalchemy.orm": {"Session"}, "sqlalchemy.exc": None}
SESSION_SQL = {"execute", "scalars", "scalar", "query", "add", "add_all", "delete", "refresh"}


def test_the_desk_writes_no_sql() -> None:
    """Queries and writes are the store API's: the desk neither builds a statement nor
    hands one to the session (import-linter already keeps ``store.models`` out of it)."""
    found = []
    for name, tree in _modules():
        if not name.startswith("echodesk/desk/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                allowed = DESK_MAY_IMPORT.get(node.module or "", set())
                names = {a.name for a in node.names}
                if allowed is not None and not names <= allowed:
                    found.append(f"{name}:{node.lineno}: from {node.module} import {names}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SESSION_SQL
                and "session" in ast.unparse(node.func.value)
            ):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)[:100]}")
    assert not found, "SQL outside the store API:\n" + "\n".join(found)


LONGEST_FUNCTION = 60


def test_no_function_is_longer_than_sixty_lines() -> None:
    """A function a reader cannot see whole is split (migrations are generated and exempt)."""
    found = [
        f"{name}:{node.lineno}: {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, tree in _modules()
        if not name.startswith("echodesk/store/migrations/")
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION
    ]
    assert not found, "functions over sixty lines:\n" + "\n".join(found)
