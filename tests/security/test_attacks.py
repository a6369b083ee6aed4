"""Attacks on the recovery door, through HTTP as an attacker would send them.

Already proven elsewhere, and not repeated here:
- separation of duties: tests/recovery/test_approval.py (the agent who worked
  the case, the subject, the same supervisor twice, agents on approval pages);
- single use and replay of credentials, codes and passkey responses, voided
  credentials on reissue, a code of another case: tests/recovery/
  test_credential.py, test_workflow.py, tests/accounts/test_passkeys.py;
- skipped steps and forged state or tier fields: tests/recovery/
  test_case_pages.py; GET never changes anything and every role meets every
  URL as declared: tests/security/test_url_matrix.py;
- staff sign-in counting and its safe ``next``: tests/accounts/test_staff_sign_in.py.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import timedelta
from types import SimpleNamespace

import django_ratelimit.core
import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import ratelimit
from accounts.models import User
from recovery_console import clock, workflow
from recovery_console.models import (
    Approval,
    ChannelCode,
    Evidence,
    Notice,
    RecoveryCase,
    RecoveryCredential,
    RecoverySession,
)
from recovery_console.ops.logs import ContextFilter, JsonFormatter
from tests.factories import (
    PASSWORD,
    TOTPDeviceFactory,
    UserFactory,
    current_totp,
    recovery_case,
    staff,
)
from tests.recovery.support import (
    approved,
    channel_of,
    code_sent,
    events,
    redeeming,
    refusals,
    resolve_self_service_requests,
    step_of,
    verify,
)
from tests.services import race
from tests.sessions import passkey_for, sign_in_client
from tests.soft_authenticator import SoftAuthenticator

from .test_url_matrix import INLINE, LOGIN, TABLE, fingerprint, outcome
from .world import ROLES, build_world

State = RecoveryCase.State
ORIGIN = "http://localhost:8000"


@pytest.fixture
def webauthn_origin(settings):
    settings.WEBAUTHN_ORIGINS = [ORIGIN]


def post_json(client, url, payload=None):
    return client.post(url, json.dumps(payload or {}), content_type="application/json")


def awaiting_approval(tier="high"):
    agent = staff("agent")
    case = verify(recovery_case(tier, agent=agent), agent)
    workflow.request_approval(case, agent)
    case.refresh_from_db()
    return case, agent


def decide_url(case):
    return reverse("recovery:decide", args=[case.pk])


def redeem_url(credential):
    return reverse("recovery:redeem", args=[credential.handle])


def step_url(case, kind="channel_code"):
    return reverse("recovery:step", args=[case.pk, step_of(case, kind).pk])


def travel(monkeypatch, to):
    monkeypatch.setattr(clock, "now", lambda: to)


def later_window(monkeypatch, limit):
    """Move the rate limiter's clock (django-ratelimit's) one whole window on."""
    start = time.time()
    monkeypatch.setattr(django_ratelimit.core, "time",
                        SimpleNamespace(time=lambda: start + limit.value("window")))


# --- separation of duties -----------------------------------------------------

@pytest.mark.django_db
def test_a_superuser_without_the_supervisor_role_cannot_approve():
    case, _agent = awaiting_approval()
    boss = UserFactory(is_superuser=True, is_staff=True)
    TOTPDeviceFactory(user=boss)
    client = sign_in_client(Client(), boss)
    response = client.post(decide_url(case), {"decision": "approve", "reason": "I am root."})
    assert response.status_code == 403
    as_agent = staff("agent", is_superuser=True)
    response = sign_in_client(Client(), as_agent).post(
        decide_url(case), {"decision": "approve", "reason": "Agent and root."})
    assert response.status_code == 403
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.approve(case, boss, "Directly.", step_up={"device": "x",
                                                           "at": timezone.now().isoformat()})
    assert refused.value.reason == "role"
    assert not Approval.objects.exists()
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL


# --- races (PostgreSQL, real threads, own connections) ------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("recovery_reference_data")
def test_sixteen_concurrent_approvals_exactly_one_wins(on_postgres):
    case, _agent = awaiting_approval("high")
    clients = [sign_in_client(Client(), staff("supervisor")) for _ in range(16)]
    statuses, _ = race(*[
        (lambda c=c: c.post(decide_url(case), {"decision": "approve", "reason": "Fine."})
         .status_code) for c in clients])
    assert sorted(statuses) == [302] + [409] * 15
    assert Approval.objects.filter(case=case).count() == 1
    case.refresh_from_db()
    assert case.state == State.APPROVED
    assert events("case_approved").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("recovery_reference_data")
def test_sixteen_concurrent_redemptions_exactly_one_wins(on_postgres):
    agent = staff("agent")
    case = approved(recovery_case("low", agent=agent), agent)
    issued = workflow.issue_credential(case, agent)
    url = redeem_url(issued.credential)
    clients = [Client(REMOTE_ADDR=f"198.51.100.{i + 1}") for i in range(16)]
    statuses, _ = race(*[(lambda c=c: c.post(url, redeeming(issued.code)).status_code)
                         for c in clients])
    assert statuses.count(302) == 1
    assert set(statuses) <= {302, 400, 429}
    assert RecoverySession.objects.filter(case=case).count() == 1
    issued.credential.refresh_from_db()
    assert issued.credential.used_at is not None
    assert issued.credential.attempts <= issued.credential.max_attempts


# --- deadlines, to the second -------------------------------------------------

@pytest.fixture
def agent_client(agent):
    return sign_in_client(Client(), agent)


@pytest.mark.django_db
@pytest.mark.parametrize("offset, works", [(-1, True), (0, False), (1, False)])
def test_a_credential_works_until_one_second_before_its_deadline(
        agent, monkeypatch, offset, works):
    case = approved(recovery_case("low", agent=agent), agent)
    issued = workflow.issue_credential(case, agent)
    travel(monkeypatch, issued.credential.expires_at + timedelta(seconds=offset))
    response = Client().post(redeem_url(issued.credential), redeeming(issued.code))
    assert response.status_code == (302 if works else 400)
    assert RecoverySession.objects.exists() == works
    assert refusals("credential_redeem", "expired").exists() != works


@pytest.mark.django_db
@pytest.mark.parametrize("offset, works", [(-1, True), (0, False), (1, False)])
def test_a_channel_code_works_until_one_second_before_its_deadline(
        agent, agent_client, monkeypatch, offset, works):
    case = recovery_case("low", agent=agent)
    agent_client.post(step_url(case), {"action": "send", "channel": channel_of(case).pk})
    sent = ChannelCode.objects.get(case=case)
    travel(monkeypatch, sent.expires_at + timedelta(seconds=offset))
    response = agent_client.post(step_url(case), {"action": "check", "code": code_sent(case)})
    assert response.status_code == (302 if works else 409)
    case.refresh_from_db()
    assert (case.state == State.APPROVED) == works


@pytest.mark.django_db
@pytest.mark.parametrize("offset, works", [(-1, True), (0, False), (1, False)])
def test_a_recovery_session_works_until_one_second_before_its_deadline(
        agent, monkeypatch, offset, works):
    case = approved(recovery_case("low", agent=agent), agent)
    issued = workflow.issue_credential(case, agent)
    client = Client()
    client.post(redeem_url(issued.credential), redeeming(issued.code))
    session = RecoverySession.objects.get(case=case)
    travel(monkeypatch, session.expires_at + timedelta(seconds=offset))
    assert client.get(reverse("recovery:enrol")).status_code == (200 if works else 403)


@pytest.mark.django_db
@pytest.mark.parametrize("age, works", [(timedelta(minutes=5, seconds=-1), True),
                                        (timedelta(minutes=5, seconds=1), False)])
def test_a_step_up_counts_for_five_minutes_to_the_second(age, works):
    case, _agent = awaiting_approval()
    client = sign_in_client(Client(), staff("supervisor"), stepped_up_ago=age)
    response = client.get(decide_url(case))
    assert response.status_code == (200 if works else 302)
    if not works:
        assert response.url.startswith(reverse("accounts:step_up"))


# --- voiding, binding, counting -----------------------------------------------

@pytest.mark.django_db
def test_sending_a_new_code_voids_the_previous_one(agent, agent_client):
    case = recovery_case("low", agent=agent)
    agent_client.post(step_url(case), {"action": "send", "channel": channel_of(case).pk})
    first = code_sent(case)
    agent_client.post(step_url(case), {"action": "send", "channel": channel_of(case, "email").pk})
    second = code_sent(case)
    if first != second:  # one chance in a million that there is nothing to tell apart
        agent_client.post(step_url(case), {"action": "check", "code": first})
        case.refresh_from_db()
        assert case.state == State.VERIFYING
    agent_client.post(step_url(case), {"action": "check", "code": second})
    case.refresh_from_db()
    assert case.state == State.APPROVED


@pytest.mark.django_db
def test_a_code_sent_for_another_case_does_not_pass_this_one(agent, agent_client):
    mine, theirs = recovery_case("low", agent=agent), recovery_case("low", agent=agent)
    agent_client.post(step_url(mine), {"action": "send", "channel": channel_of(mine).pk})
    agent_client.post(step_url(theirs), {"action": "send", "channel": channel_of(theirs).pk})
    if code_sent(mine) != code_sent(theirs):  # else nothing to tell apart (1 in 10**6)
        agent_client.post(step_url(mine), {"action": "check", "code": code_sent(theirs)})
        mine.refresh_from_db()
        assert mine.state == State.VERIFYING
        assert Evidence.objects.get(case=mine).result == Evidence.Result.FAILED


@pytest.mark.django_db
def test_redemption_attempts_are_counted_per_credential_across_sessions_and_addresses(agent):
    case = approved(recovery_case("low", agent=agent), agent)
    issued = workflow.issue_credential(case, agent)
    for i in range(issued.credential.max_attempts):
        response = Client(REMOTE_ADDR=f"203.0.113.{i + 1}").post(
            redeem_url(issued.credential), redeeming("AAAAA-BBBBB-CCCCC-DDDDD"))
        assert response.status_code == 400
    response = Client(REMOTE_ADDR="203.0.113.99").post(redeem_url(issued.credential),
                                                       redeeming(issued.code))
    assert response.status_code == 400
    assert "cannot be used" in response.content.decode()
    issued.credential.refresh_from_db()
    assert issued.credential.attempts == issued.credential.max_attempts
    assert not RecoverySession.objects.exists()
    assert refusals("credential_redeem", "too_many_attempts").exists()


@pytest.mark.django_db
def test_code_checks_are_counted_per_code_across_the_agents_sessions(agent):
    case = recovery_case("low", agent=agent)
    first, second = sign_in_client(Client(), agent), sign_in_client(Client(), agent)
    first.post(step_url(case), {"action": "send", "channel": channel_of(case).pk})
    right = code_sent(case)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for n in range(5):
        (first if n % 2 else second).post(step_url(case), {"action": "check", "code": wrong})
    response = first.post(step_url(case), {"action": "check", "code": right})
    assert response.status_code == 409
    assert ChannelCode.objects.get(case=case).attempts == 5
    case.refresh_from_db()
    assert case.state == State.VERIFYING


# --- forged fields ------------------------------------------------------------

@pytest.mark.django_db
def test_forged_step_up_and_approver_fields_are_ignored():
    case, agent = awaiting_approval()
    supervisor, other = staff("supervisor"), staff("supervisor")
    client = sign_in_client(Client(), supervisor, stepped_up_ago=timedelta(minutes=30))
    forged = {"decision": "approve", "reason": "Fine.", "approver": other.pk,
              "step_up_at": timezone.now().isoformat(), "step_up_device": "otp_totp.totpdevice/1",
              "state": "approved"}
    response = client.post(decide_url(case), forged)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:step_up"))
    response = sign_in_client(Client(), agent).post(
        reverse("recovery:issue", args=[case.pk]), {"state": "approved", "case": case.pk})
    assert response.status_code == 409
    assert not Approval.objects.exists() and not RecoveryCredential.objects.exists()
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL


# --- IDOR: every object id ----------------------------------------------------

@pytest.mark.django_db
def test_every_object_id_outside_the_viewers_reach_is_404():
    world = build_world()
    case, missing = world.case, 10**9
    other_script_step = step_of(RecoveryCase.objects.exclude(script=case.script).first(),
                                "channel_code")
    someone_elses = passkey_for(staff("agent"))[0]
    report_pk, sampled = world.report.pk, world.sampled_case_id
    not_sampled = RecoveryCase.objects.exclude(pk=sampled).first().pk
    probes = [
        *[("agent", "post", name, [missing]) for name in
          ("claim", "unclaim", "request_approval", "issue", "cancel")],
        ("agent", "get", "case", [missing]),
        ("other_agent", "get", "case", [case.pk]),
        ("other_agent", "post", "claim", [case.pk]),
        ("agent", "post", "step", [case.pk, other_script_step.pk]),
        ("agent", "post", "step", [case.pk, missing]),
        ("supervisor", "get", "decide", [missing]),
        ("supervisor", "post", "cancel", [missing]),
        ("auditor", "get", "audit:report", [missing]),
        ("auditor", "get", "audit:report_print", [missing]),
        ("auditor", "get", "audit:report_csv", [missing]),
        ("auditor", "get", "audit:sampled_case", [report_pk, not_sampled]),
        ("auditor", "get", "audit:sampled_case", [missing, sampled]),
        ("end_user", "post", "accounts:passkey_revoke", [someone_elses.pk]),
        ("anonymous", "get", "recovery:attestation", ["not-a-real-token"]),
    ]
    wrong = []
    for role, method, name, args in probes:
        name = name if ":" in name else f"recovery:{name}"
        url = reverse(name, args=args)
        with transaction.atomic():
            status = getattr(world.client(role), method)(url).status_code
            transaction.set_rollback(True)
        if status != 404:
            wrong.append((role, method, url, status))
    with transaction.atomic():  # bulk acknowledgement names its alerts in the form
        url = reverse("recovery:alerts_acknowledge")
        status = world.client("security_admin").post(url, {"alert": [missing]}).status_code
        transaction.set_rollback(True)
    if status != 404:
        wrong.append(("security_admin", "post", url, status))
    assert not wrong


# --- CSRF ---------------------------------------------------------------------

def _acting_role(row) -> str | None:
    """A role whose POST reaches the view (not refused before it). A signed-in
    person sent to sign in was sent by the view itself (sign-out, revoking the
    passkey of this very session)."""
    for role in ROLES:
        refused_before = row.post[role] in (403, 404, 405) or \
            (row.post[role] == LOGIN and role == "anonymous")
        if not refused_before:
            return role
    return None


# SCIM authenticates each request by its bearer token, never by a cookie, so
# CSRF cannot apply (tests/directory/test_scim_clients.py shows it exempt and
# the admin still protected). The OpenID provider's token and userinfo endpoints
# likewise take an application's own credentials or an access token, never the
# person's cookie (its authorization endpoint, which does, keeps CSRF). The
# sign-in events endpoint authenticates each request by its HMAC signature
# (tests/signin_events), and a session counts for nothing there.
COOKIELESS = {"oauth2_provider:token", "oauth2_provider:user-info", "signin_events:receive"}
STATE_CHANGING = [row for row in TABLE if row.name != "admin" and _acting_role(row)
                  and not row.name.startswith("scim:") and row.name not in COOKIELESS]


@pytest.mark.django_db
def test_every_state_changing_url_refuses_a_post_without_csrf_token_and_changes_nothing():
    world = build_world()
    from .test_url_matrix import url_of

    accepted = []
    for row in STATE_CHANGING:
        role, url = _acting_role(row), url_of(row, world)
        before = fingerprint()
        client = world.client(role, enforce_csrf_checks=True)
        for response in (client.post(url, {"reason": "x", "code": "123456"}),
                         post_json(client, url, {"credential": {}})):
            if response.status_code != 403:
                accepted.append((row.name, role, response.status_code))
        assert fingerprint() == before, f"{row.name} changed something without a CSRF token"
    assert not accepted
    assert {"accounts:sign_out", "accounts:passkey_revoke"} <= {r.name for r in STATE_CHANGING}
    assert world.client("end_user").get(reverse("accounts:passkeys")).status_code == 200
    admin = world.client("security_admin", enforce_csrf_checks=True)
    assert admin.post(reverse("admin:accounts_user_add"), {"username": "x"}).status_code == 403


# --- safe next ----------------------------------------------------------------

EVIL = ["https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example",
        "javascript:alert(1)", "http://testserver@evil.example/", "https:evil.example"]


@pytest.mark.django_db
@pytest.mark.parametrize("target", EVIL)
def test_passkey_sign_in_returns_only_to_this_site(webauthn_origin, target):
    user = UserFactory()
    _passkey, soft = passkey_for(user)
    client = Client()
    options = post_json(client, reverse("accounts:passkey_sign_in_options")).json()
    response = post_json(client, f"{reverse('accounts:passkey_sign_in_verify')}?next={target}",
                         {"credential": soft.get(options)})
    assert response.status_code == 200
    assert response.json()["redirect"] == reverse("accounts:passkeys")


@pytest.mark.django_db
@pytest.mark.parametrize("target", EVIL)
def test_step_up_by_totp_or_passkey_returns_only_to_this_site(webauthn_origin, target):
    supervisor = staff("supervisor")
    _passkey, soft = passkey_for(supervisor)
    client = sign_in_client(Client(), supervisor, stepped_up_ago=None)
    response = client.post(f"{reverse('accounts:step_up')}?next={target}",
                           {"otp_token": current_totp(supervisor)})
    assert response.status_code == 302 and response.url == "/"
    options = post_json(client, reverse("accounts:step_up_passkey_options")).json()
    response = post_json(client, f"{reverse('accounts:step_up_passkey_verify')}?next={target}",
                         {"credential": soft.get(options)})
    assert response.status_code == 200 and response.json()["redirect"] == "/"


@pytest.mark.django_db
def test_a_stale_post_never_sends_back_to_a_foreign_referer():
    case, _agent = awaiting_approval()
    client = sign_in_client(Client(), staff("supervisor"), stepped_up_ago=None)
    response = client.post(decide_url(case), {"decision": "approve", "reason": "x"},
                           HTTP_REFERER="https://evil.example/phish")
    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:step_up')}?next=%2F"


# --- oversized and malformed input --------------------------------------------

BIG = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024)
NUL_FIELDS = {name: "12\x0034" for name in (
    "identifier", "code", "reason", "note", "username", "password", "otp_token", "directory_id",
    "decision", "answer", "action", "title", "verdict", "channel", "document_last4")}
MALFORMED_JSON = [b"[" * 15000, b"\"just a string\"", b"{not json", b"\xff\xfe\x00",
                  json.dumps({"credential": {"id": "x" * 15000}}).encode(),
                  json.dumps({"credential": {"response": [[[]]]}}).encode(), b"x" * 20000]


def _bad_inputs():
    yield "oversized form", {"data": {"note": BIG}}
    yield "too many fields", {"data": "&".join(f"f{i}=1" for i in range(300)),
                              "content_type": "application/x-www-form-urlencoded"}
    yield "NUL bytes", {"data": NUL_FIELDS}
    yield "invalid UTF-8 form", {"data": b"code=%ff%fe&reason=\xff",
                                 "content_type": "application/x-www-form-urlencoded"}
    yield "multipart garbage", {"data": b"--x\r\nnonsense",
                                "content_type": "multipart/form-data; boundary=x"}
    yield "oversized JSON", {"data": BIG.encode(), "content_type": "application/json"}
    for n, body in enumerate(MALFORMED_JSON):
        yield f"malformed JSON {n}", {"data": body, "content_type": "application/json"}


@pytest.mark.django_db
def test_bad_input_to_every_form_and_json_endpoint_is_a_4xx_never_a_500(webauthn_origin):
    world = build_world()
    from .test_url_matrix import url_of

    crashed = []
    for row in STATE_CHANGING:
        role, url = _acting_role(row), url_of(row, world)
        for label, request in _bad_inputs():
            cache.clear()
            with transaction.atomic():
                client = world.client(role, raise_request_exception=False)
                if "passkey" in row.name and "verify" in row.name:  # a ceremony in progress
                    client.post(url.replace("verify", "options"))
                response = client.post(url, **request)
                transaction.set_rollback(True)
            if response.status_code >= 500:
                crashed.append((row.name, label, response.status_code))
    assert not crashed


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["recovery:redeem", "recovery:attestation",
                                  "recovery:repudiate"])
def test_links_with_nul_or_odd_characters_are_refused_not_crashed(name):
    client = Client(raise_request_exception=False)
    for token in ("\x00", "a\x00b", "%", "x" * 2000, "é€"):
        url = reverse(name, args=[token])
        assert client.get(url).status_code < 500, (url, "GET")
        assert client.post(url, {"code": "AAAAA", "answer": "confirm"}).status_code < 500, url


# --- no secrets in URLs, logs, audit data or Referer ---------------------------

class _Lines(logging.Handler):
    """Log lines as the console's handler writes them (formatted, redacted)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines():
    handler, root = _Lines(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(level)


def recover_through_http(agent, identity, seen: list[str]):
    """A whole desk recovery, as people click it; every URL and redirect
    lands in ``seen``. Returns the secrets the journey handed out."""
    desk = sign_in_client(Client(), agent)

    def go(client, method, url, *args, **kwargs):
        seen.append(url)
        response = getattr(client, method)(url, *args, **kwargs)
        if response.has_header("Location"):
            seen.append(response["Location"])
        if response.get("Content-Type", "").startswith("text/html"):  # pages only POST reaches
            assert not INLINE.search(response.content.decode()), f"inline script/style: {url}"
        return response

    opened = go(desk, "post", reverse("recovery:open_case"),
                {"directory_id": identity.directory_id})
    case = RecoveryCase.objects.get(identity=identity)
    go(desk, "post", reverse("recovery:claim", args=[case.pk]))
    go(desk, "post", step_url(case), {"action": "send", "channel": channel_of(case).pk})
    channel_code = code_sent(case)
    go(desk, "post", step_url(case), {"action": "check", "code": channel_code})
    go(desk, "post", reverse("recovery:pressure_checklist", args=[case.pk]),
       {"none_observed": "on"})
    go(desk, "get", opened["Location"])
    issued_page = go(desk, "get", go(desk, "post", reverse("recovery:issue", args=[case.pk]))
                     ["Location"])
    issued = SimpleNamespace(code=issued_page.context["code"],
                             credential=issued_page.context["credential"])
    person = Client()  # read out on the phone: the short address, the reference, the code
    redeem_page = go(person, "get", reverse("recovery:redeem_read_out"))
    go(person, "post", reverse("recovery:redeem_read_out"), {
        "reference": issued.credential.reference,
        **redeeming(issued.code.lower().replace("-", " "))})
    session_token = person.session["recovery_session"]
    go(person, "get", reverse("recovery:enrol"))
    options = post_json(person, reverse("recovery:enrol_options")).json()
    done = post_json(person, reverse("recovery:enrol_verify"),
                     {"credential": SoftAuthenticator().create(options)})
    assert done.status_code == 200, done.content
    go(person, "get", done.json()["redirect"])
    told = Notice.objects.filter(event="recovery_completed", identity=identity,
                                 body__contains="/not-me/").first()
    not_me = re.search(r"/recover/not-me/([\w-]+)/", told.body).group(1)
    go(Client(), "get", reverse("recovery:repudiate", args=[not_me]))
    go(Client(), "get", reverse("recovery:repudiate", args=[not_me + "x"]))
    go(Client(), "post", reverse("recovery:redeem", args=[issued.credential.handle]),
       redeeming(issued.code))
    case.refresh_from_db()
    assert case.state == State.COMPLETED
    return {"credential code": issued.code,
            "credential code typed": issued.code.replace("-", ""),
            "credential handle": issued.credential.handle,
            "credential reference": issued.credential.reference, "channel code": channel_code,
            "recovery session token": session_token, "repudiation token": not_me,
            "issued page": issued_page, "redeem page": redeem_page}


@pytest.mark.django_db
def test_a_whole_recovery_leaks_no_secret_to_urls_logs_audit_or_referer(
        webauthn_origin, log_lines):
    agent = staff("agent")
    from tests.factories import reachable_identity

    identity = reachable_identity()
    seen: list[str] = []
    secrets = recover_through_http(agent, identity, seen)
    issued_page, redeem_page = secrets.pop("issued page"), secrets.pop("redeem page")
    in_urls = "\n".join(seen)
    for name in ("credential code", "credential code typed", "channel code",
                 "recovery session token"):
        assert secrets[name] not in in_urls, f"{name} in a URL"
    assert 'method="post"' in redeem_page.content.decode()
    logs = "\n".join(log_lines)
    assert logs, "the journey should have logged its requests"
    for name, value in secrets.items():
        assert value not in logs, f"{name} in the logs"
    audit = "\n".join(json.dumps([e.changes, e.additional_data, e.object_repr], default=str)
                      for e in LogEntry.objects.all())
    for name, value in secrets.items():
        assert value not in audit, f"{name} in the audit trail"
    for page in (issued_page, redeem_page):
        assert page["Referrer-Policy"] in ("same-origin", "no-referrer")
        assert "no-store" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]
        external = re.findall(r"(?:src|href|action)=\"(https?:)?//", page.content.decode())
        assert not external, "a page holding a secret loads something from another site"


