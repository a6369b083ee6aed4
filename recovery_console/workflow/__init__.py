"""The recovery workflow: one function per decision.

Each function takes the actor explicitly, checks their right, locks the case,
changes state, writes evidence/approval rows and the audit entry, and owes
notices in the outbox, all in one transaction. A refusal raises
``WorkflowError`` with a message a person can act on; the transaction is
rolled back and the refusal itself is audited (``<decision>_refused``).

Views, admin actions, tasks and commands call these, as ``workflow.approve``
and the like; none re-implements them. The package follows the state machine:

- ``base``: the ``_decision`` decorator, locking, moving and
  closing a case, the notices a closed case owes;
- ``rules``: the pure ``may_*`` checks (what a page offers is what the
  decision accepts) and the ``_require_*`` checks they share;
- ``opening``: self-service requests, ``open_case``, ``claim``, ``unclaim``;
- ``routing``: which help-desk team's queue holds a case: ``route`` (when
  it opens), ``reroute`` (when its tier rises: any decision raising a tier
  calls it), the privileged-spike alert;
- ``handover``: ``hand_over`` (the holder to a colleague) and ``reassign``
  (a supervisor to an agent), each with a note;
- ``notes``: ``add_note``, append-only notes on a case;
- ``verification``: codes, evidence, attestations, the pressure checklist
  (``answer_pressure_checklist``), verified, ``fail``, ``escalate``;
- ``approval``: ``request_approval``, ``approve``, ``deny``;
- ``velocity``: per person (``open_case`` refuses the ``refuse_from``-th
  recovery in the window; ``allow_recovery``) and per agent (alerts above
  the team's norms; ``release_issue`` past its daily limit);
- ``closing``: ``cancel``, ``expire``, ``repudiate``, ``record_rotation``,
  ``void_basis``;
- ``reviews``: a repudiation marks the staff involved for review
  (``mark_involvement``); a security admin closes each (``close_review``);
- ``credential``: issue, redeem (by link or read out), the recovery session,
  ``complete``;
- ``passkeys``: ``passkey_added`` (the owner told, the watch-period alert)
  and ``revoke_passkey``; the WebAuthn ceremonies in ``accounts.webauthn``
  store the row and know nothing of recoveries;
- ``sweep``: ``expire_due``, the bulk expiry with its threads and batches;
- ``directory``: what the organisation's directory decides (CSV, LDAP and
  SCIM alike): ``preview_directory``, ``apply_directory_run``,
  ``sync_directory``, ``confirm_directory_run``, ``discard_directory_run``,
  ``provision_scim_user``, ``provision_scim_group``, ``create_directory_client``,
  ``revoke_directory_client``;
  leaving the directory deactivates through ``closing.void_basis``;
- ``lost_device``: a passkey reported lost still signing in
  (``lost_passkey_signed_in``, ``flag_lost_device``) and the supervisor's
  ``review_lost_device`` that lets issuing go on;
- ``directory_ldap``: an LDAP source read and handed to those
  (``sync_ldap_source``, ``preview_ldap_source``).

``WorkflowError`` (defined in ``recovery_console.refusal``, below everything
that refuses) is the one refusal type: its ``reason`` is a stable code, its
``status`` the HTTP meaning views answer with (``_decision`` audits it, with
the actor the decision names). A refused WebAuthn ceremony
(``accounts.webauthn.PasskeyError``) comes out of ``complete_enrolment`` and
``revoke_passkey`` as a WorkflowError with reason ``passkey_<its reason>``.
Anything else a decision raises is a programming error (``void_basis`` with
an unknown cause: ValueError; a case that does not exist: DoesNotExist).

Imports point one way: base <- rules <- routing <- opening, handover, notes,
verification, approval <-
closing <- credential (a redemption whose basis broke is voided through
``closing.void_basis``; an enrolment adds ``passkeys.passkey_added``);
passkeys and sweep need none of them.
"""

