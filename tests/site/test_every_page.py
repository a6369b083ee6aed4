"""Every page says where you are in its title, and keeps the promises its
markup makes to assistive technology: each page of the URL table
(tests/security/test_url_matrix.py) that opens for some role, read as the
first role it opens for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.templatetags.static import static

from tests.security.test_url_matrix import TABLE, answer, url_of
from tests.security.world import ROLES, build_world

from .markup import broken_references, parse, title_of

pytestmark = pytest.mark.django_db

SITE = " — Recovery Console"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def pages(world, django_db_blocker) -> dict[str, tuple[str, str]]:
    """URL name -> (role, HTML) of every HTML page of the console but the admin's."""
    found = {}
    with django_db_blocker.unblock():
        for row in TABLE:
            if row.name == "admin":
                continue
            for role in ROLES:
                # That a GET changes nothing is the URL matrix's test, not repeated here.
                response = answer(world, role, "GET", url_of(row, world), unchanged=False)
                if response.status_code == 200 and \
                        response["Content-Type"].startswith("text/html"):
                    found[row.name] = role, response.content.decode()
                    break
    return found


def test_the_pages_read_here_cover_the_console(pages):
    # The enrolment page opens only inside a recovery session, the outbox only in
    # development: every other page of the table is read here.
    assert {"home", "accounts:sign_in", "recovery:queue", "recovery:case", "recovery:decide",
            "recovery:approvals", "recovery:alerts", "recovery:stale_channels",
            "recovery:self_service", "audit:dashboard", "audit:sampled_case"} <= set(pages)
    assert len(pages) >= 25


def test_every_page_title_names_the_page_then_the_console(pages):
    titles = {name: title_of(parse(html)) for name, (_role, html) in pages.items()}
    for name, title in titles.items():
        assert title.endswith(SITE), (name, title)
        where = title.removesuffix(SITE).strip()
        assert where and where != "Recovery Console", (name, title)


def test_no_two_pages_share_a_title(pages):
    by_title = {}
    for name, (_role, html) in pages.items():
        by_title.setdefault(title_of(parse(html)), []).append(name)
    assert {t: names for t, names in by_title.items() if len(names) > 1} == {}


def test_a_case_page_title_names_the_case(world, pages):
    assert title_of(parse(pages["recovery:case"][1])) == f"Case {world.case.pk}{SITE}"
    assert title_of(parse(pages["recovery:decide"][1])) == \
        f"Decide on case {world.case.pk}{SITE}"


def test_every_page_links_its_favicon(pages):
    for name, (_role, html) in pages.items():
        icons = [e for e in parse(html).find_all("link") if e.get("rel") == "icon"]
        assert [e.get("href") for e in icons] == [static("favicon.svg")], name


# Broken references a page is known to have, by page (none today).
KNOWN: dict[str, set[str]] = {}


def test_every_id_a_page_refers_to_exists_once(pages):
    problems = {name: set(broken_references(parse(html))) - KNOWN.get(name, set())
                for name, (_role, html) in pages.items()}
    assert {name: found for name, found in problems.items() if found} == {}


TEMPLATES = Path(settings.BASE_DIR) / "templates"
TITLE = re.compile(r"{% block title %}(.*?){% endblock %}", re.DOTALL)


def test_every_template_of_a_whole_page_has_a_title_of_its_own():
    # Pages the walk above cannot open (enrolment, error pages) included.
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        if '{% extends "base.html" %}' not in text:
            continue
        title = TITLE.search(text)
        assert title and title.group(1).strip(), path.relative_to(TEMPLATES)


def test_the_server_error_page_names_itself_too():
    title = title_of(parse((TEMPLATES / "500.html").read_text()))
    assert title == f"Server error{SITE}"