@pytest.mark.django_db
def test_recovery_ends_every_other_session_of_the_person(webauthn_origin):
    agent = staff("agent")
    case = approved(recovery_case("low", agent=agent), agent)
    user = case.identity.user
    old_passkey, _soft = passkey_for(user)
    laptop = sign_in_client(Client(), user, device=old_passkey)
    phone = sign_in_client(Client(), user, device=old_passkey)
    assert laptop.get(reverse("accounts:passkeys")).status_code == 200
    issued = workflow.issue_credential(case, agent)
    person = Client()
    person.post(redeem_url(issued.credential), redeeming(issued.code))
    options = post_json(person, reverse("recovery:enrol_options")).json()
    post_json(person, reverse("recovery:enrol_verify"),
              {"credential": SoftAuthenticator().create(options)})
    for client in (laptop, phone):
        assert outcome(client.get(reverse("accounts:passkeys"))) == LOGIN
    old_passkey.refresh_from_db()
    assert old_passkey.revoked_at is not None


# --- rate limits: slow attackers, never lock the real person out ----------------

@pytest.mark.django_db
def test_code_checks_are_limited_per_case_until_the_window_passes(
        agent, agent_client, settings, monkeypatch):
    settings.RATE_LIMIT_CODE_CHECKS_PER_CASE = 3
    case = recovery_case("low", agent=agent)
    agent_client.post(step_url(case), {"action": "send", "channel": channel_of(case).pk})
    right = code_sent(case)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(3):
        agent_client.post(step_url(case), {"action": "check", "code": wrong})
    response = agent_client.post(step_url(case), {"action": "check", "code": right})
    assert response.status_code == 429
    assert "Too many codes" in response.content.decode()
    assert ChannelCode.objects.get(case=case).attempts == 3  # never compared
    assert events("rate_limited").filter(additional_data__limit="code-check").exists()
    later_window(monkeypatch, ratelimit.CODE_CHECK)
    response = agent_client.post(step_url(case), {"action": "check", "code": right})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.APPROVED


