"""Run by the error-report tests in a process of its own (sentry-sdk's set-up
is global to a process): with the console's settings and middleware, one
request full of secrets reaches a view that logs an error and fails; the
process then prints what it did as one JSON line.

    python -m tests.ops.sentry_probe
"""

import json
import logging
import sys
import threading
import urllib.error
import urllib.request
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

# What no report may carry, in any form.
CODE = "493817"
CREDENTIAL_CODE = "QWERT-ASDF2-ZXCV3-POIU4"
TOKEN = "tok3nZx9Qw8Er7Ty6Ui5Op4Lk"  # noqa: S105 - planted, not a credential
HANDLE = "h4ndle-AbCdEf0123456789"
ATTESTATION = "att3st-Secret-987654"
EMAIL = "pat.person@example.org"
PHONE = "+44 7700 900123"
IPV4 = "203.0.113.77"
IPV6 = "2001:db8:85a3::8a2e:370:7334"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - planted, not a credential
SIGNATURE = "sha256=5f2b0c9e7d1a4b3c"
PLANTED = (CODE, CREDENTIAL_CODE, TOKEN, HANDLE, ATTESTATION, EMAIL, PHONE, "7700 900123",
           IPV4, IPV6, PASSWORD, SIGNATURE)
REQUEST_ID = "probe-error-report-0001"

log = logging.getLogger("recovery_console.probe")


class PlantedError(RuntimeError):
    """What the failing view raises."""


@csrf_exempt
def fail(request, token):
    channel_code = CODE  # a local variable: reports carry none
    log.error("refusing %s for %s at %s", channel_code, EMAIL, PHONE)
    raise PlantedError(f"code {CODE} and {CREDENTIAL_CODE} for {EMAIL} at {PHONE}, from {IPV4} "
                       f"and {IPV6}, via /recover/{HANDLE}/ and /attest/{ATTESTATION}/ with "
                       f"{token}")


urlpatterns = [path("fail/<str:token>/", fail)]


def post_to_failing_view(port: int) -> int:
    body = urlencode({"code": CODE, "password": PASSWORD, "phone": PHONE}).encode()
    request = urllib.request.Request(  # noqa: S310 - a local http URL
        f"http://127.0.0.1:{port}/fail/{TOKEN}/?token={TOKEN}&code={CODE}&email={EMAIL}",
        data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={TOKEN}; remember={EMAIL}",
            "Authorization": f"Bearer {TOKEN}", "X-Recovery-Signature": SIGNATURE,
            "X-Forwarded-For": IPV6, "Referer": f"https://console.example.org/recover/{HANDLE}/",
            "X-Request-ID": REQUEST_ID})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as failed:
        return failed.code


def main() -> None:
    """Serve the console's WSGI application (as gunicorn would) on a local
    port with the failing view added, and post to it once."""
    from django.core.wsgi import get_wsgi_application
    from django.test import override_settings

    application = get_wsgi_application()
    with override_settings(ROOT_URLCONF=__name__), \
            make_server("127.0.0.1", 0, application, handler_class=QuietHandler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        status = post_to_failing_view(server.server_port)
        server.shutdown()
    imported = "sentry_sdk" in sys.modules
    active = False
    if imported:
        import sentry_sdk

        active = sentry_sdk.get_client().is_active()
        sentry_sdk.flush(timeout=10)
    print(json.dumps({"status": status, "sentry_sdk_imported": imported,
                      "client_active": active}))


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    main()
