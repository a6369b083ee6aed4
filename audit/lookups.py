"""``id__any_of=[...]``: ``id IN (...)`` for integer keys that stays one
parameter on PostgreSQL (``id = ANY(%s)``, the list sent as one array).

The expiry sweep and the audit chain work on thousands of ids at a time. With
``__in`` every id is a parameter of its own, and building and binding those
statements took longer than the database took to run them. Elsewhere
(SQLite) it is ``__in``. Registered by the audit app, which every other app
builds on."""

from django.db.models import ForeignKey, IntegerField
from django.db.models.lookups import In


class AnyOf(In):
    lookup_name = "any_of"

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, [int(value) for value in self.rhs])


IntegerField.register_lookup(AnyOf)
ForeignKey.register_lookup(AnyOf)