@pytest.mark.django_db
def test_code_checks_are_limited_per_address_across_cases(agent, agent_client, settings):
    settings.RATE_LIMIT_CODE_CHECKS_PER_ADDRESS = 2
    cases = [recovery_case("low", agent=agent) for _ in range(3)]
    statuses = [agent_client.post(step_url(case), {"action": "check", "code": "000000"})
                .status_code for case in cases]
    assert statuses[-1] == 429 and 429 not in statuses[:-1]


@pytest.mark.django_db
def test_redemption_is_limited_per_address_and_the_real_person_gets_in_after_the_window(
        agent, settings, monkeypatch):
    settings.RATE_LIMIT_REDEMPTIONS_PER_ADDRESS = 3
    case = approved(recovery_case("low", agent=agent), agent)
    issued = workflow.issue_credential(case, agent)
    same_network = "192.0.2.10"
    attacker = Client(REMOTE_ADDR=same_network)
    for n in range(3):
        attacker.post(reverse("recovery:redeem", args=[f"guess-{n}"]), redeeming("AAAAA"))
    person = Client(REMOTE_ADDR=same_network)
    response = person.post(redeem_url(issued.credential), redeeming(issued.code))
    assert response.status_code == 429
    issued.credential.refresh_from_db()
    assert issued.credential.attempts == 0
    assert Client(REMOTE_ADDR="192.0.2.11").get(redeem_url(issued.credential)).status_code == 200
    later_window(monkeypatch, ratelimit.REDEEM)
    response = person.post(redeem_url(issued.credential), redeeming(issued.code))
    assert response.status_code == 302


