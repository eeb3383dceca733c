import pytest

from tests.judges import helpers


@pytest.fixture
def labelled(app, manager):
    return helpers.labelled(app, manager)
