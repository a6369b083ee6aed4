"""Asking a wave's members to enrol a passkey: the invitation, the reminders
on beat's schedule, the snooze a person may use a few times, the single-use
link each notice carries, and marking a member enrolled when a passkey of
theirs is stored.

One function per decision, each in one transaction and audited. Inviting and
reminding work on whole waves (20,000 members) in bulk: a fixed number of
statements whatever the number of members (bulk inserts, ``record_many``
for the audit entries, one delivery task per 500 notices).

An enrolment link never stands in for the person's sign-in: it only leads a
signed-in person, the one it was sent to, to the passkey enrolment page,
once, within ``LINK_LIFETIME``. The notice that carries it is blanked once
delivered, and a reminder voids the links before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import Identity, PasskeyCredential, RecoveryChannel, User
from accounts.roles import Role, roles_of
from audit.events import record, record_many

from .. import clock, outbox, tokens
from ..models import Notice
from ..refusal import WorkflowError
from ..workflow.base import _decision
from . import readiness
from .models import EnrolmentLink, Invitation, Wave, WaveException

LINK_PURPOSE = "enrolment-link"
LINK_LIFETIME = timedelta(hours=72)
REMINDER_BATCH = 2000
# Stages whose members are being moved to passkeys: still invited and reminded.
INVITING_STAGES = (Wave.Stage.PILOT, Wave.Stage.INVITE, Wave.Stage.REPORT_ONLY,
                   Wave.Stage.ENFORCE)


# --- inviting a wave ---------------------------------------------------------------

@dataclass(frozen=True)
class Invited:
    """What inviting a wave did: who was asked, and who was left out and why."""

    invited: int
    already_invited: int
    with_passkey: int
    excepted: int
    without_account: int


def invitees(wave: Wave) -> QuerySet[Identity]:
    """Who a wave asks to enrol: its named sample during the pilot, every
    member of its cohort after (newcomers to the cohort included)."""
    if wave.stage == Wave.Stage.PILOT:
        return wave.pilot_members.filter(is_active=True)
    return readiness.members(wave.cohort)


@_decision("wave_invite", actor="actor")
def invite(wave: Wave, actor: User, now: datetime | None = None, *,
           request: HttpRequest | None = None) -> Invited:
    """A security admin (``actor``) asks the wave's members to enrol a passkey
    by ``now`` + the plan's invite period: one invitation per member, each
    with an email (to their email channel on file, carrying an enrolment
    link) and a notice on their portal page. Left out: members already
    invited by this wave, members with a live passkey, members excused from
    the invite stage, and identities with no account to sign in with.
    Refused for anyone but a security admin, for a paused wave (it invites
    nobody until resumed) and for a wave that is done."""
    now = now or clock.now()
    if Role.SECURITY_ADMIN not in roles_of(actor):
        raise WorkflowError("Only security admins may invite a wave's members.",
                            reason="not_security_admin", status=WorkflowError.FORBIDDEN,
                            target=wave)
    wave = (Wave.objects.select_for_update(of=("self",)).select_related("plan", "cohort")
            .get(pk=wave.pk))
    if wave.paused_at is not None:
        raise WorkflowError("This wave is paused: it invites nobody until a security admin "
                            "resumes it.", reason="wave_paused", target=wave)
    if wave.stage not in INVITING_STAGES:
        raise WorkflowError("This wave is done: there is nobody left to invite.",
                            reason="wave_done", target=wave)
    rows = list(_with_invitation_facts(invitees(wave), wave, now).values_list(
        "pk", "user_id", "already_invited", "has_passkey", "excepted"))
    chosen = dict.fromkeys(pk for pk, user_id, invited, passkey, excepted in rows
                           if user_id is not None and not (invited or passkey or excepted))
    enrol_by = now + wave.plan.invite_period
    ids = _insert(Invitation, [{"wave_id": wave.pk, "identity_id": pk, "invited_at": now,
                                "enrol_by": enrol_by} for pk in chosen])
    asked = [_Asked(pk, identity_id, enrol_by) for pk, identity_id in zip(ids, chosen,
                                                                          strict=True)]
    _owe_enrolment_notices(asked, now, reminder=False)
    record_many("invitation_sent", Invitation, [
        (a.pk, {"wave": wave.pk, "identity": a.identity_id, "enrol_by": enrol_by.isoformat()})
        for a in asked], actor=actor)
    invited = Invited(
        invited=len(asked),
        already_invited=sum(1 for row in rows if row[2]),
        with_passkey=sum(1 for row in rows if row[3] and not row[2]),
        excepted=sum(1 for row in rows if row[4] and not (row[2] or row[3])),
        without_account=sum(1 for row in rows if row[1] is None and not any(row[2:])))
    record("wave_invited", target=wave, actor=actor, request=request,
           enrol_by=enrol_by.isoformat(), **invited.__dict__)
    return invited


def _with_invitation_facts(people: QuerySet[Identity], wave: Wave,
                           now: datetime) -> QuerySet[Identity]:
    """``people`` with what decides whether they are asked (again)."""
    return people.annotate(
        already_invited=Exists(Invitation.objects.filter(wave=wave, identity=OuterRef("pk"))),
        has_passkey=Exists(_live_passkeys()),
        excepted=Exists(_open_invite_exceptions(now).filter(wave=wave)),
    ).order_by("pk")


def _live_passkeys() -> QuerySet[PasskeyCredential]:
    return PasskeyCredential.objects.filter(user_id=OuterRef("user_id"), revoked_at__isnull=True)


def _open_invite_exceptions(now: datetime) -> QuerySet[WaveException]:
    return WaveException.objects.filter(identity=OuterRef("pk"), stage=Wave.Stage.INVITE,
                                        ended_at__isnull=True, expires_at__gt=now)


# --- the notices and the links they carry ------------------------------------------

@dataclass(frozen=True)
class _Asked:
    """What an invitation's notices need of it (no model instance per member)."""

    pk: int
    identity_id: int
    enrol_by: datetime
    reminders_sent: int = 0


