import json

from django.core.management.base import BaseCommand

from audit import chain


class Command(BaseCommand):
    help = "Print a signed checkpoint of the audit chain's head, to keep outside this database."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(chain.checkpoint(), sort_keys=True))
