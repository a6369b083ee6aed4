from django.db.backends.postgresql import base

from audit.backends import ChainBeforeCommit


class DatabaseWrapper(ChainBeforeCommit, base.DatabaseWrapper):
    pass
