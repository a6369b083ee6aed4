"""Validators for text typed about people: names, departments, addresses and
phone numbers that staff pages, notices and logs show. Shared by the model
fields (so the admin and ``full_clean`` refuse), forms and commands."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

# C0 controls (CR, LF, TAB, ESC ...), DEL, C1 controls (U+0085 NEL, U+009B CSI
# ...), and the Unicode line and paragraph separators (U+2028, U+2029): what
# breaks a line in a page, a notice header or a log, or drives a terminal.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def validate_no_control_characters(value: str) -> None:
    """Refuse ``value`` if it holds a line break or any control character."""
    found = CONTROL_CHARACTERS.search(value or "")
    if found:
        raise ValidationError(
            "Enter this on one line: line breaks and control characters are not allowed "
            "(found U+%(code)04X).",
            code="control_character", params={"code": ord(found.group())})
