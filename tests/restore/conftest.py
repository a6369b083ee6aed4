import pytest

from .server import ProviderServer


@pytest.fixture
def provider_server():
    server = ProviderServer().start()
    yield server
    server.stop()
