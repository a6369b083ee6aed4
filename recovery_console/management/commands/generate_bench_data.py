"""Benchmark data: a realistic recovery history for an organisation of N identities.

About one recovery case per identity per year over two years, with the
evidence, approvals, recovery credentials, recovery sessions, notices,
django-guardian object permissions and audit entries that the workflow would
have written for them, and the audit hash chain over those entries.

Rows go in with PostgreSQL COPY (psycopg), not through the workflow: at
N = 100,000 that is about 200k cases and a few million audit entries, which
the workflow would take hours to write one decision at a time. The chain
links are computed here with ``audit.chain.entry_hash`` over exactly the
values written, so ``manage.py verify_audit_chain`` passes on the result.

Staff sign-in secrets are not generated: staff get unusable passwords and a
confirmed TOTP device each; benchmarks sign them in by writing sessions.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import datetime, timedelta

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identifiers import canonical, name_key, phone_key
from accounts.models import Identity, RecoveryChannel, User
from accounts.roles import Role
from audit.chain import HASHED_FIELDS, entry_hash
from audit.models import ChainHead, ChainLink
from recovery_console import tokens
from recovery_console.models import (
    Approval,
    Evidence,
    Notice,
    RecoveryCase,
    RecoveryCaseUserObjectPermission,
    RecoveryCredential,
    RecoveryPolicy,
    RecoverySession,
    ScriptStep,
)

State = RecoveryCase.State
CREATE, UPDATE, ACCESS = LogEntry.Action.CREATE, LogEntry.Action.UPDATE, LogEntry.Action.ACCESS
PREFIX = "bench-"
KINDS = [(Identity.Kind.EMPLOYEE, 80), (Identity.Kind.CONTRACTOR, 10),
         (Identity.Kind.PARTNER, 6), (Identity.Kind.SERVICE_ACCOUNT, 4)]
# Cases per identity over two years: mean about 2 (one a year).
CASES_PER_IDENTITY = ([0, 1, 2, 3, 4], [12, 25, 30, 20, 13])
OUTCOMES = {  # closed outcomes by tier
    "low": ([State.COMPLETED, State.EXPIRED, State.CANCELLED, State.FAILED], [78, 10, 7, 5]),
    "medium": ([State.COMPLETED, State.EXPIRED, State.CANCELLED, State.FAILED], [78, 10, 7, 5]),
    "high": ([State.COMPLETED, State.DENIED, State.EXPIRED, State.CANCELLED, State.FAILED],
             [68, 8, 10, 8, 6]),
    "restricted": ([State.COMPLETED, State.DENIED, State.EXPIRED, State.CANCELLED, State.FAILED],
                   [68, 8, 10, 8, 6]),
}
OPEN_SHARE = 0.015  # identities with a case open right now
FIRST = ["Amira", "Ben", "Chloé", "Dev", "Erin", "Farid", "Grace", "Hugo", "Ines", "Jonas",
         "Kemi", "Liam", "Maya", "Noor", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Patel", "Walsh", "Haddad", "Kim", "Novak",
        "Garcia", "Schmidt", "Adeyemi", "Rossi", "Tanaka", "Fischer", "Silva"]
DEPARTMENTS = ["Finance", "Engineering", "Sales", "HR", "Legal", "Operations", "Support"]
CHUNK = 4000  # cases written per round of COPYs


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


class Writer:
    """COPY rows into a model's table; columns the caller leaves out get the
    field's default (or NULL), so a new nullable or defaulted field needs no
    change here."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self._next: dict[type[models.Model], int] = {}

    def next_id(self, model: type[models.Model]) -> int:
        if model not in self._next:
            with connection.cursor() as cursor:
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608  # nosec
                self._next[model] = cursor.fetchone()[0]
        self._next[model] += 1
        return self._next[model]

    def copy(self, model: type[models.Model], rows: list[dict]) -> None:
        if not rows:
            return
        fields = model._meta.concrete_fields
        columns = ", ".join(f'"{f.column}"' for f in fields)
        table = model._meta.db_table
        with connection.cursor() as cursor, \
                cursor.cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([self._value(f, row) for f in fields])
        self.counts[model._meta.label] += len(rows)

    @staticmethod
    def _value(field, row: dict):
        if field.attname in row:
            value = row[field.attname]
        elif field.has_default() or not field.null:
            value = field.get_default()  # "" for text fields without a default
        else:
            return None
        if isinstance(field, models.JSONField) and value is not None:
            return json.dumps(value)
        return value

    def reset_sequences(self) -> None:
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), list(self._next)):
                cursor.execute(sql)