def _owe_enrolment_notices(asked: list[_Asked], now: datetime, *, reminder: bool) -> None:
    """For each invitation: a fresh enrolment link, an email carrying it to
    the member's email channel on file (when they have one) and a notice on
    their portal page; written in bulk, delivered once this commits."""
    if not asked:
        return
    event = "enrolment_reminder" if reminder else "enrolment_invitation"
    links, emails, portal = [], [], []
    email_channel = _email_channel_of([a.identity_id for a in asked])
    addresses = _addresses()
    for invitation in asked:
        token = tokens.new_token()
        links.append({"invitation_id": invitation.pk, "created_at": now,
                      "digest": tokens.digest(LINK_PURPOSE, token),
                      "expires_at": now + LINK_LIFETIME})
        key = f"rollout-{event}:{invitation.pk}:{invitation.reminders_sent + 1 if reminder else 0}"
        subject, body = _words(invitation.enrol_by, token, reminder, addresses)
        notice = {"identity_id": invitation.identity_id, "event": event, "subject": subject,
                  "created_at": now, "next_attempt_at": now}
        channel_id = email_channel.get(invitation.identity_id)
        if channel_id is not None:
            emails.append({**notice, "channel_id": channel_id, "medium": Notice.Medium.EMAIL,
                           "body": body, "idempotency_key": f"{key}:email",
                           "carries_secret": True})  # nosec B105
        portal.append({**notice, "medium": Notice.Medium.PORTAL,
                       "body": _portal_words(invitation.enrol_by, reminder),
                       "idempotency_key": f"{key}:portal", "sent_at": now, "attempts": 1})
    _insert(EnrolmentLink, links)
    _insert(Notice, portal)
    outbox.dispatch_many_on_commit(_insert(Notice, emails))


