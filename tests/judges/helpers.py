"""Requests the reviewers labelled for groundedness, and a judge run over them."""

from reviewapp.exports.selection import Filters
from reviewapp.jobs.services import run_job
from reviewapp.judges import services
from reviewapp.judges.runs import run
from tests import factories

PASSAGES = ["Tokens can be rotated in Settings.", "Revoked tokens stop working at once."]
GROUNDED = "Tokens can be rotated in Settings."
UNGROUNDED = "The moon is made of cheese."
NOT_GROUNDED = "not grounded in the sources"


def chunks():
    return [{"position": p, "doc_uri": f"docs://{p}", "content": text} for p, text in enumerate(PASSAGES)]


def reviewed(app, reviewer, response, rating, **feedback):
    request = factories.make_request(app, response=response, chunks=chunks())
    factories.make_assessment(request, reviewer, rating, **feedback)
    return request


def labelled(app, manager):
    """Five requests the reviewers labelled for groundedness, one they did not (see the test)."""
    return {
        "r1": reviewed(app, manager, GROUNDED, "positive"),
        "r2": reviewed(app, manager, GROUNDED, "negative", reasons=[NOT_GROUNDED]),
        "r3": reviewed(app, manager, UNGROUNDED, "negative", reasons=[NOT_GROUNDED]),
        "r4": reviewed(app, manager, UNGROUNDED, "positive"),
        "r5": reviewed(app, manager, UNGROUNDED, "negative", reasons=["inaccurate"]),
        "r6": reviewed(app, manager, GROUNDED, "positive"),
    }


def judged(app, manager, name="grounded", kind="groundedness", **settings):
    judge = services.create_judge(app=app, user=manager, name=name, kind=kind, **settings)
    job = services.start_run(judge=judge, user=manager, filters=Filters())
    return judge, run_job(str(job.pk), run)
