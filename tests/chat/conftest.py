import pytest

from reviewapp.catalog.models import App
from tests.chains.openai_server import OpenAIServer


@pytest.fixture
def server():
    """A real OpenAI-compatible server on loopback (streams when asked)."""
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def http_app(app, server):
    app.adapter = App.Adapter.HTTP
    app.adapter_config = {"url": server.url}
    app.timeout_seconds = 5
    app.save()
    return app
