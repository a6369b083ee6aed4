"""Inviting a wave of 20,000 members through the outbox:
a cohort of N active identities (each with an account and an email channel;
10 % already with a passkey, 1 % excused from the invite stage), and
``invitations.invite`` timed end to end: the members read, the invitations,
enrolment links and notices (an email carrying the link, a portal notice)
written in bulk, one audit entry per invitation (``record_many``, COPY on
PostgreSQL) chained at commit, and the delivery tasks queued (one per 500
emails). Then the first reminder pass over the same wave, the wave page's
counts, and one delivery task's chunk of 500 emails (locmem mail backend).

    DATABASE_URL=postgres://.../wt_invite19_bench REDIS_URL=redis://127.0.0.1:6379/11 \\
        python -m bench.rollout_invite [MEMBERS]   (default 20000)

EMPTIES the database named by DATABASE_URL (flush) and purges the Celery
queue of REDIS_URL: never point them at ones you keep. Prints one JSON
object, also written to var/bench-rollout-invite-<MEMBERS>.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BULK = 5000


def populate(members: int) -> None:
    """N members of the Finance department, written in bulk."""
    from django.utils import timezone

    from accounts.identifiers import canonical, name_key
    from accounts.models import Identity, PasskeyCredential, RecoveryChannel, User

    now = timezone.now()
    for start in range(0, members, BULK):
        numbers = range(start, min(start + BULK, members))
        users = User.objects.bulk_create(
            User(username=f"m{i:06d}", password="!", email=f"m{i:06d}@example.org",  # noqa: S106
                 email_key=canonical(f"m{i:06d}@example.org"), first_name="Member",
                 last_name=f"{i:06d}", passkey_handle=f"{i:064x}")
            for i in numbers)
        identities = Identity.objects.bulk_create(
            Identity(user=user, directory_id=f"m{i:06d}", directory_key=canonical(f"m{i:06d}"),
                     display_name=f"Member {i:06d}", name_key=name_key(f"Member {i:06d}"),
                     department="Finance")
            for i, user in zip(numbers, users, strict=True))
        RecoveryChannel.objects.bulk_create(
            RecoveryChannel(identity=identity, kind="email", address=f"m{i:06d}@example.org",
                            address_key=canonical(f"m{i:06d}@example.org"),
                            verified_at=now - timedelta(days=200),
                            last_confirmed_at=now - timedelta(days=10),
                            changed_at=now - timedelta(days=200))
            for i, identity in zip(numbers, identities, strict=True))
        PasskeyCredential.objects.bulk_create(
            PasskeyCredential(user=user, name="Laptop", credential_id=f"bench-{i}",
                              public_key=b"k")
            for i, user in zip(numbers, users, strict=True) if i % 10 == 0)


def timed(label: str, out: dict, fn):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = fn()
        out[f"{label}_seconds"] = round(time.perf_counter() - started, 2)
    out[f"{label}_queries"] = len(queries)
    spent = sorted(((float(q["time"]), q["sql"][:90]) for q in queries.captured_queries),
                   reverse=True)
    out[f"{label}_sql_seconds"] = round(sum(t for t, _ in spent), 2)
    if os.environ.get("BENCH_SLOWEST"):
        out[f"{label}_slowest"] = spent[:4]
    return result


def main(members: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery_console.settings")
    django.setup()
    from django.conf import settings
    from django.core import mail
    from django.core.management import call_command
    from django.db import connection
    from django.urls import reverse
    from django.utils import timezone

    from accounts.models import User
    from recovery_console import outbox
    from recovery_console.celery import app
    from recovery_console.models import Notice
    from recovery_console.rollout import invitations
    from recovery_console.rollout.models import Cohort, RolloutPlan, Wave, WaveException
    from tests.factories import staff

    if connection.vendor != "postgresql":
        sys.exit("Run it on PostgreSQL: DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    out: dict = {"members": members, "database": connection.vendor}
    started = time.perf_counter()
    populate(members)
    out["populate_seconds"] = round(time.perf_counter() - started, 1)
    admin = staff("security_admin")
    plan = RolloutPlan.objects.create(name="Bench plan")
    wave = Wave.objects.create(plan=plan, cohort=Cohort.objects.create(
        name="Finance", department="Finance"), position=1, stage=Wave.Stage.INVITE)
    now = timezone.now()
    WaveException.objects.bulk_create(
        WaveException(wave=wave, identity_id=pk, stage=Wave.Stage.INVITE, owner=admin,
                      created_by=admin, reason="Bench", expires_at=now + timedelta(days=30))
        for pk in User.objects.filter(identity__isnull=False, passkeycredential__isnull=True)
        .values_list("identity__pk", flat=True)[:members // 100])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    reverse("invitations:my_rollout")  # the URLconf's imports, paid once by any server

    invited = timed("invite", out, lambda: invitations.invite(wave, admin, now))
    out["invited"] = invited.__dict__
    out["emails_owed"] = Notice.objects.filter(medium=Notice.Medium.EMAIL).count()
    out["portal_notices"] = Notice.objects.filter(medium=Notice.Medium.PORTAL).count()
    out["delivery_tasks_queued"] = -(-out["emails_owed"] // outbox.DISPATCH_CHUNK)

    later = now + plan.reminder_interval
    out["reminded"] = timed("remind", out, lambda: invitations.send_reminders(later))
    counts = timed("counts", out, lambda: invitations.invitation_counts(wave, later))
    out["counts"] = counts.__dict__

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.REDACT_DELIVERED_SECRETS = True
    chunk = list(Notice.objects.filter(medium=Notice.Medium.EMAIL, sent_at__isnull=True)
                 .order_by("pk").values_list("pk", flat=True)[:outbox.DISPATCH_CHUNK])
    delivered = timed("deliver_chunk", out, lambda: outbox.deliver_each(chunk))
    mails = len(getattr(mail, "outbox", []))
    out["deliver_chunk"] = {"notices": len(chunk), **delivered, "mails": mails}
    app.control.purge()  # the queued delivery tasks: no worker runs here
    return out


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    result = main(size)
    text = json.dumps(result, indent=2)
    print(text)
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / f"bench-rollout-invite-{size}.json").write_text(text + "\n")
