"""Notes on a case through HTTP: agents who may see an open case and
supervisors add them; they are append-only, audited with their text, and
shown on the case page with who wrote them and when. Bad text is refused
with a message and nothing is kept."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from recovery_console import workflow
from recovery_console.models import NOTE_MAX_LENGTH, CaseNote, RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import events, refusals

pytestmark = pytest.mark.django_db


def notes_url(case):
    return reverse("recovery:add_note", args=[case.pk])


def case_url(case):
    return reverse("recovery:case", args=[case.pk])


def test_an_agent_adds_a_note_and_it_shows_on_the_case_with_who_and_when(client):
    agent = staff("agent", first_name="Ann", last_name="Agent")
    case = recovery_case("low", agent=agent)
    sign_in_client(client, agent)
    response = client.post(notes_url(case), {
        "text": "Caller rings back at 15:00.\r\nAsk for the manager's name first.  \r\n"})
    assert response.status_code == 302
    assert response.url == case_url(case) + "#notes"
    note = CaseNote.objects.get(case=case)
    # Line breaks kept (as "\n"), trailing spaces and blank lines dropped.
    assert note.text == "Caller rings back at 15:00.\nAsk for the manager's name first."
    assert note.author == agent and note.occasion == ""
    entry = events("case_note_added").get()
    assert entry.actor == agent and entry.object_pk == str(case.pk)
    assert entry.additional_data["note"] == note.pk
    assert entry.additional_data["text"] == note.text
    page = client.get(case_url(case)).content.decode()
    assert "Note added." in page
    notes = page[page.index('id="notes"'):]
    assert "Ann Agent" in notes and "Ask for the manager&#x27;s name first." in notes
    assert f'datetime="{note.created_at.astimezone().strftime("%Y")}' in notes


def test_a_supervisor_adds_a_note_to_a_case_an_agent_holds(client):
    case = recovery_case("medium", agent=staff("agent"))
    supervisor = staff("supervisor")
    sign_in_client(client, supervisor)
    assert f'action="{notes_url(case)}"' in client.get(case_url(case)).content.decode()
    assert client.post(notes_url(case), {"text": "Watch this one: second call today."}
                       ).status_code == 302
    assert CaseNote.objects.get(case=case).author == supervisor


def test_any_agent_may_note_an_unclaimed_case_but_not_one_a_colleague_holds(client):
    agent = staff("agent")
    unclaimed, held = recovery_case("low"), recovery_case("low", agent=staff("agent"))
    sign_in_client(client, agent)
    assert client.post(notes_url(unclaimed), {"text": "Rang, no answer."}).status_code == 302
    assert client.post(notes_url(held), {"text": "Me too."}).status_code == 404
    assert list(CaseNote.objects.values_list("case_id", flat=True)) == [unclaimed.pk]


@pytest.mark.parametrize("role", ["auditor", "security_admin"])
def test_auditors_and_security_admins_add_no_notes(client, role):
    case = recovery_case("low", agent=staff("agent"))
    sign_in_client(client, staff(role))
    assert "Add note" not in client.get(case_url(case)).content.decode()
    assert client.post(notes_url(case), {"text": "Looks fine."}).status_code == 403
    assert not CaseNote.objects.exists()


def test_a_note_on_a_closed_case_is_refused_and_audited(client):
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    workflow.cancel(case, agent, "Duplicate.")
    sign_in_client(client, agent)
    assert "Add note" not in client.get(case_url(case)).content.decode()
    response = client.post(notes_url(case), {"text": "Afterthought."})
    assert response.status_code == 409
    assert "You cannot add a note while the case is cancelled." in response.content.decode()
    assert not CaseNote.objects.exists()
    assert refusals("case_note", "state").get().actor == agent


def test_a_supervisor_cannot_note_their_own_recovery(client):
    case = recovery_case("low", agent=staff("agent"))
    subject = case.identity.user
    subject.groups.add(Group.objects.get(name="supervisor"))
    from tests.factories import TOTPDeviceFactory

    TOTPDeviceFactory(user=subject)
    sign_in_client(client, subject)
    response = client.post(notes_url(case), {"text": "All good, it's me."})
    assert response.status_code == 403
    assert not CaseNote.objects.exists()
    assert refusals("case_note", "subject").exists()


@pytest.mark.parametrize(("text", "reason", "message"), [
    ("", None, "Write the note."),
    ("  \r\n  \r\n", "note_required", "Write the note."),
    ("x" * (NOTE_MAX_LENGTH + 1), "note_length", "too long (2000 characters at most)"),
    ("Code sent \x1b[31mOK\x1b[0m", "note_characters", "U+001B"),
    ("Name:\tBea", "note_characters", "U+0009"),
    ("Caller is \u202eeman eurt", "note_characters", "U+202E"),
    ("One line\u2028another", "note_characters", "U+2028"),
])
def test_a_bad_note_is_refused_with_a_message_and_nothing_is_kept(client, text, reason,
                                                                   message):
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    sign_in_client(client, agent)
    response = client.post(notes_url(case), {"text": text})
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert 'id="id_note_text_error"' in page  # beside the field it is about
    assert not CaseNote.objects.exists() and not events("case_note_added").exists()
    if reason:
        assert refusals("case_note", reason).get().actor == agent


def test_a_note_of_the_longest_length_is_kept_whole(client):
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    sign_in_client(client, agent)
    text = ("A line of a long note.\n" * 200)[:NOTE_MAX_LENGTH - 1] + "!"
    assert client.post(notes_url(case), {"text": text}).status_code == 302
    assert CaseNote.objects.get().text == text


def test_notes_are_append_only():
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    note = workflow.add_note(case, agent, "First call: caller sounded rushed.")
    note.text = "Nothing to see."
    with pytest.raises(ValueError, match="append-only"):
        note.save()
    with pytest.raises(ValueError, match="append-only"):
        note.delete()
    assert CaseNote.objects.get().text == "First call: caller sounded rushed."


def test_the_database_refuses_an_empty_or_oversized_note():
    from django.db import IntegrityError, transaction

    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    for text in ("", "x" * (NOTE_MAX_LENGTH + 1)):
        with pytest.raises(IntegrityError), transaction.atomic():
            CaseNote.objects.create(case=case, author=agent, text=text)


def test_the_case_page_costs_the_same_queries_with_more_notes(
        django_assert_max_num_queries):
    agent = staff("agent")
    case = recovery_case("high", agent=agent)
    client = sign_in_client(Client(), agent)
    workflow.add_note(case, agent, "One.")
    with django_assert_max_num_queries(60) as few:
        assert client.get(case_url(case)).status_code == 200
    supervisor = staff("supervisor")
    for n in range(12):
        workflow.add_note(case, supervisor if n % 2 else agent, f"Note {n}.")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(case_url(case))
    assert page.content.decode().count('class="note-text"') == 13
    assert RecoveryCase.objects.get(pk=case.pk).agent == agent
