import pytest

from reviewapp.celery import ping


@pytest.mark.worker
def test_a_task_goes_through_a_real_worker_and_back(celery_worker):
    result = ping.delay("hello")
    assert result.get(timeout=30) == "hello"