@pytest.mark.django_db
def test_redemption_is_limited_per_credential_whatever_the_address(agent, settings, monkeypatch):
    settings.RATE_LIMIT_REDEMPTIONS_PER_CREDENTIAL = 2
    case = approved(recovery_case("low", agent=agent), agent)
    issued = workflow.issue_credential(case, agent)
    for n in range(2):
        Client(REMOTE_ADDR=f"192.0.2.{n + 20}").post(redeem_url(issued.credential),
                                                     redeeming("AAAAA"))
    person = Client(REMOTE_ADDR="192.0.2.30")
    assert person.post(redeem_url(issued.credential), redeeming(issued.code)).status_code == 429
    later_window(monkeypatch, ratelimit.REDEEM)
    assert person.post(redeem_url(issued.credential), redeeming(issued.code)).status_code == 302


@pytest.mark.django_db
def test_self_service_requests_are_limited_per_account_without_saying_so(settings, monkeypatch):
    settings.RECOVERY_SELF_SERVICE_MAX_PER_ACCOUNT = 2
    from tests.factories import reachable_identity

    identity = reachable_identity()
    answers = []
    for n in range(3):
        answers.append(Client(REMOTE_ADDR=f"198.51.100.{n + 1}").post(
            reverse("recovery:self_service"), {"identifier": identity.directory_id}))
        resolve_self_service_requests()  # as the worker does after each request
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert {a.templates[0].name for a in answers} == {"recovery/self_service_sent.html"}
    throttled = refusals("case_open", "throttled")
    assert throttled.count() == 1
    assert identity.directory_id not in json.dumps(throttled.get().additional_data)
    later_window(monkeypatch, ratelimit.SELF_SERVICE)
    Client(REMOTE_ADDR="198.51.100.9").post(reverse("recovery:self_service"),
                                            {"identifier": identity.directory_id})
    resolve_self_service_requests()
    assert throttled.count() == 1
    assert refusals("case_open", "already_open").count() == 2


