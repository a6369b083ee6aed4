"""The case timeline reads as sentences a person reads, with who and when:
never a raw event name or "update Case 35"; addresses masked; an event
without words still reads, and never breaks the page; the page's queries do
not grow with the story."""

import re
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from audit.events import record
from audit.sampling import SampleRequest, draw_sample
from recovery_console import timeline, workflow
from recovery_console.models import RecoveryCase
from tests.factories import reachable_identity, recovery_case, staff
from tests.sessions import passkey_for, sign_in_client

from .support import approved, channel_of, code_sent, step_of, step_up_now

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def timeline_of(client, case) -> str:
    """The timeline section of the case page, as HTML."""
    page = client.get(reverse("recovery:case", args=[case.pk])).content.decode()
    return page.split('id="timeline-heading"', 1)[1].split("</section>", 1)[0]


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def named(first, last, *roles):
    return staff(*roles, first_name=first, last_name=last)


@pytest.fixture
def people():
    return {"agent": named("Bea", "Agent", "agent"), "boss": named("Sam", "Supervisor",
                                                                  "supervisor")}


def recovered(agent, supervisor) -> RecoveryCase:
    """A high-risk case taken all the way: a code to the phone, the manager's
    attestation, a refused and a given approval, a credential to the email
    address, redeemed, and a new passkey enrolled."""
    identity = reachable_identity(data_sensitivity="high")
    email = identity.channels.get(kind="email")
    email.address = "bea.person@example.org"
    email.save()
    phone = identity.channels.get(kind="phone")
    phone.address = "+441632960123"
    phone.save()
    case = workflow.open_case(identity, source=RecoveryCase.Source.DESK, actor=agent)
    workflow.claim(case, agent)
    with pytest.raises(workflow.WorkflowError):  # the agent may not approve: audited
        workflow.approve(case, agent, "Looks fine.", step_up=step_up_now())
    approved(case, agent, supervisor)
    issued = workflow.issue_credential(case, agent, channel=email)
    opened = workflow.redeem(issued.credential.handle, issued.code)
    workflow.complete(opened.session, passkey_for(identity.user)[0])
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.COMPLETED
    return case


def test_a_whole_recovery_reads_as_sentences_with_who_and_when(client, people):
    case = recovered(people["agent"], people["boss"])
    sign_in_client(client, staff("auditor"))
    html = timeline_of(client, case)
    text = text_of(html)
    recorded = {e.additional_data["event"] for e in LogEntry.objects.filter(
        object_pk=str(case.pk), additional_data__event__isnull=False)}
    assert {"case_opened", "channel_code_sent", "evidence_recorded", "approval_refused",
            "approval_given", "credential_issued", "case_completed"} <= recorded
    for event in recorded:
        assert event not in html, event
    assert "update Case" not in text and "Update" not in text and "create" not in text
    for sentence in (
        "Case opened at the service desk, risk tier High",
        "— Bea Agent",
        "Case claimed",
        "Approving was refused: their role may not do this",
        "Code sent to phone ***123",
        "Evidence recorded: Code to a registered channel — passed (through phone ***123)",
        "Link sent to the manager, Morgan Manager, at email",
        "answered by Morgan Manager",
        "Case verified: every required step passed — the system",
        "Approval requested from a supervisor (1 approval needed)",
        "Approved by Sam Supervisor: “Evidence is complete.” — Sam Supervisor",
        "Recovery credential sent to email b***@example.org",
        "Recovery credential redeemed: a recovery session opened to enrol a new passkey "
        "— the person",
        "Recovery completed: a new passkey was enrolled",
    ):
        assert sentence in text, sentence
    # One line per decision or refusal, each with its moment in a <time> element.
    lines = re.findall(r"<li><time datetime=\"[^\"]+\">[^<]+</time>", html)
    assert len(lines) == LogEntry.objects.filter(
        object_pk=str(case.pk), additional_data__event__isnull=False,
        content_type__model="recoverycase").count()


def test_the_case_record_changes_are_folded_under_their_decision(client, people):
    case = recovery_case("low", agent=people["agent"])
    sign_in_client(client, staff("supervisor"))
    html = timeline_of(client, case)
    claimed = html.split("Case claimed", 1)[1].split("</li>\n", 1)[0]
    assert "What changed on the case record" in claimed
    assert "State: New → Verifying" in claimed and "Agent: none → Bea Agent" in claimed
    assert "Case record" not in text_of(html).replace("What changed on the case record", "")


