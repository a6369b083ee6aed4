from django.db.backends.sqlite3 import base

from audit.backends import ChainBeforeCommit


class DatabaseWrapper(ChainBeforeCommit, base.DatabaseWrapper):
    pass
