import pytest

from tests.judges import helpers, judge_model


@pytest.fixture
def labelled(app, manager):
    return helpers.labelled(app, manager)


@pytest.fixture
def judge_server(monkeypatch):
    """A judge model on loopback answering by its rule (tests.judges.judge_model), its key set."""
    monkeypatch.setenv(judge_model.KEY_ENV, judge_model.KEY)
    server = judge_model.start()
    yield server
    server.__exit__(None, None, None)