def test_a_change_made_outside_any_decision_stands_alone_in_words(client, people):
    case = recovery_case("low", agent=people["agent"])
    case.high_priority = True
    case.save()  # as an edit in the admin would
    sign_in_client(client, staff("supervisor"))
    text = text_of(timeline_of(client, case))
    assert "Case record changed: High priority: no → yes — the system" in text


def test_a_self_service_request_opens_the_case_in_the_persons_name(client):
    case = workflow.open_case(reachable_identity(), source=RecoveryCase.Source.SELF_SERVICE)
    sign_in_client(client, staff("supervisor"))
    text = text_of(timeline_of(client, case))
    assert "Case opened by self-service request, risk tier Low: Employee with low data " \
        "sensitivity and no risk signals. — the person" in text


def test_addresses_are_masked_in_every_sentence(people):
    agent = people["agent"]
    case = recovery_case("low", agent=agent)
    email = channel_of(case, "email")
    email.address = "bea.person@example.org"
    email.save()
    phone = channel_of(case, "phone")
    phone.address = "+441632960987"
    phone.save()
    step = step_of(case, "channel_code")
    workflow.send_channel_code(case, agent, step, email)
    workflow.send_channel_code(case, agent, step, phone)
    text = " ".join(line.text for line in timeline.lines(*_entries_and_facts(case)))
    assert "Code sent to email b***@example.org" in text
    assert "Code sent to phone ***987" in text
    assert "bea.person" not in text and "1632960" not in text


def _entries_and_facts(case):
    entries = list(LogEntry.objects.filter(object_pk=str(case.pk),
                                           content_type__model="recoverycase")
                   .select_related("actor").order_by("timestamp", "pk"))
    return entries, timeline.load_facts(case, entries)


def test_notes_hand_overs_and_reassignments_read_with_their_people(people):
    agent, boss = people["agent"], people["boss"]
    other = named("Cy", "Colleague", "agent")
    case = recovery_case("low", agent=agent)
    record("case_note_added", target=case, actor=agent, note=1, text="Caller will ring back.")
    record("case_handed_over", target=case, actor=agent, to=other.pk, to_name="Cy Colleague",
           note="Shift ends.")
    record("case_reassigned", target=case, actor=boss, to=agent.pk, to_name="Bea Agent",
           from_name="Cy Colleague", note="Cy is off sick.")
    lines = timeline.lines(*_entries_and_facts(case))[-3:]
    assert [(line.text, line.who) for line in lines] == [
        ("Note by Bea Agent: “Caller will ring back.”", "Bea Agent"),
        ("Handed over to Cy Colleague: “Shift ends.”", "Bea Agent"),
        ("Reassigned from Cy Colleague to Bea Agent by Sam Supervisor: “Cy is off sick.”",
         "Sam Supervisor"),
    ]


def test_an_event_without_words_reads_as_its_name_and_odd_data_never_breaks_the_page(
        client, people):
    case = recovery_case("low", agent=people["agent"])
    record("case_weather_checked", target=case, actor=people["agent"], sky="grey")
    record("case_teleport_refused", target=case, reason="far", message="Too far to go.")
    record("evidence_recorded", target=case, evidence="not a number", step=None, result=None)
    record("case_opened", target=case, reasons="not a list", tier=7)
    record("channel_code_sent", target=case, channel=999999, channel_kind="phone")
    record("case_approved", target=case, by="supervisors", approvers=5)
    record("evidence_recorded", target=case, evidence=[1], channel={"a": 1})
    LogEntry.objects.create(content_type=ContentType.objects.get_for_model(RecoveryCase),
                            object_pk=str(case.pk), object_id=case.pk, object_repr="Case",
                            action=LogEntry.Action.UPDATE, changes={"state": ["new"], "tier": 3})
    sign_in_client(client, staff("supervisor"))
    response = client.get(reverse("recovery:case", args=[case.pk]))
    assert response.status_code == 200
    text = text_of(response.content.decode().split('id="timeline-heading"', 1)[1])
    assert "Case weather checked — Bea Agent" in text
    assert "Case teleport was refused: Too far to go. — someone" in text
    assert "Evidence recorded: a verification step — recorded" in text
    assert "Code sent to the phone on file" in text
    assert "case_weather_checked" not in text


