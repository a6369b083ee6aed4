"""What names an identity: a directory id, or an email address on file (the
identity's user account, or one of its email recovery channels).

Every identifier is stored beside its canonical form (``canonical``), and a
lookup compares canonical forms for equality, nothing else: no ``iexact``
(PostgreSQL's ``UPPER()`` equates dotless ı with i, SQLite's ``LIKE`` only
folds ASCII), so the same string names the same identity on every database.

The rule, after PRECIS (RFC 8264/8265, UsernameCaseMapped):

1. Unicode NFKC: width and compatibility forms become their plain letters
   (fullwidth ｆ is f, long ſ is s, the Kelvin sign is K, a ligature ﬁ is fi).
   Unicode itself defines these as the same character for identifiers.
2. Lower case (Unicode toLowerCase, not full case folding), then NFKC again
   until nothing changes. Case folding would map ß and ẞ to "ss", making
   "weiß" and "weiss" one identifier although IDNA2008 and mail servers keep
   them apart; lower case makes ẞ (capital) and ß one letter and keeps ss a
   different string.

Distinct letters stay distinct: dotless ı is not i, İ is i with a dot above
(not i), Cyrillic а is not Latin a. An identifier made of look-alikes names
no-one unless an identity was stored with exactly those letters.

Identifiers with characters a person cannot see or type are refused, not
cleaned (``validate_identifier``): controls (C0, C1, DEL), format characters
(zero-width space, joiners, word joiner, byte-order mark, bidirectional
overrides, soft hyphen), other default-ignorable characters (variation
selectors, Hangul fillers), line and paragraph separators, private-use,
surrogate and unassigned code points. Cleaning them silently would make two
different strings one identifier behind the person's back.
"""

from __future__ import annotations

import unicodedata

import phonenumbers
from django.core.exceptions import ValidationError

REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt) outside the
# categories above: invisible, so refused as well.
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
REFUSED_MESSAGE = ("Remove the invisible or control character (%(character)s) at position "
                   "%(position)s: an identifier may only hold characters you can see and type.")


def canonical(value: str) -> str:
    """The one form identifiers are stored under and compared in."""
    if value.isascii():  # NFKC leaves ASCII as it is: lower case is all there is to do
        return value.lower()
    previous, current = None, unicodedata.normalize("NFKC", value)
    while current != previous:  # a fixed point: canonical(canonical(x)) == canonical(x)
        previous, current = current, unicodedata.normalize("NFKC", current.lower())
    return current


def refused_character(value: str) -> tuple[int, str] | None:
    """The first (position, character) that may not be part of an identifier,
    in the value as typed or in its canonical form; None when all are fine."""
    if value.isascii() and value.isprintable():  # ASCII refuses only its controls
        return None
    for text in (value, canonical(value)):
        for position, character in enumerate(text, start=1):
            point = ord(character)
            if unicodedata.category(character) in REFUSED_CATEGORIES or any(
                    low <= point <= high for low, high in DEFAULT_IGNORABLE):
                return position, character
    return None


def describe(character: str) -> str:
    name = unicodedata.name(character, "").lower()
    return f"U+{ord(character):04X}{f' {name}' if name else ''}"


def validate_identifier(value: str) -> None:
    """Model and form field validator: refuse invisible and control characters."""
    found = refused_character(value or "")
    if found is not None:
        position, character = found
        raise ValidationError(REFUSED_MESSAGE, code="invisible_character",
                              params={"character": describe(character), "position": position})


def validate_one_line_identifier(value: str) -> None:
    """For a value that is both an identifier and a line staff read (a channel
    address): line breaks and controls get the one-line message, other
    invisible characters the identifier's; one message either way."""
    from .validators import validate_no_control_characters

    validate_no_control_characters(value)
    validate_identifier(value)


def identities_named(identifier: str):
    """Identities ``identifier`` names, by equality of canonical forms: a
    directory id, the identity's user email, or an unrevoked email channel.
    More than one means the identifier is ambiguous (emails are not unique)."""
    from django.db.models import Q

    from .models import Identity, RecoveryChannel

    key = canonical(identifier.strip())
    if not key or refused_character(identifier.strip()) is not None:
        return Identity.objects.none()
    email_channels = RecoveryChannel.objects.filter(
        kind=RecoveryChannel.Kind.EMAIL, address_key=key, revoked_at__isnull=True)
    return Identity.objects.filter(
        Q(directory_key=key) | Q(user__email_key=key)
        | Q(pk__in=email_channels.values("identity_id"))).order_by("pk")


def name_key(value: str) -> str:
    """A display name's searchable form: canonical, with each run of white
    space one space. Staff search names by part (``contains`` on this form),
    so both sides are lower-cased here, in Python, never by the database:
    SQLite's LIKE folds only ASCII and PostgreSQL's depends on its collation."""
    return canonical(" ".join(value.split()))


def phone_key(value: str) -> str:
    """A phone number's searchable form: its digits (any script's decimal
    digits as ASCII), without spaces, dashes, brackets or the leading "+";
    a leading "00" international prefix counts as "+". National forms
    ("020 7946 0000") are not turned into international ones: that needs the
    country, which the number alone does not say."""
    text = unicodedata.normalize("NFKC", value).strip()
    digits = "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())
    if not text.startswith("+") and digits.startswith("00"):
        digits = digits[2:]
    return digits


def phone_keys(value: str, region: str = "") -> set[str]:
    """Every ``phone_key`` the number ``value`` may be stored under: its digits
    as written and, when libphonenumber reads it as a possible number (written
    internationally, or nationally for ``region``, a country code such as
    "GB"), its international digits and, for a number of ``region``, its
    national digits. With region GB, "07700 900123" finds a channel kept as
    "+44 7700 900123", and the other way round."""
    keys = {phone_key(value)}
    try:
        number = phonenumbers.parse(value, region.upper() or None)
    except phonenumbers.NumberParseException:
        return keys
    if not phonenumbers.is_possible_number(number):
        return keys
    keys.add(phone_key(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)))
    if region and phonenumbers.region_code_for_number(number) == region.upper():
        keys.add(phone_key(phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.NATIONAL)))
    return keys
