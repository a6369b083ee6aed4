from auditlog.middleware import AuditlogMiddleware

from .events import client_address


class AuditContextMiddleware(AuditlogMiddleware):
    """django-auditlog's middleware, with the client address taken only from
    trusted proxies (its own takes the first X-Forwarded-For value, which any
    client can set)."""

    @staticmethod
    def _get_remote_addr(request):
        return client_address(request)

    @staticmethod
    def _get_remote_port(request):
        return None
