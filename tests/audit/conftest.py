import pytest

from tests.factories import staff
from tests.sessions import sign_in_client


@pytest.fixture
def auditor(client):
    """An auditor, signed in on ``client``."""
    user = staff("auditor")
    sign_in_client(client, user)
    return user
