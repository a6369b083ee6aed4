from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Print the current authenticator code of a staff account's TOTP device (demo helper)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        device = TOTPDevice.objects.filter(user__username=username, confirmed=True).first()
        if device is None:
            raise CommandError(f"No confirmed authenticator for {username!r}.")
        code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
        self.stdout.write(f"{code:0{device.digits}d}")