def _insert(model: type, rows: list[dict]) -> list[int]:
    """Write ``rows`` (attribute -> value; the fields left out take their
    defaults) in bulk; return their ids in order. On PostgreSQL by COPY,
    with ids drawn from the table's sequence first, as ``record_many`` does:
    for a wave of 20,000, building a parameterised INSERT and a model
    instance per row costs more than the database takes to store them."""
    if not rows:
        return []
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        return [made.pk for made in model.objects.bulk_create(model(**row) for row in rows)]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields if f.attname not in rows[0]}
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                       "FROM generate_series(1, %s)", [table, len(rows)])
        ids = [row[0] for row in cursor.fetchall()]
        columns = ", ".join(["id", *(connection.ops.quote_name(f.column) for f in fields)])
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for pk, row in zip(ids, rows, strict=True):
                values = {**defaults, **row}
                copy.write_row((pk, *(values[f.attname] for f in fields)))
    return ids


def _email_channel_of(identity_ids: list[int]) -> dict[int, int]:
    """Each identity's email channel on file (one query): the verified one
    confirmed last, else the newest."""
    rows = (RecoveryChannel.objects
            .filter(identity_id__any_of=identity_ids, kind=RecoveryChannel.Kind.EMAIL,
                    revoked_at__isnull=True)
            .order_by("identity_id", F("verified_at").desc(nulls_last=True),
                      F("last_confirmed_at").desc(nulls_last=True), "-pk")
            .values_list("identity_id", "pk"))
    chosen: dict[int, int] = {}
    for identity_id, channel_id in rows:
        chosen.setdefault(identity_id, channel_id)
    return chosen


def _deadline(enrol_by: datetime) -> str:
    return date_format(timezone.localtime(enrol_by), "j F Y")


def _addresses() -> tuple[str, str]:
    """The enrolment link with a ``{token}`` slot, and the person's rollout
    page: reversed once for a whole wave, not twice per member."""
    link = reverse("invitations:enrolment_link", args=["TOKEN"]).replace("TOKEN", "{token}")
    return f"{settings.SITE_URL}{link}", f"{settings.SITE_URL}{reverse('invitations:my_rollout')}"


def _words(enrol_by: datetime, token: str, reminder: bool,
           addresses: tuple[str, str]) -> tuple[str, str]:
    link, page = addresses[0].format(token=token), addresses[1]
    deadline = _deadline(enrol_by)
    subject = (f"Reminder: set up your passkey by {deadline}" if reminder
               else f"Set up your passkey by {deadline}")
    body = (f"Your organisation is moving sign-in to passkeys: a passkey on your phone, "
            f"computer or security key replaces your password.\n\n"
            f"Set one up by {deadline}: {link}\n\n"
            f"The link works once, for {LINK_LIFETIME.days} days, and asks you to sign in "
            f"first. You can also set up your passkey, or put it off for a few days, from "
            f"your page: {page}\n\n"
            f"Did not expect this? Do not use the link; contact the service desk.")
    return subject, body


def _portal_words(enrol_by: datetime, reminder: bool) -> str:
    deadline = _deadline(enrol_by)
    if reminder:
        return f"A reminder: set up your passkey by {deadline}."
    return (f"You are invited to set up a passkey by {deadline}. It replaces your password "
            f"when you sign in.")


# --- reminders ---------------------------------------------------------------------

def due_reminders(now: datetime) -> QuerySet[Invitation]:
    """Invitations owed a reminder at ``now``: not enrolled, before the
    deadline, not snoozed, one reminder interval after the invitation or the
    last reminder, in a wave that still invites and is not paused; not the
    members who have a passkey already or are excused from the invite stage."""
    last = Coalesce("last_reminded_at", "invited_at")
    return (Invitation.objects
            .filter(enrolled_at__isnull=True, enrol_by__gt=now,
                    wave__paused_at__isnull=True, wave__stage__in=INVITING_STAGES)
            .filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))
            .alias(next_due=ExpressionWrapper(last + F("wave__plan__reminder_interval"),
                                              output_field=DateTimeField()))
            .filter(next_due__lte=now)
            .exclude(Exists(PasskeyCredential.objects.filter(
                user_id=OuterRef("identity__user_id"), revoked_at__isnull=True)))
            .exclude(Exists(WaveException.objects.filter(
                wave=OuterRef("wave"), identity=OuterRef("identity"), stage=Wave.Stage.INVITE,
                ended_at__isnull=True, expires_at__gt=now))))


