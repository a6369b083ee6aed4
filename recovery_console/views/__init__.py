"""Thin views: look the object up among what the viewer may see, call one
workflow function, render or redirect. Staff pages in ``staff``, the pages
of people being recovered (and of their attesters) in ``public``."""

from .holding import add_note, give_back_selected, hand_over, reassign, reassign_selected
from .public import (
    attestation,
    enrol,
    enrol_options,
    enrol_verify,
    outbox,
    recovered,
    redeem,
    redeem_read_out,
    self_service_request,
)
from .staff import (
    approvals,
    cancel,
    case_detail,
    case_watch,
    claim,
    decide,
    escalate,
    fail,
    home,
    issue_credential,
    issued,
    open_case,
    queue,
    record_rotation,
    request_approval,
    review_lost_device,
    step_action,
    unclaim,
)

__all__ = [
    "review_lost_device",
    "add_note", "give_back_selected", "hand_over", "reassign", "reassign_selected",
    "approvals", "attestation", "cancel", "case_detail", "claim", "decide", "enrol",
    "enrol_options", "enrol_verify", "home", "issue_credential", "open_case", "outbox",
    "queue", "record_rotation", "recovered", "redeem", "redeem_read_out", "request_approval",
    "self_service_request", "step_action",
    "unclaim", "case_watch", "escalate", "fail", "issued",
]