class BenchData:
    """Builds the history. Also used by ``bench/prepare.py`` for the cases each
    benchmarked action needs (fresh ones per request)."""

    def __init__(self, seed: int = 9, now: datetime | None = None, *, audit: bool = True):
        # audit=False: no notices or audit entries (fixtures a benchmark consumes).
        self.audit = audit
        self.rng = random.Random(seed)  # noqa: S311  # nosec B311 - data, not secrets
        self.now = now or timezone.now()
        self.out = Writer()
        self.ct = {m: ContentType.objects.get_for_model(m).pk for m in (
            RecoveryCase, Evidence, Approval, RecoveryCredential, RecoverySession, Notice,
            RecoveryCaseUserObjectPermission)}
        self.work_permission = Permission.objects.get(
            codename="work_recoverycase", content_type_id=self.ct[RecoveryCase]).pk
        self.policies = {}
        for policy in RecoveryPolicy.objects.select_related("script"):
            steps = list(ScriptStep.objects.filter(script=policy.script_id).order_by("position"))
            self.policies[policy.tier] = (policy, policy.snapshot(), steps)
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        self.head = head
        self.entries: list[dict] = []
        self.links: list[dict] = []
        self.rows: dict[type[models.Model], list[dict]] = {}
        self.identities: list[dict] = []
        self.channels: dict[int, list[dict]] = {}
        self.credential_code = tokens.digest(
            "recovery-credential", tokens.normalise_credential_code("BENCH" * 4))

    # --- staff and identities ------------------------------------------------

    def staff(self, identities: int) -> dict[str, list[User]]:
        sizes = {Role.AGENT: max(4, identities // 1000),
                 Role.SUPERVISOR: max(3, identities // 5000), Role.AUDITOR: 2}
        staff = {}
        for role, count in sizes.items():
            group = Group.objects.get(name=role)
            users = []
            for i in range(count):
                email = f"{PREFIX}{role}-{i:03d}@example.org"
                # bulk_create skips User.save(): the canonical key is set here.
                user = User(username=f"{PREFIX}{role}-{i:03d}", first_name=role.title(),
                            last_name=f"{i:03d}", email=email, email_key=canonical(email))
                user.set_unusable_password()
                users.append(user)
            User.objects.bulk_create(users)
            users = list(User.objects.filter(username__startswith=f"{PREFIX}{role}-")
                         .order_by("username"))
            group.user_set.add(*users)
            TOTPDevice.objects.bulk_create(
                TOTPDevice(user=u, name="Bench authenticator", confirmed=True) for u in users)
            staff[role] = users
        self.agents = [u.pk for u in staff[Role.AGENT]]
        self.supervisors = [u.pk for u in staff[Role.SUPERVISOR]]
        return staff

    def load_staff(self) -> dict[str, list[User]]:
        staff = {role: list(User.objects.filter(username__startswith=f"{PREFIX}{role}-")
                            .order_by("username")) for role in Role}
        self.agents = [u.pk for u in staff[Role.AGENT]]
        self.supervisors = [u.pk for u in staff[Role.SUPERVISOR]]
        return staff

    def make_identities(self, count: int, *, start: int = 0, created: datetime | None = None,
                        label: str = "") -> list[dict]:
        rng, created = self.rng, created or self.now - timedelta(days=800)
        managers: list[int] = []
        made = []
        for n in range(start, start + count):
            pk = self.out.next_id(Identity)
            kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
            if not managers or n % 50 == 0:
                kind = Identity.Kind.EMPLOYEE
            directory_id = f"{PREFIX}{label}{n:07d}"
            display_name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {n}"
            row = {  # COPY skips save(): canonical and search keys are written here
                "id": pk, "directory_id": directory_id, "directory_key": canonical(directory_id),
                "display_name": display_name, "name_key": name_key(display_name),
                "kind": kind, "privileged": rng.random() < 0.03,
                "data_sensitivity": rng.choices(["low", "medium", "high"], [60, 30, 10])[0],
                "traveller": rng.random() < 0.1, "department": rng.choice(DEPARTMENTS),
                "directory_phone": f"+4420{n:08d}", "is_active": True, "created_at": created,
                "manager_id": rng.choice(managers) if managers and kind == "employee" else None,
                "sponsor_id": rng.choice(managers)
                if managers and kind in ("contractor", "partner") else None,
                "owner_id": rng.choice(managers) if kind == "service_account" else None,
                "partner_organisation": "Northwind Logistics" if kind == "partner" else "",
            }
            if n % 50 == 0:
                managers.append(pk)
            made.append(row)
            confirmed = self.now - timedelta(days=rng.randint(1, 120))
            self.channels[pk] = [
                {"id": self.out.next_id(RecoveryChannel), "identity_id": pk, "kind": kind_,
                 "address": address, "address_key": canonical(address) if kind_ == "email" else "",
                 "phone_key": phone_key(address) if kind_ == "phone" else "",
                 "verified_at": created, "last_confirmed_at": confirmed, "changed_at": created}
                for kind_, address in (("email", f"p{n}@example.org"), ("phone", f"+4477{n:08d}"))
            ]
        self.out.copy(Identity, made)
        self.out.copy(RecoveryChannel, [c for row in made for c in self.channels[row["id"]]])
        return made

    @staticmethod
    def tier_of(identity: dict, rng: random.Random) -> str:
        if identity["privileged"]:
            return "restricted" if rng.random() < 0.4 else "high"
        if identity["data_sensitivity"] == "high" or identity["kind"] == "service_account":
            return "high"
        if identity["kind"] in ("contractor", "partner") \
                or identity["data_sensitivity"] == "medium":
            return "medium"
        return "low" if rng.random() < 0.8 else "medium"

    # --- cases ---------------------------------------------------------------

    def history(self, identities: list[dict], years: int = 2) -> None:
        """Closed cases over ``years``, plus a few open ones, written in the
        order they were opened (so audit entry ids follow time)."""
        rng, span = self.rng, years * 365 * 24 * 60
        plan = []
        for identity in identities:
            count = rng.choices(*CASES_PER_IDENTITY)[0]
            starts = sorted(rng.uniform(3 * 24 * 60, span) for _ in range(count))
            for start in starts:
                plan.append((self.now - minutes(start), identity, None))
            if rng.random() < OPEN_SHARE:
                plan.append((self.now - minutes(rng.uniform(5, 2 * 24 * 60)), identity, "open"))
        plan.sort(key=lambda p: p[0])
        for i in range(0, len(plan), CHUNK):
            for opened, identity, kind in plan[i:i + CHUNK]:
                tier = self.tier_of(identity, rng)
                if kind == "open":
                    states = [State.NEW, State.VERIFYING, State.VERIFIED, State.APPROVED,
                              State.CREDENTIAL_ISSUED]
                    if tier in ("high", "restricted"):
                        states.append(State.AWAITING_APPROVAL)
                    self.case(identity, tier, rng.choice(states), opened)
                else:
                    outcome, weights = OUTCOMES[tier]
                    self.case(identity, tier, rng.choices(outcome, weights)[0], opened)
            self.flush()

    def case(self, identity: dict, tier: str, state: str, opened: datetime, *,
             agent: int | None = None, credential_expires: datetime | None = None,
             handle: str | None = None) -> int:
        """One case and everything its history wrote, up to ``state``."""
        rng = self.rng
        policy, snapshot, steps = self.policies[tier]
        pk = self.out.next_id(RecoveryCase)
        name = f"Case {pk} ({identity['display_name']})"
        row = {"id": pk, "identity_id": identity["id"], "tier": tier,
               "tier_reasons": [f"Bench tier {tier}."], "policy_id": policy.pk,
               "policy_snapshot": snapshot, "script_id": policy.script_id, "state": state,
               "source": rng.choice(["desk", "desk", "self_service"]), "opened_at": opened,
               "deadline": opened + timedelta(seconds=settings.RECOVERY_CASE_MAX_AGE_SECONDS)}
        if row["source"] == "desk":
            row["opened_by_id"] = agent or rng.choice(self.agents)
        t = opened
        log = self.entry
        log(t, RecoveryCase, pk, name, CREATE, row.get("opened_by_id"),
            changes={"state": ["None", "new"], "tier": ["None", tier]})
        log(t, RecoveryCase, pk, name, ACCESS, row.get("opened_by_id"),
            event="case_opened", tier=tier, source=row["source"])
        self.notify(identity, pk, "case-opened", "recovery_requested", t)
        reached = _progress(state, tier)
        if "claimed" in reached:
            t += minutes(rng.uniform(2, 30))
            row["agent_id"] = agent = agent or rng.choice(self.agents)
            row["claimed_at"] = t
            self.add(RecoveryCaseUserObjectPermission, {
                "id": self.out.next_id(RecoveryCaseUserObjectPermission),
                "permission_id": self.work_permission, "user_id": agent,
                "content_object_id": pk})
            log(t, RecoveryCase, pk, name, UPDATE, agent,
                changes={"state": ["new", "verifying"], "agent": ["None", str(agent)]})
            log(t, RecoveryCase, pk, name, ACCESS, agent, event="case_claimed")
        if "evidence" in reached:
            required = [s for s in steps if s.required]
            failing = state == State.FAILED
            for step in required[:1] if failing else required:
                t += minutes(rng.uniform(1, 8))
                self.evidence(pk, step, agent, t, identity, passed=not failing, name=name)
        if "verified" in reached:
            row["verified_at"] = t
            log(t, RecoveryCase, pk, name, UPDATE, agent,
                changes={"state": ["verifying", "verified"]})
            log(t, RecoveryCase, pk, name, ACCESS, agent, event="case_verified")
        if "approval" in reached:
            deciders = rng.sample(self.supervisors, max(1, policy.approvals_required))
            if state == State.DENIED:
                deciders = deciders[:1]
            for supervisor in deciders:
                t += minutes(rng.uniform(5, 60))
                decision = "deny" if state == State.DENIED else "approve"
                approval = self.out.next_id(Approval)
                self.add(Approval, {"id": approval, "case_id": pk, "approver_id": supervisor,
                                    "decision": decision, "reason": "Evidence is complete.",
                                    "step_up_device": "otp_totp.totpdevice/1",
                                    "step_up_at": t - minutes(1), "created_at": t})
                log(t, Approval, approval, f"Approval on case {pk}", CREATE, supervisor,
                    changes={"decision": ["None", decision]})
                log(t, RecoveryCase, pk, name, ACCESS, supervisor,
                    event="approval_given" if decision == "approve" else "case_denied",
                    approval=approval)
        if "approved" in reached:
            row["approved_at"] = t
            log(t, RecoveryCase, pk, name, UPDATE, agent,
                changes={"state": ["verified", "approved"]})
            log(t, RecoveryCase, pk, name, ACCESS, agent, event="case_approved")
        if "issued" in reached:
            t += minutes(rng.uniform(1, 5))
            self.credential(pk, identity, agent, t, state, credential_expires, handle, name, tier)
            t = self._credential_end
        if state in (State.COMPLETED, State.CANCELLED, State.FAILED, State.DENIED, State.EXPIRED):
            t += minutes(rng.uniform(1, 10))
            row["closed_at"] = row["updated_at"] = t
            if state == State.COMPLETED:
                row["watch_until"] = t + timedelta(hours=72)
            row["closing_reason"] = "" if state == State.COMPLETED else f"Bench: {state}."
            log(t, RecoveryCase, pk, name, UPDATE, agent, changes={"state": ["…", state]})
            log(t, RecoveryCase, pk, name, ACCESS, agent, event=f"case_{state}")
            self.notify(identity, pk, f"case-{state}", f"recovery_{state}", t, monitoring=True)
        else:
            row["updated_at"] = t
        self.add(RecoveryCase, row)
        return pk

    def evidence(self, case: int, step: ScriptStep, agent: int, t: datetime, identity: dict,
                 *, passed: bool = True, name: str = "") -> None:
        pk = self.out.next_id(Evidence)
        channel = self.channels[identity["id"]][1]["id"] if step.kind == "channel_code" else None
        self.add(Evidence, {"id": pk, "case_id": case, "step_id": step.pk, "actor_id": agent,
                            "channel_id": channel, "result": "passed" if passed else "failed",
                            "note": "Bench evidence.", "created_at": t,
                            "attester_id": identity["manager_id"] or identity["sponsor_id"]
                            or identity["owner_id"] if step.kind == "attestation" else None})
        self.entry(t, Evidence, pk, f"Evidence {pk}", CREATE, agent,
                   changes={"result": ["None", "passed" if passed else "failed"]})
        self.entry(t, RecoveryCase, case, name, ACCESS, agent, event="evidence_recorded",
                   step=step.pk, result="passed" if passed else "failed")

    def credential(self, case: int, identity: dict, agent: int, t: datetime, state: str,
                   expires: datetime | None, handle: str | None, name: str, tier: str) -> None:
        pk = self.out.next_id(RecoveryCredential)
        lifetime = timedelta(seconds=self.policies[tier][1]["credential_lifetime"])
        row = {"id": pk, "case_id": case, "identity_id": identity["id"],
               "handle": handle or f"bench-{pk}", "digest": self.credential_code,
               "issued_by_id": agent, "delivery": "read_out", "created_at": t,
               "expires_at": expires or t + lifetime}
        if expires is not None and expires <= t:
            row["created_at"] = expires - lifetime
        self.entry(t, RecoveryCredential, pk, f"Recovery credential for case {case}", CREATE,
                   agent, changes={"delivery": ["None", "read_out"]})
        self.entry(t, RecoveryCase, case, name, ACCESS, agent, event="credential_issued",
                   credential=pk)
        self._credential_end = t
        if state == State.COMPLETED:
            used = t + minutes(self.rng.uniform(2, 20))
            row["used_at"], row["attempts"] = used, 1
            session = self.out.next_id(RecoverySession)
            self.add(RecoverySession, {
                "id": session, "case_id": case, "identity_id": identity["id"],
                "credential_id": pk, "digest": f"bench-session-{session}",
                "created_at": used, "expires_at": used + minutes(15),
                "used_at": used + minutes(3)})
            self.entry(used, RecoveryCase, case, name, ACCESS, None, event="credential_redeemed",
                       credential=pk, session=session)
            self._credential_end = used + minutes(3)
        elif state == State.EXPIRED:
            row["voided_at"] = self._credential_end = row["expires_at"]
        elif state != State.CREDENTIAL_ISSUED:
            row["voided_at"] = t
        self.add(RecoveryCredential, row)

    def notify(self, identity: dict, case: int, decision: str, event: str, t: datetime,
               monitoring: bool = False) -> None:
        if not self.audit:
            return
        targets = [(c["id"], "email" if c["kind"] == "email" else "sms")
                   for c in self.channels[identity["id"]]]
        if monitoring:
            targets.append((None, "monitoring"))
        for channel, medium in targets:
            pk = self.out.next_id(Notice)
            self.add(Notice, {
                "id": pk, "identity_id": identity["id"], "channel_id": channel, "medium": medium,
                "event": event, "subject": f"Recovery: {event}", "body": "Bench notice.",
                "idempotency_key": f"{decision}:{case}:{channel or 'monitoring'}",
                "case_id": case, "created_at": t, "next_attempt_at": t,
                "sent_at": t + timedelta(seconds=5), "attempts": 1})
            self.entry(t, Notice, pk, f"{event} notice", CREATE, None,
                       changes={"event": ["None", event]})

    # --- audit entries and the chain -----------------------------------------

    def entry(self, t: datetime, model, pk: int, name: str, action: int, actor: int | None, *,
              changes: dict | None = None, **data) -> None:
        if not self.audit:
            return
        self.entries.append({
            "id": self.out.next_id(LogEntry), "content_type_id": self.ct[model],
            "object_pk": str(pk), "object_id": pk, "object_repr": name, "action": action,
            "changes": changes, "changes_text": "", "actor_id": actor, "remote_addr": None,
            "timestamp": t, "additional_data": data or None, "cid": None,
        })

    def add(self, model, row: dict) -> None:
        self.rows.setdefault(model, []).append(row)

    def flush(self) -> None:
        """Write what was built (cases before what points at them), and chain
        the new audit entries onto the head in id order."""
        for model in (RecoveryCase, RecoveryCaseUserObjectPermission, Evidence, Approval,
                      RecoveryCredential, RecoverySession, Notice):
            self.out.copy(model, self.rows.pop(model, []))
        self.entries.sort(key=lambda e: e["id"])
        head = self.head
        for row in self.entries:
            digest = entry_hash(head.entry_hash, {f: row[f] for f in HASHED_FIELDS})
            head.sequence += 1
            self.links.append({"id": self.out.next_id(ChainLink), "sequence": head.sequence,
                               "entry_id": row["id"], "previous_hash": head.entry_hash,
                               "entry_hash": digest})
            head.entry_hash = digest
        self.out.copy(LogEntry, self.entries)
        self.out.copy(ChainLink, self.links)
        self.entries, self.links = [], []

    def finish(self) -> None:
        self.flush()
        self.head.save(update_fields=["sequence", "entry_hash"])
        self.out.reset_sequences()


def _progress(state: str, tier: str) -> set[str]:
    """Which parts of the history a case in ``state`` went through."""
    order = ["claimed", "evidence", "verified", "approval", "approved", "issued"]
    reach = {
        State.NEW: 0, State.VERIFYING: 1, State.FAILED: 2, State.CANCELLED: 1,
        State.VERIFIED: 3, State.AWAITING_APPROVAL: 3, State.DENIED: 4, State.APPROVED: 5,
        State.CREDENTIAL_ISSUED: 6, State.EXPIRED: 6, State.COMPLETED: 6,
    }[state]
    parts = set(order[:reach])
    if state == State.VERIFYING:
        parts.discard("evidence")
    if state == State.DENIED:
        parts.add("approval")
    if tier not in ("high", "restricted") or state == State.AWAITING_APPROVAL:
        parts.discard("approval")
    return parts


class Command(BaseCommand):
    help = "Generate a realistic recovery history for N identities (PostgreSQL, bulk COPY)."

    def add_arguments(self, parser):
        parser.add_argument("--identities", type=int, required=True)
        parser.add_argument("--seed", type=int, default=9)
        parser.add_argument("--allow-production", action="store_true",
                            help="Generate even with DEBUG off (benchmark databases only).")

    def handle(self, *args, identities: int, seed: int, allow_production: bool = False,
               **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError("Refusing to generate benchmark data when DEBUG is off "
                               "(pass --allow-production on a scratch database).")
        if connection.vendor != "postgresql":
            raise CommandError("generate_bench_data writes with COPY: PostgreSQL only.")
        if identities < 1:
            raise CommandError("--identities must be at least 1.")
        if Identity.objects.filter(directory_id__startswith=PREFIX).exists():
            raise CommandError("Benchmark data is already here: use a fresh database.")
        started = time.monotonic()
        with transaction.atomic():
            data = BenchData(seed=seed)
            data.staff(identities)
            made = data.make_identities(identities)
            data.history(made)
            data.finish()
        # The tables as two years of use leave them: analysed (right after a
        # bulk load PostgreSQL would plan the pages' queries for empty tables)
        # and vacuumed (autovacuum would have set the visibility map long ago;
        # without it no index-only scan is worth the planner's while).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        for label, count in sorted(data.out.counts.items()):
            self.stdout.write(f"{label}: {count}")
        self.stdout.write(f"Generated in {time.monotonic() - started:.1f}s.")
