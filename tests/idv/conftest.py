import pytest

from tests.restore.server import ProviderServer

from . import persona


@pytest.fixture
def provider_server():
    server = ProviderServer().start()
    yield server
    server.stop()


@pytest.fixture
def persona_configured(monkeypatch, provider_server):
    """Persona configured through the environment, its API at the local server."""
    for name, value in {"IDV_PROVIDER": "persona", "IDV_PERSONA_API_KEY": persona.API_KEY,
                        "IDV_PERSONA_WEBHOOK_SECRET": persona.WEBHOOK_SECRET,
                        "IDV_PERSONA_TEMPLATE_ID": persona.TEMPLATE,
                        "IDV_PERSONA_API_URL": provider_server.url}.items():
        monkeypatch.setenv(name, value)
    return provider_server


@pytest.fixture
def no_provider(monkeypatch):
    for name in ("IDV_PROVIDER", "IDV_PERSONA_API_KEY", "IDV_PERSONA_WEBHOOK_SECRET",
                 "IDV_PERSONA_TEMPLATE_ID", "IDV_PERSONA_API_URL"):
        monkeypatch.delenv(name, raising=False)
