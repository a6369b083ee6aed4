"""Every URL of the console, for every role and method, answers as ONE table
below declares. A URL pattern missing from the table fails the suite, so a
new page cannot ship without someone deciding who may reach it.

Each request runs on a fresh client carrying the role's session, inside a
savepoint that is rolled back afterwards, so every role meets the same
world (a POST that would change something is undone before the next one).
GET and HEAD must change nothing, and every HTML page must be servable
under the Content-Security-Policy (no inline script, style or handler).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from auditlog.models import LogEntry
from django.core.cache import cache
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import PasskeyCredential, RecoveryChannel
from audit.models import Finding, SamplingReport
from recovery_console.models import (
    Alert,
    Approval,
    Attestation,
    CaseNote,
    ChannelCode,
    Evidence,
    InvolvementReview,
    Notice,
    RecoveryCase,
    RecoveryCredential,
    RecoverySession,
)

from .world import ROLES, build_world

pytestmark = pytest.mark.django_db

LOGIN = "login"  # 302 to a sign-in page (staff, portal or admin)
METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE")
# How a view answers HEAD, PUT and DELETE (no view accepts them):
METHOD_FIRST = "method_first"  # Django's method decorator answers first: 405 for everyone
GUARD_FIRST = "guard_first"  # the sign-in/role guard answers first, then 405
ANY_METHOD = "any_method"  # no method decorator: the same answer as GET
# A class-based view (django-oauth-toolkit's): HEAD answers as GET, PUT and DELETE
# 405 once past the sign-in guard.
HEAD_AS_GET = "head_as_get"
READY = "200 or 503"  # readiness depends on the beat heartbeat of the machine


def roles(default, **overrides) -> dict:
    unknown = set(overrides) - set(ROLES)
    assert not unknown, unknown
    return {**dict.fromkeys(ROLES, default), **overrides}


@dataclass(frozen=True)
class Row:
    name: str  # URL name, or "admin" for the whole admin site (prefix rule)
    get: dict
    post: dict
    other: str
    args: tuple = ()  # names of world attributes giving the URL's arguments
    public: bool = False  # a page for people outside the desk (anyone may use it)


NOBODY_BUT_AUDITOR = dict(anonymous=LOGIN, auditor=200)

TABLE = [
    # The front door: anyone not signed in reads where to go (recovery request or
    # staff sign-in); staff go to their role's page, anyone else to their passkeys.
    Row("home", roles(302, anonymous=200), roles(405), METHOD_FIRST, public=True),
    # Sign-in, step-up and one's own passkeys.
    Row("accounts:sign_in", roles(200), roles(400), METHOD_FIRST, public=True),
    Row("accounts:sign_out", roles(405), roles(LOGIN), METHOD_FIRST, public=True),
    Row("accounts:passkey_sign_in_options", roles(405), roles(200), METHOD_FIRST, public=True),
    Row("accounts:passkey_sign_in_verify", roles(405), roles(400), METHOD_FIRST, public=True),
    Row("accounts:portal_sign_in", roles(200), roles(200), ANY_METHOD, public=True),
    # An empty POST to a form page shows the unbound form again (Django's
    # ``Form(request.POST or None)``): 200, nothing changed.
    Row("accounts:step_up", roles(200, anonymous=LOGIN), roles(200, anonymous=LOGIN),
        GUARD_FIRST, public=True),
    Row("accounts:step_up_passkey_options", roles(405, anonymous=LOGIN),
        roles(200, anonymous=LOGIN), GUARD_FIRST, public=True),
    Row("accounts:step_up_passkey_verify", roles(405, anonymous=LOGIN),
        roles(400, anonymous=LOGIN), GUARD_FIRST, public=True),
    # One's own time zone for the times pages show (an own-account page like
    # one's passkeys, auditors included): staff only; an empty POST shows the
    # form again.
    Row("accounts:time_zone", roles(200, anonymous=LOGIN, end_user=403),
        roles(200, anonymous=LOGIN, end_user=403), GUARD_FIRST, public=True),
    Row("accounts:passkeys", roles(200, anonymous=LOGIN), roles(200, anonymous=LOGIN),
        ANY_METHOD, public=True),
    Row("accounts:passkey_add", roles(200, anonymous=LOGIN), roles(200, anonymous=LOGIN),
        ANY_METHOD, public=True),
    Row("accounts:passkey_register_options", roles(405, anonymous=LOGIN),
        roles(200, anonymous=LOGIN), GUARD_FIRST, public=True),
    Row("accounts:passkey_register_verify", roles(405, anonymous=LOGIN),
        roles(400, anonymous=LOGIN), GUARD_FIRST, public=True),
    Row("accounts:passkey_revoke", roles(405, anonymous=LOGIN),
        roles(404, anonymous=LOGIN, end_user=LOGIN), GUARD_FIRST, ("passkey",), public=True),
    # The service desk.
    Row("recovery:queue",
        roles(200, anonymous=LOGIN, end_user=403, security_admin=403), roles(405), METHOD_FIRST),
    Row("recovery:open_case", roles(403, anonymous=LOGIN, agent=200, other_agent=200),
        roles(403, anonymous=LOGIN, agent=200, other_agent=200), METHOD_FIRST),
    Row("recovery:case", roles(200, anonymous=LOGIN, end_user=403, other_agent=404),
        roles(405), METHOD_FIRST, ("case",)),
    Row("recovery:claim", roles(405),
        roles(403, anonymous=LOGIN, agent=409, other_agent=404), METHOD_FIRST, ("case",)),
    Row("recovery:unclaim", roles(405),
        roles(403, anonymous=LOGIN, agent=302, other_agent=404), METHOD_FIRST, ("case",)),
    Row("recovery:step", roles(405),
        roles(403, anonymous=LOGIN, agent=400, other_agent=404), METHOD_FIRST, ("case", "step")),
    Row("recovery:request_approval", roles(405),
        roles(403, anonymous=LOGIN, agent=409, other_agent=404), METHOD_FIRST, ("case",)),
    Row("recovery:issue", roles(405),
        roles(403, anonymous=LOGIN, agent=409, other_agent=404), METHOD_FIRST, ("case",)),
    # The page a POST to issue redirects to: the read-out code once, then never.
    Row("recovery:issued", roles(403, anonymous=LOGIN, agent=200, other_agent=404), roles(405),
        METHOD_FIRST, ("issued_case", "credential")),
    # An external restore target's credential, shown once to the holding agent.
    Row("recovery:restore_read_out", roles(405),
        roles(403, anonymous=LOGIN, agent=409, other_agent=404), METHOD_FIRST, ("case",)),
    Row("recovery:case_watch", roles(200, anonymous=LOGIN, end_user=403, other_agent=404),
        roles(405), METHOD_FIRST, ("case",)),
    Row("recovery:fail", roles(405),
        roles(403, anonymous=LOGIN, agent=400, other_agent=404, supervisor=400),
        METHOD_FIRST, ("case",)),
    Row("recovery:escalate", roles(405),
        roles(403, anonymous=LOGIN, agent=400, other_agent=404), METHOD_FIRST, ("case",)),
    Row("recovery:rotation", roles(405),
        roles(403, anonymous=LOGIN, agent=400, other_agent=404), METHOD_FIRST, ("case",)),
    Row("recovery:cancel", roles(405),
        roles(403, anonymous=LOGIN, agent=400, other_agent=404, supervisor=400),
        METHOD_FIRST, ("case",)),
    # Notes: agents who may see the case and supervisors; hand-over: the
    # holding agent; reassigning: supervisors. An empty POST is bad input.
    Row("recovery:add_note", roles(405),
        roles(403, anonymous=LOGIN, agent=400, other_agent=404, supervisor=400),
        METHOD_FIRST, ("case",)),
    Row("recovery:hand_over", roles(405),
        roles(403, anonymous=LOGIN, agent=400, other_agent=404), METHOD_FIRST, ("case",)),
    Row("recovery:reassign", roles(405), roles(403, anonymous=LOGIN, supervisor=400),
        METHOD_FIRST, ("case",)),
    # A supervisor (fresh step-up) reviews a lost passkey's sign-in; an empty
    # POST is bad input.
    Row("recovery:review_lost_device", roles(405), roles(403, anonymous=LOGIN, supervisor=400),
        METHOD_FIRST, ("case",)),
    # Velocity and pressure: the holding agent answers the pressure
    # checklist (the world's case has its answer: 409); a supervisor releases
    # a case past its agent's daily limit (an empty reason is bad input).
    Row("recovery:pressure_checklist", roles(405),
        roles(403, anonymous=LOGIN, agent=409, other_agent=404), METHOD_FIRST, ("case",)),
    Row("recovery:release_issue", roles(405), roles(403, anonymous=LOGIN, supervisor=400),
        METHOD_FIRST, ("case",)),
    # The queue's bulk actions: agents give back, supervisors reassign.
    Row("recovery:give_back_selected", roles(405),
        roles(403, anonymous=LOGIN, agent=400, other_agent=400), METHOD_FIRST),
    Row("recovery:reassign_selected", roles(405), roles(403, anonymous=LOGIN, supervisor=400),
        METHOD_FIRST),
    # Security admins decide governance cases (shared service accounts).
    Row("recovery:approvals", roles(403, anonymous=LOGIN, supervisor=200, security_admin=200),
        roles(405), METHOD_FIRST),
    Row("recovery:decide", roles(403, anonymous=LOGIN, supervisor=200, security_admin=200),
        roles(403, anonymous=LOGIN, supervisor=200, security_admin=200), METHOD_FIRST,
        ("case",)),
    # Pages of people being recovered and of their attesters.
    Row("recovery:outbox", roles(404), roles(405), METHOD_FIRST, public=True),
    Row("recovery:attestation", roles(200), roles(400), METHOD_FIRST, ("attestation_token",),
        public=True),
    Row("recovery:self_service", roles(200), roles(400), METHOD_FIRST, public=True),
    Row("recovery:enrol", roles(403), roles(405), METHOD_FIRST, public=True),
    Row("recovery:enrol_options", roles(405), roles(403), METHOD_FIRST, public=True),
    Row("recovery:enrol_verify", roles(405), roles(403), METHOD_FIRST, public=True),
    Row("recovery:recovered", roles(200), roles(405), METHOD_FIRST, public=True),
    Row("recovery:redeem", roles(200), roles(400), METHOD_FIRST, ("handle",), public=True),
    Row("recovery:redeem_read_out", roles(200), roles(400), METHOD_FIRST, public=True),
    Row("recovery:repudiate", roles(200), roles(400), METHOD_FIRST, ("unknown_token",),
        public=True),
    # Security admins: alerts and stale channels.
    Row("recovery:alerts", roles(403, anonymous=LOGIN, security_admin=200),
        roles(403, anonymous=LOGIN, security_admin=405), GUARD_FIRST),
    Row("recovery:alerts_acknowledge", roles(403, anonymous=LOGIN, security_admin=405),
        roles(403, anonymous=LOGIN, security_admin=400), GUARD_FIRST),
    # A security admin allows one more recovery of a person refused for
    # velocity (an empty reason is bad input).
    Row("recovery:allow_recovery", roles(405),
        roles(403, anonymous=LOGIN, security_admin=400), METHOD_FIRST, ("alert",)),
    Row("recovery:stale_channels", roles(403, anonymous=LOGIN, security_admin=200),
        roles(403, anonymous=LOGIN, security_admin=400), GUARD_FIRST),
    # Reviews of staff involved in a repudiated recovery: security admins and
    # auditors read them; only a security admin closes one (an empty POST is
    # bad input; the auditor's POST is refused by the decision, audited).
    Row("recovery:reviews", roles(403, anonymous=LOGIN, security_admin=200, auditor=200),
        roles(403, anonymous=LOGIN, security_admin=405, auditor=405), GUARD_FIRST),
    Row("recovery:review", roles(403, anonymous=LOGIN, security_admin=200, auditor=200),
        roles(403, anonymous=LOGIN, security_admin=400, auditor=403), GUARD_FIRST, ("review",)),
    # Passkey rollout: security admins edit cohorts, plans and waves. An empty
    # POST is bad input, except the pilot sample (naming nobody is a choice)
    # and ending an exception (nothing to give).
    *(Row(f"rollout:{name}", roles(403, anonymous=LOGIN, security_admin=200),
          roles(403, anonymous=LOGIN, security_admin=post), GUARD_FIRST, args)
      for name, post, args in (("plans", 405, ()), ("plan_new", 400, ()),
                               ("plan", 405, ("rollout_plan",)),
                               ("plan_edit", 400, ("rollout_plan",)),
                               ("cohorts", 405, ()), ("cohort_new", 400, ()),
                               ("cohort_edit", 400, ("cohort",)), ("wave", 405, ("wave",)))),
    *(Row(f"rollout:{name}", roles(403, anonymous=LOGIN, security_admin=405),
          roles(403, anonymous=LOGIN, security_admin=post), GUARD_FIRST, args)
      for name, post, args in (("wave_add", 400, ("rollout_plan",)),
                               ("wave_order", 400, ("rollout_plan",)),
                               ("wave_move", 400, ("wave",)), ("wave_pilot", 302, ("wave",)),
                               ("exception_add", 400, ("wave",)),
                               ("exception_end", 302, ("wave_exception",)))),
    # Passkey rollout, the person's side: their status page (anyone signed in),
    # snoozing their own invitation (nobody here has one: 404), the enrolment
    # link (never instead of signing in; an unknown link: 404). A security
    # admin invites a wave's members (no such wave: 404).
    Row("invitations:my_rollout", roles(200, anonymous=LOGIN), roles(405, anonymous=LOGIN),
        GUARD_FIRST, public=True),
    Row("invitations:snooze", roles(405, anonymous=LOGIN), roles(404, anonymous=LOGIN),
        GUARD_FIRST, ("unknown_id",), public=True),
    Row("invitations:enrolment_link", roles(404, anonymous=LOGIN), roles(405), METHOD_FIRST,
        ("unknown_token",), public=True),
    Row("invitations:invite", roles(403, anonymous=LOGIN, security_admin=405),
        roles(403, anonymous=LOGIN, security_admin=404), GUARD_FIRST, ("unknown_id",)),
    # Passkey rollout, enforcement: the portal's sign-in without a passkey (an
    # empty POST is bad input); a wave's would-be refusals (security admins
    # and auditors read them); its pause, which only security admins resume
    # (the world's wave is not paused: an empty note is bad input first).
    Row("enforcement:password_sign_in", roles(200), roles(400), METHOD_FIRST, public=True),
    Row("enforcement:would_refuse",
        roles(403, anonymous=LOGIN, security_admin=200, auditor=200),
        roles(403, anonymous=LOGIN, security_admin=405, auditor=405), GUARD_FIRST, ("wave",)),
    Row("enforcement:would_refuse_csv",
        roles(403, anonymous=LOGIN, security_admin=200, auditor=200),
        roles(403, anonymous=LOGIN, security_admin=405, auditor=405), GUARD_FIRST, ("wave",)),
    Row("enforcement:wave_pause", roles(403, anonymous=LOGIN, security_admin=200, auditor=200),
        roles(403, anonymous=LOGIN, security_admin=400), GUARD_FIRST, ("wave",)),
    # Machines: probes and metrics (no METRICS_TOKEN in tests: 404).
    Row("healthz", roles(200), roles(405), METHOD_FIRST, public=True),
    Row("readyz", roles(READY), roles(405), METHOD_FIRST, public=True),
    Row("metrics", roles(404), roles(405), METHOD_FIRST, public=True),
    # Audit: auditors only; they change nothing but their own samples and findings.
    Row("audit:dashboard", roles(403, **NOBODY_BUT_AUDITOR),
        roles(403, anonymous=LOGIN, auditor=405), GUARD_FIRST),
    Row("audit:dashboard_csv", roles(403, **NOBODY_BUT_AUDITOR),
        roles(403, anonymous=LOGIN, auditor=405), GUARD_FIRST, ("chart",)),
    Row("audit:reports", roles(403, **NOBODY_BUT_AUDITOR),
        roles(403, anonymous=LOGIN, auditor=200), GUARD_FIRST),
    Row("audit:report", roles(403, **NOBODY_BUT_AUDITOR),
        roles(403, anonymous=LOGIN, auditor=405), GUARD_FIRST, ("report",)),
    Row("audit:report_print", roles(403, **NOBODY_BUT_AUDITOR),
        roles(403, anonymous=LOGIN, auditor=405), GUARD_FIRST, ("report",)),
    Row("audit:report_csv", roles(403, **NOBODY_BUT_AUDITOR),
        roles(403, anonymous=LOGIN, auditor=405), GUARD_FIRST, ("report",)),
    Row("audit:sampled_case", roles(403, **NOBODY_BUT_AUDITOR),
        roles(403, anonymous=LOGIN, auditor=200), GUARD_FIRST, ("report", "sampled_case_id")),
    # Passkey readiness reports: security admins and auditors read them.
    Row("rollout:readiness", roles(403, anonymous=LOGIN, auditor=200, security_admin=200),
        roles(403, anonymous=LOGIN, auditor=405, security_admin=405), GUARD_FIRST),
    Row("rollout:readiness_csv", roles(403, anonymous=LOGIN, auditor=200, security_admin=200),
        roles(403, anonymous=LOGIN, auditor=405, security_admin=405), GUARD_FIRST,
        ("readiness_chart",)),
    # SCIM (directory clients, by bearer token): a session is no token.
    *(Row(f"scim:{name}", roles(401), roles(401), ANY_METHOD, args, public=True)
      for name, args in (("users", ()), ("user", ("scim_id",)), ("groups", ()),
                         ("group", ("scim_id",)), ("config", ()),
                         ("resource_types", ()), ("resource_type", ("scim_type",)),
                         ("schemas", ()), ("schema", ("scim_schema",)))),
    # The identity verification provider's signed callback (no session, no CSRF):
    # POST only; with no provider configured (the world's case) nobody is answered.
    Row("idv:callback", roles(405), roles(404), METHOD_FIRST, public=True),
    # Sign-in events in: the HMAC signature is the only credential (a session
    # counts for nothing); an unsigned form POST is the wrong content type.
    Row("signin_events:receive", roles(405), roles(415), METHOD_FIRST, public=True),
    # The built-in OpenID provider (its own answers, RFC 6749 / OpenID Connect):
    # the authorization endpoint signs in through the portal; without a client_id
    # it refuses on a page (400), and a POST (no consent form is ever shown) is 400.
    Row("oauth2_provider:authorize", roles(400, anonymous=LOGIN),
        roles(400, anonymous=LOGIN), HEAD_AS_GET, public=True),
    # The back channel: applications authenticate with their own credentials.
    Row("oauth2_provider:token", roles(405), roles(400), METHOD_FIRST, public=True),
    Row("oauth2_provider:user-info", roles(401), roles(401), HEAD_AS_GET, public=True),
    Row("oauth2_provider:oidc-connect-discovery-info", roles(200), roles(405), HEAD_AS_GET,
        public=True),
    Row("oauth2_provider:jwks-info", roles(200), roles(405), HEAD_AS_GET, public=True),
    # The whole Django admin (OTPAdminSite): staff flag and a verified second factor.
    Row("admin", roles(LOGIN, security_admin=200), roles(LOGIN, security_admin=200),
        ANY_METHOD),
]
ROWS = {row.name: row for row in TABLE}
AUDITOR_MAY_POST = {"audit:reports", "audit:sampled_case"}


def url_patterns(resolver=None, prefix="", namespace=None):
    """(route, namespaced name) of every URL pattern, recursively."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = entry.namespace or namespace
            if namespace and entry.namespace:
                inner = f"{namespace}:{entry.namespace}"
            yield from url_patterns(entry, route, inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield route, name


def row_for(route: str, name: str | None) -> str:
    return "admin" if route.startswith("admin/") else name or route


def test_every_url_pattern_is_declared_in_the_table():
    found = {row_for(route, name) for route, name in url_patterns()}
    assert found - set(ROWS) == set(), "URL patterns missing from the table"
    assert set(ROWS) - found == set(), "table rows naming no URL pattern"


def test_auditors_can_post_nowhere_but_their_samples_and_findings():
    for row in TABLE:
        if row.public or row.get["auditor"] != 200 or row.name in AUDITOR_MAY_POST:
            continue
        assert row.post["auditor"] in (403, 404, 405), row.name
    for name in AUDITOR_MAY_POST:
        assert ROWS[name].get["auditor"] == 200


def expected(row: Row, role: str, method: str):
    if method in ("GET", "POST"):
        return (row.get if method == "GET" else row.post)[role]
    if row.other == ANY_METHOD:
        return row.get[role]
    if row.other == HEAD_AS_GET:
        return row.get[role] if method == "HEAD" or row.get[role] == LOGIN else 405
    if row.other == GUARD_FIRST and row.get[role] in (LOGIN, 403):
        return row.get[role]
    return 405


def fingerprint() -> tuple:
    """What any decision would change: states, rows, audit entries."""
    return (
        tuple(RecoveryCase.objects.order_by("pk").values_list("pk", "state", "agent_id")),
        tuple(PasskeyCredential.objects.order_by("pk").values_list("pk", "revoked_at")),
        tuple(RecoveryChannel.objects.order_by("pk").values_list("pk", "revoked_at")),
        tuple(Alert.objects.order_by("pk").values_list("pk", "acknowledged_at")),
        tuple(InvolvementReview.objects.order_by("pk").values_list("pk", "closed_at")),
        *(model.objects.count() for model in (
            Evidence, CaseNote, Approval, ChannelCode, Attestation, RecoveryCredential,
            RecoverySession, Notice, SamplingReport, Finding, LogEntry)),
    )


INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=", re.IGNORECASE)


def answer(world, role: str, method: str, url: str, *, unchanged: bool = True):
    """``role``'s answer, in a savepoint rolled back after; a GET or HEAD must
    change nothing (``unchanged=False`` skips that check, for readers of pages)."""
    cache.clear()  # rate-limit counters: every request starts from nothing
    with transaction.atomic():
        before = fingerprint() if unchanged and method in ("GET", "HEAD") else None
        response = getattr(world.client(role), method.lower())(url)
        if response.streaming:
            b"".join(response.streaming_content)
        if before is not None:
            assert fingerprint() == before, f"{method} {url} as {role} changed something"
        transaction.set_rollback(True)
    return response


def outcome(response):
    if response.status_code in (200, 503) and response.request["PATH_INFO"] == "/readyz":
        return READY
    if response.status_code == 302 and re.search(r"/(sign-in|login)/", response.url):
        return LOGIN
    return response.status_code


def url_of(row: Row, world) -> str:
    if row.name == "admin":
        return reverse("admin:index")
    args = []
    for name in row.args:
        value = world.issued.credential.handle if name == "handle" else getattr(world, name)
        args.append(getattr(value, "pk", value))
    return reverse(row.name, args=args)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module inside a transaction rolled back at its end;
    each test's own savepoint (and each request's) sits inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
def test_each_url_answers_every_role_and_method_as_declared(world, row):
    url = url_of(row, world)
    wanted, got = {}, {}
    for role in ROLES:
        for method in METHODS:
            response = answer(world, role, method, url)
            wanted[role, method], got[role, method] = expected(row, role, method), \
                outcome(response)
            if method == "GET" and response.status_code == 200 and \
                    response.get("Content-Type", "").startswith("text/html"):
                page = response.content.decode()
                assert not INLINE.search(page), f"inline script/style on {url} as {role}"
                policy = response["Content-Security-Policy"]
                assert "unsafe-inline" not in policy and "script-src 'self'" in policy
    wrong = {f"{role} {method}": f"declared {wanted[role, method]}, got {got[role, method]}"
             for role, method in wanted if wanted[role, method] != got[role, method]}
    assert not wrong, f"{url}: {wrong}"
