"""The agent's flow as an agent meets it, through HTTP: issuing is safe to
reload, a case can be failed or escalated instead of hitting a dead end,
unusable channels are never offered, and what the page says is what
happened."""

import re
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.middleware import REFRESHED_AT
from recovery_console import workflow
from recovery_console.models import Notice, RecoveryCase, RecoveryCredential
from tests.factories import reachable_identity, recovery_case, staff
from tests.sessions import sign_in_client

from .support import (
    approved,
    attestation_token,
    channel_of,
    code_sent,
    events,
    pass_code_step,
    refusals,
    step_of,
    verify,
)

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


def case_url(case):
    return reverse("recovery:case", args=[case.pk])


def step_url(case, kind):
    return reverse("recovery:step", args=[case.pk, step_of(case, kind).pk])


@pytest.fixture
def desk(client, agent):
    return sign_in_client(client, agent)


@pytest.fixture
def approved_case(agent):
    return approved(recovery_case("low", agent=agent), agent)


def issue_form(client, case):
    """The hidden fields of the issue form the case page shows right now."""
    form = client.get(case_url(case)).context["issue_form"]
    return {name: form[name].value() for name in ("key", "replaces")}


def post_issue(client, case, data):
    return client.post(reverse("recovery:issue", args=[case.pk]), data)


def audit_count():
    return LogEntry.objects.count()


# --- 1. issuing is safe to reload ------------------------------------------------

def test_issuing_redirects_and_the_code_is_shown_once_then_never(desk, approved_case):
    posted = post_issue(desk, approved_case, issue_form(desk, approved_case))
    credential = RecoveryCredential.objects.get(case=approved_case)
    assert posted.status_code == 302
    assert posted["Location"] == reverse("recovery:issued", args=[approved_case.pk,
                                                                 credential.pk])
    shown = desk.get(posted["Location"])
    code = shown.context["code"]
    assert re.fullmatch(r"[A-Z2-9]{5}(-[A-Z2-9]{5}){3}", code) and code in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]

    before = audit_count()
    for _ in range(2):  # reload, reload
        again = desk.get(posted["Location"])
        page = again.content.decode()
        assert again.status_code == 200 and again.context["code"] is None
        assert code not in page
        assert "The code was shown once" in page and "issue a new credential" in page
        assert "Issue a new credential and void the live one" in page
    desk.get(case_url(approved_case))  # back to the case
    assert audit_count() == before
    live = RecoveryCredential.objects.get(case=approved_case)
    assert (live.pk, live.voided_at, live.used_at) == (credential.pk, None, None)


def test_the_same_issue_form_posted_twice_issues_once(desk, approved_case):
    form = issue_form(desk, approved_case)
    first = post_issue(desk, approved_case, form)
    second = post_issue(desk, approved_case, form)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    credential = RecoveryCredential.objects.get(case=approved_case)
    assert credential.voided_at is None and credential.issue_key == form["key"]
    assert events("credential_issued").count() == 1
    channels = approved_case.identity.channels.count()
    assert Notice.objects.filter(event="recovery_credential_issued").count() == channels
    # The double submit's answer still shows the code, once (the browser
    # dropped the first answer and follows the second).
    assert desk.get(second["Location"]).context["code"]


def test_a_replayed_key_issues_nothing_in_the_workflow(agent, approved_case):
    first = workflow.issue_credential(approved_case, agent, key="k" * 22)
    again = workflow.issue_credential(approved_case, agent, key="k" * 22)
    assert again.replayed and again.code == "" and again.credential == first.credential
    assert RecoveryCredential.objects.filter(case=approved_case).count() == 1


