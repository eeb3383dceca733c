import pytest

from tests.chains.openai_server import OpenAIServer


@pytest.fixture
def server_a():
    with OpenAIServer() as srv:
        srv.reply = lambda messages: f"Version A says: {messages[-1]['content']}"
        yield srv


@pytest.fixture
def server_b():
    with OpenAIServer() as srv:
        srv.reply = lambda messages: f"Version B says: {messages[-1]['content']}"
        yield srv
