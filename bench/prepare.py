"""What the load generator needs, written straight to the benchmark database:
signed-in staff sessions (as after password + TOTP) and, for each
state-changing action, fresh cases ready for it, one per request.

Request files hold one request a line: METHOD<TAB>PATH<TAB>BODY (bench/wrk.lua).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from importlib import import_module
from pathlib import Path
from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.roles import Role
from accounts.stepup import SIGNED_IN_AT, STEP_UP_AT, STEP_UP_DEVICE
from recovery_console.management.commands.generate_bench_data import BenchData
from recovery_console.models import RecoveryCase, RecoveryCredential, ScriptStep

State = RecoveryCase.State
# Models the fresh objects were copied into, analysed once they are committed.
_WRITTEN: set[str] = set()
CSRF = secrets.token_hex(16)  # a 32-character CSRF secret: cookie and form field
REDEEM_CODE = "BENCH-BENCH-BENCH-BENCH"  # what generate_bench_data's credentials hash


def staff_user(role: str) -> User:
    return User.objects.filter(username__startswith=f"bench-{role}-").order_by("username").first()


def signed_in_cookie(user: User | None) -> str:
    """A Cookie header: a session verified by the user's TOTP device and
    stepped up just now (valid for STEP_UP_MAX_AGE_SECONDS), and a CSRF cookie."""
    cookies = [f"{settings.CSRF_COOKIE_NAME}={CSRF}"]
    if user is not None:
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        device = TOTPDevice.objects.get(user=user)
        now = timezone.now().isoformat()
        store["_auth_user_id"] = str(user.pk)
        store["_auth_user_backend"] = "accounts.backends.StaffBackend"
        store["_auth_user_hash"] = user.get_session_auth_hash()
        store[DEVICE_ID_SESSION_KEY] = device.persistent_id
        store[SIGNED_IN_AT] = now
        store[STEP_UP_AT] = now
        store[STEP_UP_DEVICE] = device.persistent_id
        store.create()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={store.session_key}")
    return "; ".join(cookies)


def write(path: Path, lines: list[tuple[str, str, str]]) -> Path:
    path.write_text("".join(f"{m}\t{p}\t{b}\n" for m, p, b in lines))
    return path


PAGE_ROLES = {"baseline": None, "baseline_staff": Role.AGENT, "queue": Role.AGENT,
              "queue_filtered": Role.AGENT, "queue_search": Role.AGENT, "case": Role.SUPERVISOR,
              "approvals": Role.SUPERVISOR}


def search_requests(count: int = 5) -> list[tuple[str, str, str]]:
    """Searches an agent types into the queue, each finding an unclaimed open
    case: a surname (many people share it), a whole name, a directory id, an
    email channel, a phone channel, and a case number."""
    opened = (RecoveryCase.objects.filter(state__in=RecoveryCase.OPEN_STATES, agent__isnull=True)
              .select_related("identity").order_by("pk")[:count])
    searches = []
    for case in opened:
        channels = {c.kind: c.address for c in case.identity.channels.all()}
        searches += [case.identity.display_name.split()[1], case.identity.display_name,
                     case.identity.directory_id, channels["email"], channels["phone"],
                     f"#{case.pk}"]
    return [("GET", f"/queue/?{urlencode({'q': q})}", "") for q in searches]


def page_requests(folder: Path) -> dict[str, Path]:
    """GET requests for the pages: the case page over 500 closed cases with a
    full history (a different one each request), the queue's search by each
    kind of key (search_requests)."""
    cases = list(RecoveryCase.objects.filter(state=State.COMPLETED, tier__in=["high", "medium"])
                 .order_by("-opened_at").values_list("pk", flat=True)[:500])
    return {
        "baseline": write(folder / "baseline.txt", [("GET", "/bench/baseline/", "")]),
        "baseline_staff": write(folder / "baseline_staff.txt",
                                [("GET", "/bench/baseline/signed-in/", "")]),
        "queue": write(folder / "queue.txt", [("GET", "/queue/", "")]),
        "queue_filtered": write(folder / "queue_filtered.txt", [
            ("GET", f"/queue/?status=all&tier={tier}&page={page}", "")
            for tier in ("low", "medium", "high") for page in (2, 7, 20)]),
        "queue_search": write(folder / "queue_search.txt", search_requests()),
        "case": write(folder / "case.txt", [("GET", f"/cases/{pk}/", "") for pk in cases]),
        "approvals": write(folder / "approvals.txt", [("GET", "/approvals/", "")]),
    }


def _fresh(label: str, count: int, tier: str, state: str, *, seed: int,
           **case_options) -> tuple[BenchData, list[tuple[int, dict]]]:
    data = BenchData(seed=seed, audit=False)
    data.load_staff()
    made = data.make_identities(count, label=f"{label}{secrets.token_hex(3)}-")
    opened = data.now - timedelta(hours=3)
    cases = [(data.case(identity, tier, state, opened, **case_options), identity)
             for identity in made]
    return data, cases


@transaction.atomic
def evidence_requests(folder: Path, count: int) -> Path:
    """Medium-tier cases held by the first agent, code step passed: each
    request records the callback step (which verifies and approves the case)."""
    agent = staff_user(Role.AGENT)
    data, cases = _fresh("evidence", count, "medium", State.VERIFYING, seed=11, agent=agent.pk)
    code, callback = (data.policies["medium"][2][0], data.policies["medium"][2][1])
    assert (code.kind, callback.kind) == (ScriptStep.Kind.CHANNEL_CODE, ScriptStep.Kind.CALLBACK)
    for pk, identity in cases:
        data.evidence(pk, code, agent.pk, data.now - timedelta(minutes=5), identity)
    data.finish()
    _WRITTEN.update(data.out.counts)
    body = urlencode({"action": "record", "result": "passed",
                      "note": "Same voice, confirmed the request.", "csrfmiddlewaretoken": CSRF})
    return write(folder / "evidence.txt",
                 [("POST", f"/cases/{pk}/steps/{callback.pk}/", body) for pk, _ in cases])


@transaction.atomic
def approval_requests(folder: Path, count: int) -> Path:
    """High-tier cases verified by agents and awaiting one supervisor."""
    data, cases = _fresh("approval", count, "high", State.AWAITING_APPROVAL, seed=12)
    data.finish()
    _WRITTEN.update(data.out.counts)
    body = urlencode({"decision": "approve", "reason": "Evidence is complete.",
                      "csrfmiddlewaretoken": CSRF})
    return write(folder / "approval.txt", [("POST", f"/approvals/{pk}/", body) for pk, _ in cases])


@transaction.atomic
def redemption_requests(folder: Path, count: int) -> Path:
    """Cases with a live recovery credential whose code is REDEEM_CODE."""
    expires = timezone.now() + timedelta(hours=1)
    data, cases = _fresh("redeem", count, "medium", State.CREDENTIAL_ISSUED, seed=13,
                         credential_expires=expires)
    data.finish()
    _WRITTEN.update(data.out.counts)
    handles = RecoveryCredential.objects.filter(
        case_id__in=[pk for pk, _ in cases]).values_list("handle", flat=True)
    body = urlencode({"code": REDEEM_CODE, "passkeys": "supported", "csrfmiddlewaretoken": CSRF})
    return write(folder / "redeem.txt", [("POST", f"/recover/{h}/", body) for h in handles])


@transaction.atomic
def due_credentials(count: int) -> list[int]:
    """Cases whose recovery credential ran out unredeemed a minute ago: what
    the expiry sweep must close."""
    expired = timezone.now() - timedelta(minutes=1)
    data, cases = _fresh("sweep", count, "medium", State.CREDENTIAL_ISSUED, seed=14,
                         credential_expires=expired)
    data.finish()
    _WRITTEN.update(data.out.counts)
    return [pk for pk, _ in cases]


def _analyse_written() -> None:
    """ANALYZE the tables the fresh objects went into, as generate_bench_data
    does after its load. Thousands of rows a statistics-less planner has never
    seen (autovacuum is off on the benchmark server) are not what a production
    database has: the planner estimated one live recovery credential and chose
    the partial expiry index for a redemption's UPDATE by handle, reading every
    prepared credential (about 2.5 ms of PostgreSQL CPU per UPDATE, twice per
    redemption, with 15,000 prepared), instead of the handle's unique index."""
    tables = sorted({apps.get_model(label)._meta.db_table for label in _WRITTEN})
    _WRITTEN.clear()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def main(argv: list[str]) -> dict:
    """python -m bench.measure prepare pages FOLDER | evidence|approval|redeem FOLDER COUNT"""
    what, folder = argv[0], Path(argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    if what == "pages":
        return {name: {"file": str(path),
                       "cookie": signed_in_cookie(staff_user(PAGE_ROLES[name])
                                                  if PAGE_ROLES[name] else None)}
                for name, path in page_requests(folder).items()}
    count = int(argv[2])
    build, role = {"evidence": (evidence_requests, Role.AGENT),
                   "approval": (approval_requests, Role.SUPERVISOR),
                   "redeem": (redemption_requests, None)}[what]
    path = build(folder, count)
    _analyse_written()
    return {"file": str(path), "cookie": signed_in_cookie(staff_user(role) if role else None)}