def test_the_database_holds_an_issue_key_once_per_case(agent, approved_case):
    issued = workflow.issue_credential(approved_case, agent, key="same-key-0123456789")
    copy = RecoveryCredential(
        case=approved_case, identity=approved_case.identity, handle="another-handle",
        digest="0" * 64, issued_by=agent, delivery="read_out",
        created_at=issued.credential.created_at, expires_at=issued.credential.expires_at,
        issue_key="same-key-0123456789", voided_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()
    # Credentials issued without a key (workflow callers) do not collide.
    copy.issue_key = ""
    copy.save()


def test_a_page_opened_before_an_issue_never_voids_the_credential_read_out(
        desk, agent, approved_case):
    stale = issue_form(desk, approved_case)  # another tab, loaded earlier
    read_out = workflow.issue_credential(approved_case, agent)
    response = post_issue(desk, approved_case, stale)
    assert response.status_code == 409
    assert "was issued on this case since you opened the page" in response.content.decode()
    read_out.credential.refresh_from_db()
    assert read_out.credential.voided_at is None
    assert RecoveryCredential.objects.filter(case=approved_case).count() == 1
    assert refusals("credential_issue", "stale_form").get().actor == agent


def test_issuing_a_new_credential_is_an_explicit_post_that_voids_the_old_one(
        desk, approved_case):
    first_post = post_issue(desk, approved_case, issue_form(desk, approved_case))
    shown_once = desk.get(first_post["Location"])
    desk.get(first_post["Location"])  # shown already: offers issuing a new one
    form = desk.get(first_post["Location"]).context["issue_form"]
    assert form["replaces"].value() == shown_once.context["credential"].pk
    again = post_issue(desk, approved_case,
                       {"key": form["key"].value(), "replaces": form["replaces"].value()})
    old, new = RecoveryCredential.objects.filter(case=approved_case).order_by("pk")
    assert old.voided_at is not None and new.voided_at is None
    assert again["Location"].endswith(f"/credentials/{new.pk}/")
    assert desk.get(again["Location"]).context["code"]


@pytest.mark.parametrize("data, message", [
    ({"key": "short", "replaces": "0"}, "Reload the case and issue again."),
    ({"key": "k" * 22, "replaces": "-1"}, "Reload the case and issue again."),
])
def test_a_malformed_issue_form_is_refused_and_issues_nothing(desk, approved_case, data,
                                                               message):
    response = post_issue(desk, approved_case, data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not RecoveryCredential.objects.exists()


def test_the_code_never_sits_in_the_session_store_in_clear(desk, approved_case):
    posted = post_issue(desk, approved_case, issue_form(desk, approved_case))
    key = desk.cookies["sessionid"].value
    stored = Session.objects.get(session_key=key)
    code = desk.get(posted["Location"]).context["code"]
    decoded = str(stored.get_decoded())
    for text in (stored.session_data, decoded):
        assert code not in text and code.replace("-", "") not in text
    assert "issued_code" in decoded  # it was there, sealed
    assert "issued_code" not in str(Session.objects.get(session_key=key).get_decoded())


# --- 2. fail and escalate -----------------------------------------------------

def test_an_agent_fails_a_verification_with_a_reason(desk, agent):
    case = recovery_case("low", agent=agent)
    page = desk.get(case_url(case)).content.decode()
    assert "Fail verification" in page
    response = desk.post(reverse("recovery:fail", args=[case.pk]),
                         {"reason": "Caller could not read back the code."}, follow=True)
    case.refresh_from_db()
    assert case.state == State.FAILED
    assert case.closing_reason == "Caller could not read back the code."
    assert events("case_failed").get().actor == agent
    assert Notice.objects.filter(event="recovery_failed", medium="monitoring").exists()
    assert "Verification failed" in response.content.decode()


def test_failing_without_a_reason_is_refused_and_changes_nothing(desk, agent):
    case = recovery_case("low", agent=agent)
    response = desk.post(reverse("recovery:fail", args=[case.pk]), {"reason": "  "})
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.state == State.VERIFYING and not events("case_failed").exists()


def make_stale(case):
    case.identity.channels.update(last_confirmed_at=timezone.now() - timedelta(days=400))


def test_stale_channels_are_not_offered_and_the_agent_escalates_instead(desk, agent):
    case = recovery_case("low", agent=agent)
    make_stale(case)
    page = desk.get(case_url(case))
    assert page.context["steps"][0].forms == []  # no "Send code" to nowhere, no "Check code"
    assert "No registered channel can get a code now" in page.content.decode()
    assert page.content.decode().count("Stale or revoked: not usable") == 2
    assert "Escalate: I cannot verify this caller" in page.content.decode()
    # Posting a stale channel anyway is refused by the form and the workflow alike.
    response = desk.post(step_url(case, "channel_code"),
                         {"action": "send", "channel": channel_of(case).pk})
    assert response.status_code == 400

    response = desk.post(reverse("recovery:escalate", args=[case.pk]),
                         {"reason": "Every channel on file is stale."})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.VERIFYING and case.agent == agent
    assert case.tier == "high" and case.rules.approvals_required == 1
    assert case.script.name.startswith("High risk")
    assert (case.escalated_by, case.escalation_reason) == (agent,
                                                           "Every channel on file is stale.")
    assert case.tier_reasons[-1].endswith("Every channel on file is stale.")
    entry = events("case_escalated").get()
    assert entry.actor == agent and entry.additional_data["from_tier"] == "low"
    assert Notice.objects.filter(event="recovery_escalated", medium="monitoring").exists()


def test_escalation_voids_codes_already_sent(desk, agent):
    case = recovery_case("medium", agent=agent)
    workflow.send_channel_code(case, agent, step_of(case, "channel_code"), channel_of(case))
    desk.post(reverse("recovery:escalate", args=[case.pk]), {"reason": "Caller hesitates."})
    assert case.channel_codes.get().voided_at is not None


def test_a_supervisor_sees_an_escalated_case_and_may_fail_it(client, agent):
    case = recovery_case("high", agent=agent)
    workflow.escalate(case, agent, "Caller cannot pass the attestation.")
    supervisor = sign_in_client(client, staff("supervisor"))
    approvals = supervisor.get(reverse("recovery:approvals")).content.decode()
    assert "Escalated by agents" in approvals
    assert "Caller cannot pass the attestation." in approvals
    # Security admins may neither fail nor cancel it: it is not listed for them.
    admin = sign_in_client(Client(), staff("security_admin"))
    assert "Escalated by agents" not in admin.get(reverse("recovery:approvals")).content.decode()
    page = supervisor.get(case_url(case)).content.decode()
    assert "Fail verification" in page and "Escalated" in page
    response = supervisor.post(reverse("recovery:fail", args=[case.pk]),
                               {"reason": "Not enough proof; the person must come in."})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.FAILED and case.tier == "restricted"


def test_a_supervisor_cannot_fail_a_case_that_was_not_escalated(client, agent):
    case = recovery_case("low", agent=agent)
    supervisor = sign_in_client(client, staff("supervisor"))
    assert "Fail verification" not in supervisor.get(case_url(case)).content.decode()
    response = supervisor.post(reverse("recovery:fail", args=[case.pk]), {"reason": "No."})
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.state == State.VERIFYING


def test_a_case_escalated_at_the_strictest_tier_cannot_be_escalated_again(desk, agent):
    case = recovery_case("restricted", agent=agent)
    workflow.escalate(case, agent, "Caller confused.")
    case.refresh_from_db()
    assert case.tier == "restricted" and case.escalated_at is not None
    assert "Escalate: I cannot verify" not in desk.get(case_url(case)).content.decode()
    response = desk.post(reverse("recovery:escalate", args=[case.pk]), {"reason": "Again."})
    assert response.status_code == 409
    assert refusals("case_escalate", "already_escalated").get().actor == agent


def test_escalating_without_a_reason_is_refused_and_changes_nothing(desk, agent):
    case = recovery_case("low", agent=agent)
    response = desk.post(reverse("recovery:escalate", args=[case.pk]), {"reason": "x" * 501})
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.tier == "low" and case.escalated_at is None


def test_the_stale_channels_page_and_the_case_page_agree(client, agent):
    case = recovery_case("low", agent=agent)
    stale, reconfirmed = channel_of(case, "email"), channel_of(case, "phone")
    stale.last_confirmed_at = timezone.now() - timedelta(days=181)
    stale.save()
    # Flagged by an earlier daily run, confirmed since: no longer stale.
    reconfirmed.stale_since = timezone.now() - timedelta(days=3)
    reconfirmed.save()
    sign_in_client(client, staff("security_admin"))
    listed = client.get(reverse("recovery:stale_channels")).context["channels"]
    assert [c.pk for c in listed] == [stale.pk]

    sign_in_client(client, agent)
    page = client.get(case_url(case))
    status = {c.channel.pk: c.usable for c in page.context["channels"]}
    assert status == {stale.pk: False, reconfirmed.pk: True}
    send = next(form for _, label, form in page.context["steps"][0].forms if label == "Send code")
    assert list(send.fields["channel"].queryset) == [reconfirmed]


def test_a_recently_changed_channel_is_not_offered_for_a_high_tier(client, agent):
    case = recovery_case("restricted", agent=agent)  # its email changed two days ago
    sign_in_client(client, agent)
    page = client.get(case_url(case))
    send = next(form for _, label, form in page.context["steps"][0].forms if label == "Send code")
    assert list(send.fields["channel"].queryset) == [channel_of(case, "phone")]
    assert "Changed recently: untrusted for this tier" in page.content.decode()


# --- 3. feedback tells the truth ---------------------------------------------------

def test_sending_a_code_says_it_is_waiting_beside_the_step(desk, agent):
    case = recovery_case("low", agent=agent)
    step = step_of(case, "channel_code")
    response = desk.post(step_url(case, "channel_code"),
                         {"action": "send", "channel": channel_of(case).pk})
    assert response["Location"] == f"{case_url(case)}#step-{step.pk}"
    page = desk.get(response["Location"]).content.decode()
    assert "done" not in page.lower().split("<main", 1)[1].split("timeline")[0]
    item = re.search(rf'<li class="step [^"]*" id="step-{step.pk}">(.*?)</li>\s*(<li class|</ol>)',
                     page, re.S).group(1)
    assert "Code sent to Phone" in item and "step not passed yet" in item
    assert ">Waiting<" in item
    response = desk.post(step_url(case, "channel_code"), {"action": "check",
                                                           "code": code_sent(case)})
    page = desk.get(response["Location"]).content.decode()
    assert "Step 1 passed." in page


def test_a_case_waiting_for_an_attestation_is_watched_and_sees_the_answer(desk, agent):
    case = recovery_case("high", agent=agent)
    pass_code_step(case, agent)
    desk.post(step_url(case, "attestation"), {"action": "request"})
    page = desk.get(case_url(case)).content.decode()
    watch_url = reverse("recovery:case_watch", args=[case.pk])
    assert f'data-watch="{watch_url}"' in page and "/static/js/case-watch.js" in page
    assert "Reload this page to see it." in page  # what a browser without JavaScript says
    before = desk.get(watch_url).json()["version"]
    assert desk.get(watch_url).json()["version"] == before
    workflow.answer_attestation(attestation_token(case), True)
    assert desk.get(watch_url).json()["version"] != before
    page = desk.get(case_url(case)).content.decode()
    assert "data-watch=" not in page and "Manager confirmed" in page


def test_polling_does_not_keep_an_idle_agent_signed_in(desk, agent):
    case = recovery_case("low", agent=agent)
    session = desk.session
    session[REFRESHED_AT] = 0
    session.save()
    desk.get(reverse("recovery:case_watch", args=[case.pk]))
    assert desk.session[REFRESHED_AT] == 0
    desk.get(case_url(case))
    assert desk.session[REFRESHED_AT] > 0


def test_the_watch_of_a_case_one_may_not_see_is_a_404(client, agent):
    case = recovery_case("low", agent=agent)
    sign_in_client(client, staff("agent"))
    assert client.get(reverse("recovery:case_watch", args=[case.pk])).status_code == 404


# --- 5. words fit the reader ----------------------------------------------------------

def test_the_managers_notice_is_written_to_the_manager(agent, settings):
    from .test_watch import recover

    settings.WEBAUTHN_ORIGINS = ["http://localhost:8000"]
    case = approved(recovery_case("high", agent=agent), agent, staff("supervisor"))
    recover(case, agent)
    manager = case.identity.manager
    told = Notice.objects.get(event="recovery_completed", identity=manager)
    name = case.identity.display_name
    assert told.subject == f"{name}, whose manager you are: access recovered"
    assert "your account" not in told.body.lower() and "this wasn't me" not in told.body.lower()
    assert f"You are told as manager of {name}" in told.body
    assert "You confirmed the request" in told.body  # the manager attested on this case


def test_a_service_account_case_asks_a_security_admin_not_supervisors(client, agent):
    owner = reachable_identity(display_name="Olu Owner")
    account = reachable_identity(kind="service_account", data_sensitivity="high")
    account.owner = owner
    account.save()
    case = workflow.open_case(account, source="desk", actor=staff("agent"))
    workflow.claim(case, agent)
    verify(case, agent)
    sign_in_client(client, agent)
    page = client.get(case_url(case)).content.decode()
    assert "Ask a security admin for approval" in page
    assert "Ask supervisors for approval" not in page
    response = client.post(reverse("recovery:request_approval", args=[case.pk]), follow=True)
    assert "Sent to security admins for approval." in response.content.decode()


def test_the_access_restored_page_says_what_to_do_next():
    page = Client().get(reverse("recovery:recovered")).content.decode()
    assert "What to do next" in page
    assert reverse("accounts:portal_sign_in") in page
    assert "Add a second passkey" in page
