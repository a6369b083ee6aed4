import logging

from celery import shared_task

from . import chain

log = logging.getLogger(__name__)


@shared_task
def verify_audit_chain() -> str:
    """Daily: verify the whole chain and alert security monitoring on a break."""
    verdict = chain.verify()
    if verdict.intact:
        return f"intact: {verdict.checked} entries"
    from recovery_console.monitoring import send_event

    log.error("audit chain broken: %s", verdict.problem)
    send_event({"event": "audit_chain_broken", "summary": str(verdict.problem),
                "correlation_id": f"audit-{verdict.problem.sequence}"},
               idempotency_key=f"audit-chain-broken:{verdict.head_sequence}")
    return f"broken: {verdict.problem}"