from .approval import approve, deny, request_approval
from .base import WorkflowError
from .closing import cancel, expire, record_rotation, repudiate, void_basis
from .credential import (
    REDEEM_REFUSED,
    IssuedCredential,
    OpenedSession,
    complete,
    complete_enrolment,
    issue_credential,
    read_out_address,
    recovery_session_for,
    redeem,
    redeem_read_out,
)
from .directory import (
    apply_directory_run,
    confirm_directory_run,
    create_directory_client,
    discard_directory_run,
    preview_directory,
    provision_scim_group,
    provision_scim_user,
    revoke_directory_client,
    sync_directory,
)
from .directory_ldap import preview_ldap_source, sync_ldap_source
from .handover import hand_over, reassign
from .lost_device import (
    flag_lost_device,
    had_when_opened,
    lost_passkey_signed_in,
    open_case_of,
    review_lost_device,
)
from .notes import add_note
from .opening import claim, open_case, request_self_service, resolve_self_service_request, unclaim
from .passkeys import passkey_added, revoke_passkey
from .reviews import close_review, involvement, mark_involvement
from .routing import reroute, route, serves
from .rules import (
    BASIS_CAUSES,
    HANDED_EVENTS,
    UNSCOPED_ROLES,
    WORK_PERMISSION,
    in_scope,
    known_involvement,
    known_scope,
    may_add_note,
    may_answer_pressure,
    may_cancel,
    may_claim,
    may_close_review,
    may_decide,
    may_escalate,
    may_fail,
    may_hand_over,
    may_hold,
    may_issue,
    may_reassign,
    may_release_issue,
    may_request_approval,
    may_review_lost_device,
    may_rotate,
    may_unclaim,
    may_work,
    past_daily_limit,
    pressure_answer_of,
    pressure_signs,
    staff_name,
    team_ids,
    worked_entries,
)
from .sweep import expire_due
from .velocity import ALLOWANCE_LIFETIME, allow_recovery, release_issue
from .verification import (
    AGENT_RECORDED_KINDS,
    DOCUMENT_TYPES,
    MAX_CODES_PER_STEP,
    answer_attestation,
    answer_pressure_checklist,
    check_channel_code,
    escalate,
    fail,
    mark_verified,
    record_evidence,
    request_attestation,
    send_channel_code,
)

__all__ = [
    "AGENT_RECORDED_KINDS", "ALLOWANCE_LIFETIME", "BASIS_CAUSES", "DOCUMENT_TYPES",
    "HANDED_EVENTS", "IssuedCredential", "MAX_CODES_PER_STEP", "OpenedSession", "REDEEM_REFUSED",
    "UNSCOPED_ROLES", "WORK_PERMISSION", "WorkflowError", "add_note", "allow_recovery",
    "answer_attestation", "answer_pressure_checklist", "apply_directory_run", "approve", "cancel",
    "check_channel_code", "claim", "close_review", "complete", "complete_enrolment",
    "confirm_directory_run", "create_directory_client", "deny", "discard_directory_run",
    "escalate", "expire", "expire_due", "fail", "flag_lost_device", "had_when_opened", "hand_over",
    "in_scope", "involvement", "issue_credential", "known_involvement", "known_scope", "lost",
    "lost_passkey_signed_in", "mark_involvement", "mark_verified", "may_add_note",
    "may_answer_pressure", "may_cancel", "may_claim", "may_close_review", "may_decide",
    "may_escalate", "may_fail", "may_hand_over", "may_hold", "may_issue", "may_reassign",
    "may_release_issue", "may_request_approval", "may_review_lost_device", "may_rotate",
    "may_unclaim", "may_work", "open_case", "open_case_of", "passkey_added", "past_daily_limit",
    "pressure_answer_of", "pressure_signs", "preview_directory", "preview_ldap_source",
    "provision_scim_group", "provision_scim_user", "read_out_address", "reassign",
    "record_evidence", "record_rotation", "recovery_session_for", "redeem", "redeem_read_out",
    "release_issue", "repudiate", "request_approval", "request_attestation",
    "request_self_service", "reroute", "resolve_self_service_request", "review_lost_device",
    "revoke_directory_client", "revoke_passkey", "route", "send_channel_code", "serves",
    "staff_name", "sync_directory", "sync_ldap_source", "team_ids", "unclaim", "void_basis",
    "worked_entries"
]
