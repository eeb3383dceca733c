from reviewapp.queues import services
from reviewapp.queues.models import ReviewQueue


def queue_of(requests, *, name: str = "Q", created_by=None, **options) -> ReviewQueue:
    """A queue on the requests' app holding them in order; options as for services.create_queue."""
    queue, _ = services.create_queue(
        app=requests[0].app,
        name=name,
        created_by=created_by,
        request_ids=[r.request_id for r in requests],
        **options,
    )
    return queue