def test_a_refusal_says_what_was_refused_and_why_in_words(people):
    case = recovery_case("high", agent=people["agent"])
    with pytest.raises(workflow.WorkflowError):
        workflow.issue_credential(case, people["agent"])
    with pytest.raises(workflow.WorkflowError):
        workflow.request_approval(case, people["agent"])
    texts = [line.text for line in timeline.lines(*_entries_and_facts(case)) if line.refused]
    assert texts == ["Issuing a credential was refused: the case was verifying",
                     "Asking for approval was refused: the case was verifying"]


def test_every_event_the_code_records_has_words():
    recorded, decisions = set(), set()
    for app in ("recovery_console", "accounts", "audit"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts or "management" in path.parts:
                continue
            source = path.read_text()
            recorded.update(re.findall(r"record(?:_many)?\(\s*\"([a-z_]+)\"", source))
            decisions.update(re.findall(r"_decision\(\s*\"([a-z_]+)\"", source))
    # Events named through a variable (accounts.auth, accounts.ratelimit).
    recorded |= {"staff_sign_in", "sign_in", "rate_limited"}
    assert {"case_opened", "approval_given", "channel_revoked", "sample_finding"} <= recorded
    refusals = {e.removesuffix("_refused") for e in recorded if e.endswith("_refused")}
    assert recorded - set(timeline.WORDS) - {f"{d}_refused" for d in refusals} == set()
    # Every decision's refusal (``<decision>_refused``) says what was refused.
    assert decisions and (decisions | refusals) - set(timeline.DOING) == set()


def test_every_refusal_reason_the_code_gives_has_words():
    reasons = set()
    for app in ("recovery_console", "accounts"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                reasons.update(re.findall(r"reason=\"([a-z_]+)\"", path.read_text()))
    said_otherwise = {"state", "attestation_refused"}  # the case's state; case_failed's own
    assert {"worked_case", "step_up", "stale_channel"} <= reasons
    assert reasons - set(timeline.WHY) - said_otherwise == set()


def test_the_auditors_sampled_case_shows_the_timeline_once(client, people):
    case = recovered(people["agent"], people["boss"])
    auditor = staff("auditor")
    day = case.opened_at.date()
    report = draw_sample(auditor, SampleRequest(title="Check", period_start=day,
                                                period_end=day, sample_size=1))
    sign_in_client(client, auditor)
    page = client.get(reverse("audit:sampled_case", args=[report.pk, case.pk])).content.decode()
    assert page.count('<ol class="timeline">') == 1
    assert page.count("Timeline from the audit trail") == 1
    assert page.count('id="timeline-heading"') == 1
    assert "Approved by Sam Supervisor" in page and "approval_given" not in page


def story(case, agent, colleague, codes: int, notes: int) -> None:
    """The same kinds of entries, as many times as asked."""
    step = step_of(case, "channel_code")
    for _ in range(codes):
        workflow.send_channel_code(case, agent, step, channel_of(case))
    workflow.check_channel_code(case, agent, step, code_sent(case))
    for n in range(notes):
        record("case_note_added", target=case, actor=agent, note=n, text=f"Note {n}")
        record("case_handed_over", target=case, actor=agent, to=colleague.pk,
               to_name="Sam Supervisor", note="")


def test_the_case_page_reads_the_same_number_of_queries_however_long_the_story(
        client, people, django_assert_max_num_queries):
    agent = people["agent"]
    short, long = recovery_case("high", agent=agent), recovery_case("high", agent=agent)
    story(short, agent, people["boss"], codes=1, notes=1)
    story(long, agent, people["boss"], codes=3, notes=6)
    sign_in_client(client, staff("supervisor"))
    client.get(reverse("recovery:case", args=[short.pk]))  # warm the session and caches
    with django_assert_max_num_queries(40) as few:
        client.get(reverse("recovery:case", args=[short.pk]))
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("recovery:case", args=[long.pk]))
    assert "Note by Bea Agent: “Note 4”" in text_of(page.content.decode())