@pytest.mark.django_db
def test_sign_in_failures_are_limited_per_address_across_accounts_until_the_window_passes(
        settings, monkeypatch):
    settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS = 3
    client = Client(REMOTE_ADDR="192.0.2.50")
    for n in range(3):
        client.post(reverse("accounts:sign_in"),
                    {"username": f"guess{n}", "password": "nope-nope-nope", "otp_token": "000000"})
    agent = staff("agent")
    good = {"username": agent.username, "password": PASSWORD, "otp_token": current_totp(agent)}
    response = client.post(reverse("accounts:sign_in"), good)
    assert response.status_code == 400
    assert "Too many failed sign-ins" in response.content.decode()
    later_window(monkeypatch, ratelimit.SIGN_IN)
    assert client.post(reverse("accounts:sign_in"), good).status_code == 302


# --- session fixation -----------------------------------------------------------

def planted_session(client) -> str:
    """An attacker-chosen session the victim's browser already carries."""
    session = client.session
    session["planted"] = True
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return session.session_key


@pytest.mark.django_db
def test_passkey_sign_in_rotates_the_session_key(webauthn_origin):
    _passkey, soft = passkey_for(UserFactory())
    client = Client()
    options = post_json(client, reverse("accounts:passkey_sign_in_options")).json()
    before = client.session.session_key
    response = post_json(client, reverse("accounts:passkey_sign_in_verify"),
                         {"credential": soft.get(options)})
    assert response.status_code == 200
    assert client.session.session_key != before


