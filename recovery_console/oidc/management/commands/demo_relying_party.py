"""``make run``'s demo application: a relying party that signs people in
through the console's OpenID provider (recovery_console.oidc.demo_relying_party),
served on localhost until stopped. Development only."""

from __future__ import annotations

from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recovery_console.oidc.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, demo_redirect_uri
from recovery_console.oidc.demo_relying_party import RelyingParty


class Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class Command(BaseCommand):
    help = "Serve the demo application that signs in through the console (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("site", nargs="?", default="http://localhost:8000")
        parser.add_argument("--port", type=int, default=settings.DEMO_RELYING_PARTY_PORT)

    def handle(self, *args, site: str, port: int, **options):
        if not settings.DEBUG:
            raise CommandError("The demo application's secret is public: DEBUG is off.")
        app = RelyingParty(issuer=f"{site.rstrip('/')}/oidc", client_id=DEMO_CLIENT_ID,
                           client_secret=DEMO_CLIENT_SECRET, redirect_uri=demo_redirect_uri(port))
        with make_server("localhost", port, app, handler_class=Quiet) as server:
            self.stdout.write(f"Demo application on http://localhost:{port}/ (signs in through "
                              f"{app.issuer})")
            self.stdout.flush()
            server.serve_forever()