def send_reminders(now: datetime | None = None) -> int:
    """On beat's schedule: remind every member who is due (``due_reminders``)
    with a fresh link, the links before it voided. Nobody decides it, so
    nothing is refused; a batch at a time, each in its own transaction.
    Returns how many were reminded."""
    now = now or clock.now()
    total = 0
    while True:
        with transaction.atomic():
            batch = list(due_reminders(now).select_for_update(skip_locked=True, of=("self",))
                         .order_by("pk")[:REMINDER_BATCH])
            if not batch:
                return total
            ids = [invitation.pk for invitation in batch]
            EnrolmentLink.objects.filter(invitation_id__any_of=ids).void(now)
            _owe_enrolment_notices([_Asked(i.pk, i.identity_id, i.enrol_by, i.reminders_sent)
                                    for i in batch], now, reminder=True)
            Invitation.objects.filter(pk__any_of=ids).update(
                reminders_sent=F("reminders_sent") + 1, last_reminded_at=now)
            record_many("invitation_reminded", Invitation, [
                (invitation.pk, {"wave": invitation.wave_id, "identity": invitation.identity_id,
                                 "reminder": invitation.reminders_sent + 1})
                for invitation in batch])
        total += len(batch)


# --- the person's own decisions ----------------------------------------------------

def may_snooze(invitation: Invitation, now: datetime) -> WorkflowError | None:
    """Why the person may not put off enrolling now (None: they may). The
    portal page offers the Snooze button exactly when this is None."""
    if invitation.enrolled_at is not None:
        return WorkflowError("You have already set up a passkey: there is nothing to put off.",
                             reason="already_enrolled", target=invitation)
    if invitation.enrol_by <= now:
        return WorkflowError("The deadline to set up a passkey has passed; it can no longer be "
                             "put off. Set one up now, or ask the service desk for help.",
                             reason="deadline_passed", target=invitation)
    limit = invitation.wave.plan.snooze_limit
    if invitation.snoozes_used >= limit:
        times = "once" if limit == 1 else f"{limit} times"
        deadline = _deadline(invitation.enrol_by)
        return WorkflowError(f"You have put this off {times}, the most allowed. Set up your "
                             f"passkey by {deadline}; the service desk can help.",
                             reason="snooze_limit", target=invitation)
    return None


def snoozes_left(invitation: Invitation) -> int:
    return max(invitation.wave.plan.snooze_limit - invitation.snoozes_used, 0)


@_decision("invitation_snooze", actor="person")
def snooze(invitation: Invitation, person: User, now: datetime | None = None, *,
           request: HttpRequest | None = None) -> Invitation:
    """The invited person (``person``, signed in; nobody else may) puts off
    enrolling: no reminders for the plan's snooze period, at most the plan's
    snooze limit times, never once enrolled or past the deadline (which
    snoozing does not move)."""
    now = now or clock.now()
    invitation = (Invitation.objects.select_for_update(of=("self",))
                  .select_related("wave__plan", "identity").get(pk=invitation.pk))
    if invitation.identity.user_id != person.pk:
        raise WorkflowError("This invitation is not yours.", reason="not_yours",
                            status=WorkflowError.FORBIDDEN, target=invitation)
    refusal = may_snooze(invitation, now)
    if refusal is not None:
        raise refusal
    start = max(now, invitation.snoozed_until or now)
    invitation.snoozed_until = start + invitation.wave.plan.snooze_period
    invitation.snoozes_used += 1
    invitation.save(update_fields=["snoozed_until", "snoozes_used"])
    record("invitation_snoozed", target=invitation, actor=person, request=request,
           until=invitation.snoozed_until.isoformat(), snoozes_used=invitation.snoozes_used)
    return invitation