@pytest.mark.django_db
def test_passkey_step_up_rotates_the_session_key(webauthn_origin):
    supervisor = staff("supervisor")
    _passkey, soft = passkey_for(supervisor)
    client = sign_in_client(Client(), supervisor, stepped_up_ago=None)
    options = post_json(client, reverse("accounts:step_up_passkey_options")).json()
    before = client.session.session_key
    response = post_json(client, reverse("accounts:step_up_passkey_verify"),
                         {"credential": soft.get(options)})
    assert response.status_code == 200
    assert client.session.session_key != before


@pytest.mark.django_db
def test_redeeming_a_credential_rotates_a_planted_session_key(agent):
    case = approved(recovery_case("low", agent=agent), agent)
    issued = workflow.issue_credential(case, agent)
    client = Client()
    planted = planted_session(client)
    client.post(redeem_url(issued.credential), redeeming(issued.code))
    assert client.session.session_key != planted
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = planted
    assert attacker.get(reverse("recovery:enrol")).status_code == 403


# --- staff passwords ------------------------------------------------------------

@pytest.fixture
def admin_client():
    boss = staff("security_admin", is_staff=True, is_superuser=True)
    return sign_in_client(Client(), boss)


@pytest.mark.django_db
@pytest.mark.parametrize("weak", ["password", "12345678901234", "agent-new-1", "short"])
def test_a_weak_staff_password_is_refused_by_the_admin(admin_client, weak):
    response = admin_client.post(reverse("admin:accounts_user_add"), {
        "username": "agent-new", "usable_password": "true",
        "password1": weak, "password2": weak})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not User.objects.filter(username="agent-new").exists()


