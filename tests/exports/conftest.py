import pytest

from tests import factories
from tests.exports.helpers import review, reviewed


@pytest.fixture
def data(app, manager):
    """Three reviewed requests: one liked, one two reviewers disagree on, one where they stopped disagreeing."""
    second = factories.make_user("second@example.com")
    good = reviewed(app, manager, "positive", question="Good one?")
    disputed = reviewed(app, manager, "positive", question="Disputed one?")
    review(disputed, second, "negative", reasons=["irrelevant"])
    # The second reviewer disliked `settled`, then changed their mind (and corrected the answer).
    settled = reviewed(app, manager, "positive", question="Settled one?")
    review(settled, second, "negative")
    review(settled, second, "positive", corrected_response="Better.")
    return {"good": good, "disputed": disputed, "settled": settled}