def find_link(token: str) -> EnrolmentLink | None:
    """The enrolment link ``token`` opens, if any (looked up by its digest)."""
    return (EnrolmentLink.objects.select_related("invitation__identity")
            .filter(digest=tokens.digest(LINK_PURPOSE, token)).first())


@_decision("enrolment_link_use", actor="person")
def use_link(link: EnrolmentLink, person: User, now: datetime | None = None, *,
             request: HttpRequest | None = None) -> Invitation:
    """The signed-in ``person`` opens an enrolment link: used once (a
    conditional update), and only by the person it was sent to; another
    person's live link is refused and stays unused. A used, expired or
    voided link is refused in words that do not say whose it was."""
    now = now or clock.now()
    invitation = link.invitation
    unusable = link.unusable_because(now)
    if unusable:
        raise WorkflowError(**_DEAD_LINK[unusable], status=WorkflowError.BAD_REQUEST,
                            target=invitation)
    if invitation.identity.user_id != person.pk:
        raise WorkflowError("This link was sent to someone else. Sign out, and sign in as the "
                            "person it was sent to.", reason="not_yours",
                            status=WorkflowError.FORBIDDEN, target=invitation)
    if not link.consume(now, database_clock=True):
        raise WorkflowError(**_DEAD_LINK["used"], status=WorkflowError.BAD_REQUEST,
                            target=invitation)
    record("enrolment_link_used", target=invitation, actor=person, request=request,
           link=link.pk)
    return invitation


_ELSEWHERE = "You can set up a passkey from your passkey page instead."
# A dead link's words: never whose it was.
_DEAD_LINK = {
    "used": {"reason": "used",
             "message": f"This link was already used: each link works once. {_ELSEWHERE}"},
    "expired": {"reason": "expired", "message": f"This link has expired. {_ELSEWHERE}"},
    "voided": {"reason": "voided",
               "message": f"A newer reminder replaced this link. {_ELSEWHERE}"},
}


def passkey_enrolled(user: User, now: datetime | None = None) -> int:
    """A passkey of ``user``'s was just stored (``workflow.passkey_added``):
    their open invitations are enrolled and their links voided. It follows
    from the passkey, so nothing is refused. Returns how many were marked."""
    now = now or clock.now()
    with transaction.atomic():
        ids = list(Invitation.objects.select_for_update(of=("self",))
                   .filter(identity__user=user, enrolled_at__isnull=True)
                   .values_list("pk", "wave_id"))
        if not ids:
            return 0
        Invitation.objects.filter(pk__any_of=[pk for pk, _ in ids]).update(enrolled_at=now)
        EnrolmentLink.objects.filter(invitation_id__any_of=[pk for pk, _ in ids]).void(now)
        record_many("invitation_enrolled", Invitation,
                    [(pk, {"wave": wave_id}) for pk, wave_id in ids], actor=user)
    return len(ids)


# --- what the security admin's wave page shows -------------------------------------

@dataclass(frozen=True)
class InvitationCounts:
    invited: int
    enrolled: int
    snoozed: int
    overdue: int

    @property
    def waiting(self) -> int:
        """Invited, not enrolled yet."""
        return self.invited - self.enrolled


def invitation_counts(wave: Wave, now: datetime) -> InvitationCounts:
    """A wave's invitations in one query: invited, enrolled, snoozed now
    (not enrolled), and overdue (not enrolled by the deadline)."""
    waiting = Q(enrolled_at__isnull=True)
    return InvitationCounts(**Invitation.objects.filter(wave=wave).aggregate(
        invited=Count("pk"),
        enrolled=Count("pk", filter=Q(enrolled_at__isnull=False)),
        snoozed=Count("pk", filter=waiting & Q(snoozed_until__gt=now)),
        overdue=Count("pk", filter=waiting & Q(enrol_by__lte=now))))
