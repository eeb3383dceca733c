"""Text Python calls digits but int() refuses ("²") is a bad value, never a server error."""

from reviewapp.feedback.models import Assessment
from tests import factories
from tests.feedback.helpers import feedback


def test_the_dashboard_shows_a_version_with_a_superscript_digit(app, manager, querier, as_user):
    odd = factories.make_request(app, user=querier, app_version="1.²")
    feedback(odd, querier, rating="positive")
    factories.make_request(app, user=querier, app_version="1.10")

    response = as_user(manager).get(f"/apps/{app.slug}/dashboard/")

    assert response.status_code == 200
    assert "1.²" in response.content.decode()


def test_a_panel_post_naming_a_superscript_queue_is_refused(app, querier, as_user):
    req = factories.make_request(app, user=querier)

    response = as_user(querier).post(
        f"/apps/{app.slug}/requests/{req.pk}/feedback/",
        {"field": "rating", "rating": "positive", "queue": "²"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 400
    assert not Assessment.objects.exists()
