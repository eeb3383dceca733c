"""A turn being answered is on the page even before it is saved: a page loaded mid-answer shows the
question and fetches the conversation's turns again until the turn is saved."""

from reviewapp.chat.services import in_flight, marked_in_flight
from tests import factories

CHAT = "/apps/support-bot/chat/"


def events():
    yield "event: delta\ndata: {}\n\n"
    yield "event: done\ndata: {}\n\n"


def test_a_turn_is_marked_while_its_stream_runs_and_unmarked_once_closed(app, querier, manager):
    stream = marked_in_flight(
        events(), app=app, user=querier, conversation_id="c-1", question="Still coming?"
    )
    next(stream)

    assert in_flight(app, querier, "c-1") == {"question": "Still coming?"}
    assert in_flight(app, manager, "c-1") is None  # one user's mark, not another's
    stream.close()  # the reader left mid-answer
    assert in_flight(app, querier, "c-1") is None


def test_a_page_loaded_mid_answer_shows_the_question_and_asks_again_for_the_turns(as_user, app, querier):
    client = as_user(querier)
    stream = marked_in_flight(
        events(), app=app, user=querier, conversation_id="c-2", question="Where <is> it?"
    )
    next(stream)

    page = client.get(CHAT, {"c": "c-2"}).content.decode()
    polled = client.get(CHAT, {"c": "c-2"}, headers={"HX-Request": "true", "HX-Target": "turns"})

    assert 'data-testid="turn-in-flight"' in page and "Where &lt;is&gt; it?" in page
    assert 'hx-target="#turns"' in page and "Ask Support bot a question to start" not in page
    assert polled.content.decode().lstrip().startswith('<div id="turns"')
    assert 'data-testid="turn-in-flight"' in polled.content.decode()

    list(stream)
    factories.make_request(app, user=querier, conversation_id="c-2", question="Where <is> it?")
    done = client.get(
        CHAT, {"c": "c-2"}, headers={"HX-Request": "true", "HX-Target": "turns"}
    ).content.decode()
    assert 'data-testid="turn-in-flight"' not in done and 'data-testid="turn"' in done
