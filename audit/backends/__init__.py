"""Database backends that chain a transaction's audit entries just before it
commits (see ``audit.chain``): Django's own PostgreSQL and SQLite backends with
one hook added to ``commit`` and ``rollback``."""

from __future__ import annotations

from django.db import DatabaseError


class ChainBeforeCommit:
    """Collects the ids of audit entries written in the open transaction and
    chains them as the transaction's last statements, so the chain head stays
    locked only from then until the commit, not from the first entry on. If
    chaining fails, the commit fails and the whole transaction rolls back: an
    entry and its link are committed together or not at all."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.audit_unchained: list[int] = []

    def commit(self):
        if self.audit_unchained:
            from audit.chain import chain_now

            ids, self.audit_unchained = self.audit_unchained, []
            try:
                chain_now(self, ids)
            except Exception as error:
                raise DatabaseError(f"the audit chain could not be extended: {error}") from error
        super().commit()

    def rollback(self):
        self.audit_unchained = []
        super().rollback()

    def close(self):
        self.audit_unchained = []
        super().close()
