"""Submitting a Django admin change form as a browser would: every field the
page renders, with its current value, and only the given changes on top."""

from __future__ import annotations

from html.parser import HTMLParser

from django.urls import reverse


class _ChangeForm(HTMLParser):
    """What a browser would submit from the admin's change form, unchanged."""

    def __init__(self):
        super().__init__()
        self.data, self._select, self._textarea = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.data[name] = attrs.get("value", "on")
            elif kind not in ("submit", "button", "file"):
                self.data[name] = attrs.get("value", "")
        elif tag == "select" and name:
            self._select = (name, "multiple" in attrs, [], [])  # name, multiple, all, chosen
        elif tag == "option" and self._select:
            self._select[2].append(attrs.get("value", ""))
            if "selected" in attrs:
                self._select[3].append(attrs.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            name, multiple, options, chosen = self._select
            if multiple:
                if chosen:
                    self.data[name] = chosen
            elif chosen or options:
                self.data[name] = (chosen or options)[0]
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def form_data(page) -> dict:
    """What a browser would submit from ``page``'s form, unchanged."""
    parser = _ChangeForm()
    parser.feed(page.content.decode())
    return parser.data


def change(client, obj, **changes):
    """POST ``obj``'s admin change form with ``changes`` (a value of None
    unticks a checkbox); returns the response."""
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    data = {**form_data(page), "_save": "Save"}
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return client.post(url, data)
