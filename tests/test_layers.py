"""Layers point one way (STYLE.md: views and tasks -> workflow -> models).

``accounts`` (identities, staff, WebAuthn ceremonies) and ``audit`` sit below
``recovery_console``; the Celery task module sits above the services it runs.
These tests read the source with ``ast`` (imports inside functions count too)
and fail on an import that points up, so a new one is a decision someone
writes down here, not an accident.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The injectable clock imports only Django; tests travel in time by replacing
# ``now`` on that very module, so it stays where it is and anyone may read it.
CLOCK = "recovery_console.clock"

# What may still point up from accounts/ and audit/, file by file, and why.
# Presentation (views, admin) sits on top of every app and calls decisions;
# the audit samples, counts and reports the recovery cases it audits.
ALLOWED_UPWARD = {
    # passkey_added, revoke_passkey, lost_passkey_signed_in
    "accounts/views.py": {"recovery_console.workflow"},
    "accounts/admin.py": {"recovery_console.channels"},  # channel_changed after an edit
    "audit/views.py": {"recovery_console.selectors", CLOCK,
                       "recovery_console.rollout.reports"},  # the active waves' panel
    "audit/sampling.py": {"recovery_console.models"},
    "audit/dashboard.py": {"recovery_console.models"},
    "audit/tasks.py": {"recovery_console.monitoring"},  # alerting on a broken chain
    "audit/apps.py": {CLOCK},
    "audit/events.py": {CLOCK},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute, at any depth of its code
    (``from package import module`` counts as ``package.module``)."""
    modules = project_modules()
    package = module_name(path) if path.name == "__init__.py" else \
        module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
    return found


@functools.cache
def project_modules() -> dict[str, Path]:
    return {module_name(p): p for app in ("accounts", "audit", "recovery_console")
            for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts}


def upward_imports(path: Path) -> set[str]:
    return {m for m in imported_modules(path)
            if m == "recovery_console" or m.startswith("recovery_console.")}


LOWER_FILES = sorted(p.relative_to(ROOT).as_posix()
                     for app in ("accounts", "audit") for p in (ROOT / app).rglob("*.py")
                     if "migrations" not in p.parts)


@pytest.mark.parametrize("relative", LOWER_FILES)
def test_accounts_and_audit_import_nothing_from_recovery_console_beyond_what_is_written_down(
        relative):
    found = upward_imports(ROOT / relative)
    allowed = ALLOWED_UPWARD.get(relative, set())
    assert found <= allowed, f"{relative} imports {sorted(found - allowed)} from above"
    assert found >= allowed, f"{relative} no longer needs {sorted(allowed - found)}: " \
                             "remove it from ALLOWED_UPWARD"


def test_the_webauthn_ceremonies_import_nothing_from_recovery_console():
    assert upward_imports(ROOT / "accounts/webauthn.py") == set()


def test_the_scan_sees_imports_inside_functions():
    # The upward imports this issue removed were inside functions.
    assert "recovery_console.channels" in imported_modules(ROOT / "accounts/admin.py")


def test_nothing_the_task_module_runs_imports_the_task_module_back():
    modules = project_modules()
    below, todo = set(), ["recovery_console.tasks"]
    while todo:
        for name in imported_modules(modules[todo.pop()]):
            if name in modules and name not in below and name != "recovery_console.tasks":
                below.add(name)
                todo.append(name)
    assert {"recovery_console.outbox", "recovery_console.schedule",
            "recovery_console.self_service", "recovery_console.workflow"} <= below
    circle = sorted(m for m in below if "recovery_console.tasks" in imported_modules(modules[m]))
    assert circle == []


def test_every_task_queued_by_name_is_a_registered_task():
    from recovery_console import tasks  # noqa: F401  (registers the tasks)
    from recovery_console.celery import app

    sent = set()
    for path in (ROOT / "recovery_console").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and (node.func.value.id, node.func.attr) == ("dispatch", "send")):
                assert isinstance(node.args[0], ast.Constant), f"{path}: name the task literally"
                sent.add(node.args[0].value)
    assert {"deliver_notice", "expire_recovery_case", "resolve_self_service_request"} <= sent
    assert {f"recovery_console.tasks.{name}" for name in sent} <= set(app.tasks)
