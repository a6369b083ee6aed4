"""The audit trail: django-auditlog's LogEntry rows, chained by hash.

How an entry gets into the chain, in one place (every writer goes this way):

1. It is written: by django-auditlog's model signals (model diffs), by
   ``audit.events.record`` (a decision or refusal the workflow's
   ``_decision`` and others record), or in bulk by ``audit.events.record_many``
   (a COPY on PostgreSQL; it calls ``chain.append`` itself, since bulk writes
   send no signals).
2. Receivers on LogEntry (``audit.apps``) date it by the workflow's clock
   (``pre_save``) and hand its id to ``audit.chain.append`` (``post_save``),
   which only remembers it on the open transaction's connection.
3. The database ENGINE is one of ``audit.backends`` (settings swaps Django's
   own for it): its ``commit()`` links the remembered entries as the
   transaction's last statements (``audit.chain.chain_now``), locking the
   chain head only then. A failed chaining fails the commit, so a decision
   and its entries are committed together or not at all. Django has no
   hook before the outermost commit (``on_commit`` runs after it), hence
   the engine wrapper.

Also here: sampling reports and findings (``sampling``), the auditor's
dashboard, and ``verify`` of the chain (``chain.verify``).
"""
