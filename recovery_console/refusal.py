"""The console's one refusal type, below every module that refuses: the
workflow's decisions, alert acknowledgement and bulk channel revocation all
raise it, and views answer with its message and its HTTP meaning."""


class WorkflowError(Exception):
    """A refused decision, the workflow's one refusal type. ``reason`` is its
    stable code (audited with the refusal; views and tests match on it,
    never on the message); ``status`` its HTTP meaning: FORBIDDEN (not this
    person's right), BAD_REQUEST (the input is wrong), NOT_FOUND (nothing
    answers to what was given), or CONFLICT, the default (not now, as the
    case stands); ``message`` is for the person who tried."""

    FORBIDDEN, BAD_REQUEST, NOT_FOUND, CONFLICT = 403, 400, 404, 409

    def __init__(self, message: str, *, reason: str = "refused", status: int = CONFLICT,
                 target=None, **data):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status
        self.target = target
        self.data = data
