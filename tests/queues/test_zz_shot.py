import pytest
from tests import factories
from tests.queues.test_review_screen import TRACE
from reviewapp.queues import services
from reviewapp.catalog.models import ReviewInstructions
pytestmark = pytest.mark.browser

def test_shot(app, manager, querier, group_querier, page_for):
    ReviewInstructions.objects.create(app=app, version=1, markdown="## Be strict\nCheck **sources**.")
    reqs=[factories.make_request(app, trace=TRACE, messages=[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"How do I rotate?"}]) for i in range(3)]
    q,_=services.create_queue(app=app,name="Week 47",created_by=manager,overlap=2,assignment="named",reviewers=[querier,group_querier],request_ids=[r.request_id for r in reqs])
    page=page_for(querier)
    page.goto(f"/queues/{q.pk}/review/")
    page.keyboard.press("1")
    page.wait_for_timeout(500)
    page.screenshot(path="/tmp/review.png", full_page=True)
    o=page_for(manager)
    o.goto(f"/apps/support-bot/queues/{q.pk}/")
    o.screenshot(path="/tmp/detail.png", full_page=True)
    o.goto(f"/apps/support-bot/queues/new/")
    o.screenshot(path="/tmp/create.png", full_page=True)
