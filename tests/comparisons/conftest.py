import pytest

from tests.chains.openai_server import OpenAIServer
from tests.comparisons.helpers import answers_as


@pytest.fixture
def server_a():
    with OpenAIServer() as srv:
        srv.reply = answers_as("Version A")
        yield srv


@pytest.fixture
def server_b():
    with OpenAIServer() as srv:
        srv.reply = answers_as("Version B")
        yield srv