@pytest.mark.django_db
def test_a_weak_password_change_is_refused_and_a_strong_one_accepted(admin_client):
    agent = staff("agent")
    url = reverse("admin:auth_user_password_change", args=[agent.pk])
    response = admin_client.post(url, {"password1": "qwerty", "password2": "qwerty",
                                       "usable_password": "true"})
    assert response.status_code == 200
    agent.refresh_from_db()
    assert agent.check_password(PASSWORD)
    strong = "violet-Harbour-tunes-58"
    response = admin_client.post(url, {"password1": strong, "password2": strong,
                                       "usable_password": "true"})
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.check_password(strong)


# --- production settings --------------------------------------------------------

def test_production_cookies_are_secure_host_only_and_hidden_from_scripts():
    import os
    import secrets as random
    import subprocess
    import sys
    from pathlib import Path

    from recovery_console.oidc.keys import new_private_key

    probe = ("import json, django; django.setup(); from django.conf import settings as s; "
             "print(json.dumps({k: getattr(s, k) for k in ("
             "'SESSION_COOKIE_SECURE','SESSION_COOKIE_NAME','SESSION_COOKIE_HTTPONLY',"
             "'SESSION_COOKIE_SAMESITE','SESSION_COOKIE_DOMAIN','SESSION_COOKIE_PATH',"
             "'CSRF_COOKIE_SECURE','CSRF_COOKIE_NAME','CSRF_COOKIE_HTTPONLY',"
             "'CSRF_COOKIE_DOMAIN','CSRF_COOKIE_PATH','SECURE_HSTS_SECONDS',"
             "'SECURE_HSTS_INCLUDE_SUBDOMAINS','SECURE_SSL_REDIRECT','DEBUG',"
             "'SECURE_REFERRER_POLICY','X_FRAME_OPTIONS','SECURE_CONTENT_TYPE_NOSNIFF')}))")
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(DJANGO_SETTINGS_MODULE="recovery_console.production",
               SECRET_KEY=random.token_urlsafe(64), ALLOWED_HOSTS="console.example.org",
               OIDC_RSA_PRIVATE_KEY=new_private_key())
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,  # noqa: S603
                            text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout.strip().splitlines()[-1])
    for cookie in ("SESSION", "CSRF"):
        assert s[f"{cookie}_COOKIE_SECURE"] is True
        assert s[f"{cookie}_COOKIE_NAME"].startswith("__Host-")
        assert s[f"{cookie}_COOKIE_HTTPONLY"] is True
        assert s[f"{cookie}_COOKIE_DOMAIN"] is None and s[f"{cookie}_COOKIE_PATH"] == "/"
    assert s["SESSION_COOKIE_SAMESITE"] in ("Lax", "Strict")
    assert s["SECURE_HSTS_SECONDS"] >= 31536000 and s["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert s["SECURE_SSL_REDIRECT"] is True and s["DEBUG"] is False
    assert s["SECURE_REFERRER_POLICY"] in ("same-origin", "no-referrer")
    assert s["X_FRAME_OPTIONS"] == "DENY" and s["SECURE_CONTENT_TYPE_NOSNIFF"] is True


@pytest.mark.django_db
def test_every_page_carries_the_hardening_headers(client):
    response = client.get(reverse("recovery:self_service"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert "object-src 'none'" in policy and "base-uri 'none'" in policy
