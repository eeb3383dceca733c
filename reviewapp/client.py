"""A small Python client for the reviewapp REST API, mirroring the reference's SDK.

    from reviewapp.client import Client, PermissionLevel
    client = Client("https://reviewapp.example.com", token="rvw_...")
    client.set_permissions("docs-assistant", ["someone@example.com"], PermissionLevel.CAN_QUERY)

Only `requests` is needed; it does not import Django.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import requests


class PermissionLevel:
    NONE = "NONE"
    CAN_VIEW = "CAN_VIEW"
    CAN_QUERY = "CAN_QUERY"
    CAN_MANAGE = "CAN_MANAGE"


class ApiError(Exception):
    """A 4xx/5xx answer; `status` and the JSON `body` say what was wrong."""

    def __init__(self, status: int, body: Any):
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {body}")


class Client:
    def __init__(self, base_url: str, token: str, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, **kwargs) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/api/v1/{path.lstrip('/')}", timeout=self.timeout, **kwargs
        )
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise ApiError(response.status_code, body)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get_job(self, job_id: str) -> dict:
        return self._call("GET", f"jobs/{job_id}")

    def cancel_job(self, job_id: str) -> dict:
        """Stop a job: a queued one at once, a running one at its next step (its output so far is kept)."""
        return self._call("POST", f"jobs/{job_id}/cancel")

    def wait_for_job(self, job_id: str, timeout: float = 600.0, poll: float = 1.0) -> dict:
        """Poll a background job until it has finished; raises ApiError if it failed or was cancelled."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job["status"] == "succeeded":
                return job
            if job["status"] == "failed":
                raise ApiError(200, {"detail": f"job failed: {job['error']}", "job": job})
            if job["status"] == "cancelled":
                raise ApiError(200, {"detail": "job cancelled", "job": job})
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(poll)

    # --- apps and permissions ---

    @staticmethod
    def _slug(app: str | dict) -> str:
        """Methods take an app as its slug or as the dict the API returned for it."""
        return app["slug"] if isinstance(app, dict) else str(app)

    def list_apps(self) -> list[dict]:
        """The apps you can see, each with your `level` on it."""
        return self._call("GET", "apps")

    def get_app(self, app: str | dict) -> dict:
        return self._call("GET", f"apps/{self._slug(app)}")

    def create_app(
        self,
        name: str,
        slug: str | None = None,
        *,
        description: str = "",
        adapter: str = "demo",
        adapter_config: dict | None = None,
        version: str | None = None,
        timeout_seconds: int = 60,
        reasons: list[str] | None = None,
        context_span: str | None = None,
    ) -> dict:
        """Register an app; you become its manager. `adapter_config` names, never holds, secrets.

        `version` defaults to "1"; for a models:/ URI the server takes it from the model registry.
        `context_span`: the name of the span whose documents reviewers rate (the server's default when
        not given)."""
        body: dict[str, Any] = {
            "name": name,
            "description": description,
            "adapter": adapter,
            "adapter_config": adapter_config or {},
            "timeout_seconds": timeout_seconds,
        }
        if version is not None:
            body["version"] = version
        if slug:
            body["slug"] = slug
        if reasons is not None:
            body["reasons"] = reasons
        if context_span is not None:
            body["context_span"] = context_span
        return self._call("POST", "apps", json=body)

    def update_app(self, app: str | dict, **changes) -> dict:
        """Change any of name, description, adapter, adapter_config, version, timeout_seconds, reasons,
        context_span, price_input_per_1k, price_output_per_1k (a price: a number or decimal text such
        as "0.0025", None to clear)."""
        for name in ("price_input_per_1k", "price_output_per_1k"):
            price = changes.get(name)
            if isinstance(price, int | float | Decimal) and not isinstance(price, bool):
                # The API takes a price as decimal text: JSON numbers are floats, and 0.1 is not exact.
                changes[name] = format(Decimal(str(price)), "f")
        return self._call("PATCH", f"apps/{self._slug(app)}", json=changes)

    def delete_app(self, app: str | dict) -> None:
        self._call("DELETE", f"apps/{self._slug(app)}")

    def get_permissions(self, app: str | dict) -> list[dict]:
        """[{"principal": "someone@example.com" | "group:name", "type": "user" | "group", "level": ...}]"""
        return self._call("GET", f"apps/{self._slug(app)}/permissions")["permissions"]

    def set_permissions(self, app: str | dict, principals: list[str] | str, level: str) -> list[dict]:
        """Give each principal (email or "group:<name>") `level`; PermissionLevel.NONE removes."""
        if isinstance(principals, str):
            principals = [principals]
        body = {"principals": list(principals), "level": level}
        return self._call("PUT", f"apps/{self._slug(app)}/permissions", json=body)["permissions"]

    # --- chat, feedback and instructions ---

    def invoke(self, app: str | dict, messages: list[dict] | str, conversation_id: str | None = None) -> dict:
        """One turn with the app's chain, logged to its request log.

        `messages`: OpenAI-style chat messages, the whole conversation so far (a string is one user
        message). Returns {"request_id", "conversation_id", "status": "ok", "response",
        "retrieved_context": [{"position", "doc_uri", "content", "spans"}], "text_altered"} (the
        passages are those reviewers rate). A failing chain raises ApiError 502 (504 when it timed
        out) whose body holds the `detail`, the logged `request_id` and `status: "error"`. An answer
        that stopped part-way raises ApiError 502 too, whose body has `status: "incomplete"`, the
        partial `response` and its `retrieved_context`: the turn is logged as incomplete.
        """
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        body: dict[str, Any] = {"messages": list(messages)}
        if conversation_id:
            body["conversation_id"] = conversation_id
        return self._call("POST", f"apps/{self._slug(app)}/invocations", json=body)

    def set_review_instructions(self, app: str | dict, markdown: str) -> dict:
        """A new version of the reviewer instructions (Markdown); returns it with its `version`."""
        return self._call("PUT", f"apps/{self._slug(app)}/instructions", json={"markdown": markdown})

    def get_review_instructions(self, app: str | dict) -> dict:
        """{"version", "markdown", "html", ...}; `version` is None until instructions are written."""
        return self._call("GET", f"apps/{self._slug(app)}/instructions")

    def send_feedback(
        self, app: str | dict, request_id: str, assessment_id: str | None = None, **fields
    ) -> dict:
        """Feedback on one request (the Feedback API); returns the stored assessment.

        `fields`: rating ("positive"|"negative"), reasons, other_reason, comment, corrected_response,
        retrieval_assessments [{"position", "rating": "relevant"|"not_relevant", "comment"?}],
        missing_sources [{"doc_uri"?, "content"?}]. Fields not given keep their earlier value.
        An `assessment_id` (any UUID you choose) makes a retry store nothing twice; one is made
        up here when not given, so this call is safe to retry as it is.
        """
        body = {"request_id": str(request_id), "assessment_id": str(assessment_id or uuid.uuid4()), **fields}
        return self._call("POST", f"apps/{self._slug(app)}/feedback", json=body)

    def get_review_item(self, app: str | dict, request_id: str) -> dict:
        """One request as you review it: messages, response, passages ({"number", "position",
        "doc_uri", "content", "spans"}), a trace summary and `feedback`, your effective assessment
        (None before you gave any)."""
        return self._call("GET", f"apps/{self._slug(app)}/requests/{request_id}")

    def list_assessments(self, app: str | dict, **filters) -> Iterator[dict]:
        """Every assessment of the app, newest first, following the cursor (managers).

        Filters: since, until (ISO 8601), source, app_version, rating ("positive"|"negative"|"none"),
        reviewer (email), request_id, effective (True: only each reviewer's latest row), page_size.
        """
        return self._every_page(f"apps/{self._slug(app)}/assessments", filters)

    def _every_page(self, path: str, filters: dict) -> Iterator[dict]:
        """The rows of a list, page after page, following its `next` links."""
        params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in filters.items()}
        while path:
            page = self._call("GET", path, params=params)
            yield from page["results"]
            # `next` is an absolute URL carrying the cursor and the filters; keep the part after /api/v1/.
            path = page["next"].split("/api/v1/", 1)[1] if page["next"] else None
            params = None

    # --- quality over time ---

    def quality(
        self,
        app: str | dict,
        since=None,
        until=None,
        bucket: str = "day",
        versions: list[str] | None = None,
        baseline: tuple | None = None,
        k: int = 3,
        as_frame: bool = True,
    ):
        """Quality per app version and time bucket (managers): traffic, errors, latency, tokens, cost,
        people's ratings, retrieval figures, and drift against `baseline` (a (since, until) pair).

        Times are datetimes with a zone, dates, or ISO 8601 text; the range is [since, until), by
        default the last 30 days. Two `versions` (A, B) also compare B against A.

        With pandas installed and `as_frame`, a DataFrame with one row per version and bucket, a
        column per figure and the counts behind each rate (`thumbs_up_hits`, `thumbs_up_total`,
        `thumbs_up`, `thumbs_up_low`, `thumbs_up_high`, ...); the whole answer (totals, reasons,
        reviewers, drift, comparison) is in its `attrs["quality"]`. Otherwise the JSON answer.
        """
        params: dict[str, Any] = {"bucket": bucket, "k": k}
        for name, value in (("since", since), ("until", until)):
            if value is not None:
                params[name] = _iso(value)
        if versions is not None:
            if not versions:
                raise ValueError("versions: give at least one version, or None for every version")
            if any("," in v for v in versions):
                raise ValueError("versions: the API reads a comma as the end of a version")
            # An empty `versions` is read as every version; "," is the unversioned one ("") alone.
            params["versions"] = ",".join(versions) or ","
        if baseline is not None:
            params["baseline_since"], params["baseline_until"] = (_iso(value) for value in baseline)
        answer = self._call("GET", f"apps/{self._slug(app)}/quality", params=params)
        if not as_frame:
            return answer
        try:
            import pandas as pd
        except ImportError:
            return answer
        rows = [
            {"version": version["version"], **_flat(point)}
            for version in answer["versions"]
            for point in version["series"]
        ]
        frame = pd.DataFrame(rows)
        if rows:
            frame["start"] = pd.to_datetime(frame["start"], utc=True)
        frame.attrs["quality"] = answer
        return frame

    # --- traces and review queues ---

    def import_traces(
        self,
        app: str | dict,
        rows: list[dict] | None = None,
        *,
        experiment: str | None = None,
        filter_string: str = "",
        max_results: int | None = None,
        wait: bool = True,
        timeout: float = 3600.0,
    ) -> dict:
        """Import historical traces into the app's request log, as a background job (managers).

        Either `rows` (inference-table rows: request_id, request (messages or text), response, and
        optionally trace, timestamp, conversation_id, app_version) or `experiment` (the id or name
        of the app's own MLflow experiment or one staff linked to it, with an optional
        `mlflow.search_traces` filter). The same
        request_id is stored once. With `wait`, returns the finished job, whose `result` holds
        {"imported", "already_present", "bad_rows", "errors": [{"line", "reason"}]}; otherwise
        the job as queued.
        """
        if (rows is None) == (experiment is None):
            raise ValueError("give either rows or experiment")
        if rows is not None:
            body = {"rows": list(rows)}
        else:
            body = {"mlflow": {"experiment": str(experiment), "filter_string": filter_string}}
            if max_results is not None:
                body["mlflow"]["max_results"] = max_results
        job = self._call("POST", f"apps/{self._slug(app)}/traces:import", json=body)["job"]
        return self.wait_for_job(job["id"], timeout=timeout) if wait else job

    def list_request_logs(self, app: str | dict, **filters) -> Iterator[dict]:
        """The app's request log, newest first, following the cursor (managers).

        Filters: since, until (ISO 8601), source, app_version, feedback ("yes"|"no"),
        rating ("positive"|"negative"), q (text), page_size.
        """
        return self._every_page(f"apps/{self._slug(app)}/request-logs", filters)

    def enable_trace_reviews(
        self,
        app: str | dict,
        request_ids: list[str],
        queue: int | str | dict | None = None,
        *,
        name: str | None = None,
        overlap: int = 1,
        reviewers: list[str] | None = None,
        assignment: str | None = None,
        blind: bool = False,
        instructions: str = "",
    ) -> dict:
        """Put logged requests in front of expert reviewers (the reference's `enable_trace_reviews`).

        With `queue` (its id, name or dict) the requests are added to that queue; without it a new
        queue is made (named `name`, or after today's date). Requests already in the queue are left
        as they are. Returns {"queue": {...}, "items": {"added", "already_in_queue", "items"}}.
        """
        if queue is not None:
            found = self.get_review_queue(app, queue)
            items = self.add_to_review_queue(app, found, request_ids)
            return {"queue": self.get_review_queue(app, found["id"]), "items": items}
        body = {
            "name": name or f"Trace reviews {time.strftime('%Y-%m-%d %H:%M:%S')}",
            "overlap": overlap,
            "reviewers": list(reviewers or []),
            "assignment": assignment or ("named" if reviewers else "open"),
            "blind": blind,
            "instructions": instructions,
            "request_ids": [str(i) for i in request_ids],
        }
        return self._call("POST", f"apps/{self._slug(app)}/review-queues", json=body)

    def list_review_queues(self, app: str | dict) -> list[dict]:
        """The app's review queues, each with its `progress`."""
        return self._call("GET", f"apps/{self._slug(app)}/review-queues")

    def get_review_queue(self, app: str | dict, queue: int | str | dict) -> dict:
        """One queue (by id, name or dict) with progress per reviewer and `agreement`."""
        if isinstance(queue, dict):
            queue = queue["id"]
        if isinstance(queue, str) and not (queue.isascii() and queue.isdigit()):
            named = [q for q in self.list_review_queues(app) if q["name"] == queue]
            if not named:
                raise ApiError(404, {"detail": f"no review queue named {queue!r}"})
            queue = named[0]["id"]
        return self._call("GET", f"apps/{self._slug(app)}/review-queues/{int(queue)}")

    def add_to_review_queue(self, app: str | dict, queue: int | dict, request_ids: list[str]) -> dict:
        """Add requests to a queue; {"added", "already_in_queue", "items"}."""
        queue_id = queue["id"] if isinstance(queue, dict) else int(queue)
        body = {"request_ids": [str(i) for i in request_ids]}
        return self._call("POST", f"apps/{self._slug(app)}/review-queues/{queue_id}/items", json=body)

    # --- filling a review queue by rules ---

    def fill_review_queue(
        self, app: str | dict, queue: int | str | dict, *, preview: bool = False, **rules
    ) -> dict:
        """Add to a queue (id, name or dict) a seeded random sample of the requests the rules match
        (all must hold): target, since, until, thumbs_down, chunk_precision_below, reason, app_versions,
        judge with judge_disagrees / judge_score_below, unreviewed, include_queued, seed. With
        `preview`, only the counts. {"preview", "seed", "matching", "skipped_queued", "selected",
        "by_version", "added", "items"}; give the seed again to add what a preview counted."""
        queue_id = self.get_review_queue(app, queue)["id"] if isinstance(queue, str) else queue
        queue_id = queue_id["id"] if isinstance(queue_id, dict) else int(queue_id)
        body = _rules_body(rules) | {"preview": preview}
        return self._call("POST", f"apps/{self._slug(app)}/review-queues/{queue_id}/fill", json=body)

    def create_review_queue_by_rules(
        self,
        app: str | dict,
        name: str,
        *,
        preview: bool = False,
        overlap: int = 1,
        assignment: str | None = None,
        blind: bool = False,
        reviewers: list[str] | None = None,
        instructions: str = "",
        **rules,
    ) -> dict:
        """A new queue filled by the rules (as for fill_review_queue): {"queue", "fill"}; with
        `preview`, nothing is made and "queue" is None."""
        reviewers = list(reviewers or [])
        body = {
            "name": name,
            "overlap": overlap,
            "assignment": assignment or ("named" if reviewers else "open"),
            "blind": blind,
            "reviewers": reviewers,
            "instructions": instructions,
            "preview": preview,
        } | _rules_body(rules)
        return self._call("POST", f"apps/{self._slug(app)}/review-queues/fill", json=body)

    # --- pairwise comparison ---

    def create_pairwise_queue(
        self,
        app: str | dict,
        name: str,
        *,
        version_a: str | None = None,
        version_b: str | None = None,
        request_ids: list[str] | None = None,
        pairs: list[dict] | None = None,
        overlap: int = 1,
        reviewers: list[str] | None = None,
        assignment: str | None = None,
        instructions: str = "",
    ) -> dict:
        """A pairwise queue: requests of `version_a` replayed on `version_b` (a background job,
        `job_id`), or imported `pairs` ({"messages" or "prompt", "response_a", "response_b",
        optional "version_a", "version_b"}). Returns {"queue", "comparison", "job_id"}."""
        body: dict = {
            "mode": "pairwise",
            "name": name,
            "overlap": overlap,
            "reviewers": list(reviewers or []),
            "assignment": assignment or ("named" if reviewers else "open"),
            "instructions": instructions,
        }
        if pairs is not None:
            body["pairs"] = list(pairs)
        else:
            body.update(
                version_a=version_a or "",
                version_b=version_b or "",
                request_ids=[str(i) for i in request_ids or []],
            )
        return self._call("POST", f"apps/{self._slug(app)}/review-queues", json=body)

    def comparison_results(self, app: str | dict, queue: int | dict) -> dict:
        """A pairwise queue's win rate per version with its 95% Wilson interval (ties apart)."""
        queue_id = queue["id"] if isinstance(queue, dict) else int(queue)
        return self._call("GET", f"apps/{self._slug(app)}/review-queues/{queue_id}/comparison")

    def preference_pairs(self, app: str | dict, queue: int | dict) -> list[dict]:
        """A pairwise queue's preference pairs: [{"prompt", "chosen", "rejected"}] for DPO training."""
        queue_id = queue["id"] if isinstance(queue, dict) else int(queue)
        url = f"{self.base_url}/api/v1/apps/{self._slug(app)}/review-queues/{queue_id}/preferences"
        with self.session.get(url, stream=True, timeout=self.timeout) as response:
            if response.status_code >= 400:
                raise ApiError(response.status_code, response.json())
            return [json.loads(line) for line in response.iter_lines() if line]

    def log_preference_pairs_to_mlflow(
        self, app: str | dict, queue: int | dict, wait: bool = True, timeout: float = 600.0
    ) -> dict:
        """Log a pairwise queue's preference pairs to the app's MLflow experiment; with `wait`, the
        finished job (its `result` holds run_id and experiment_id), else {"job_id"}."""
        queue_id = queue["id"] if isinstance(queue, dict) else int(queue)
        started = self._call("POST", f"apps/{self._slug(app)}/review-queues/{queue_id}/preferences/mlflow")
        return self.wait_for_job(started["job_id"], timeout=timeout) if wait else started

    # --- adjudication ---

    def list_adjudications(
        self, app: str | dict, queue: int | dict, status: str | None = None
    ) -> Iterator[dict]:
        """The items of a queue its reviewers disagree on, open ones first, then settled ones, each
        with every reviewer's feedback ("Reviewer N" when the queue is blind) and its `adjudication`.
        `status`: "open" or "settled" for those only. Managers and the queue's adjudicators."""
        queue_id = queue["id"] if isinstance(queue, dict) else int(queue)
        filters = {"status": status} if status else {}
        return self._every_page(f"apps/{self._slug(app)}/review-queues/{queue_id}/adjudications", filters)

    def adjudicate(
        self,
        app: str | dict,
        queue: int | dict,
        request_id: str,
        *,
        pick: int | None = None,
        rating: str | None = None,
        relevant: dict | None = None,
        corrected_response: str | None = None,
        note: str = "",
    ) -> dict:
        """Set or replace the final label of a disputed item: `pick` a reviewer's number to take their
        feedback as it is, or give your own `rating` ("positive"|"negative"), `relevant` ({passage
        position: "relevant"|"not_relevant"}) and `corrected_response`; with a `note`. Returns the item."""
        queue_id = queue["id"] if isinstance(queue, dict) else int(queue)
        body: dict[str, Any] = {"note": note}
        if pick is not None:
            body["pick"] = pick
        if rating is not None:
            body["rating"] = rating
        if relevant is not None:
            body["relevant"] = {str(k): v for k, v in relevant.items()}
        if corrected_response is not None:
            body["corrected_response"] = corrected_response
        path = f"apps/{self._slug(app)}/review-queues/{queue_id}/adjudications/{request_id}"
        return self._call("PUT", path, json=body)

    # --- gold items and reviewer reliability ---

    def review_queue_reviewers(self, app: str | dict, queue: int | dict) -> dict:
        """Each reviewer of a queue: done/reserved, gold accuracy (thumbs, passages), agreement with
        the consensus, Dawid–Skene reliability, and whether their gold accuracy is flagged."""
        queue_id = queue["id"] if isinstance(queue, dict) else int(queue)
        return self._call("GET", f"apps/{self._slug(app)}/review-queues/{queue_id}/reviewers")

    def list_gold(self, app: str | dict) -> list[dict]:
        """The app's gold items, each with its answer key."""
        return self._call("GET", f"apps/{self._slug(app)}/gold")

    def mark_gold(self, app: str | dict, request_ids: list[str] | str) -> list[dict]:
        """Mark reviewed requests as gold (all or none); their answer keys are taken now."""
        ids = [request_ids] if isinstance(request_ids, str) else list(request_ids)
        return self._call("POST", f"apps/{self._slug(app)}/gold", json={"request_ids": [str(i) for i in ids]})

    def unmark_gold(self, app: str | dict, request_id: str) -> None:
        """Take a request out of the gold set."""
        self._call("DELETE", f"apps/{self._slug(app)}/gold/{request_id}")

    def _queue_path(self, app: str | dict, queue: int | str | dict) -> str:
        queue_id = queue["id"] if isinstance(queue, dict) else queue
        if isinstance(queue_id, str) and not (queue_id.isascii() and queue_id.isdigit()):
            queue_id = self.get_review_queue(app, queue_id)["id"]
        return f"apps/{self._slug(app)}/review-queues/{int(queue_id)}"

    def update_review_queue(self, app: str | dict, queue: int | str | dict, **changes) -> dict:
        """Change any of a queue's settings at any time: name, instructions, overlap, assignment,
        blind, due_at (a datetime or ISO text; None clears it), closed (True/False), gold_rate,
        gold_accuracy_threshold, reviewers (the whole list of emails), add_reviewers,
        remove_reviewers, adjudicators. Returns the queue with its `history`."""
        if changes.get("due_at") is not None:
            changes["due_at"] = _iso(changes["due_at"])
        return self._call("PATCH", self._queue_path(app, queue), json=changes)

    def close_review_queue(self, app: str | dict, queue: int | str | dict) -> dict:
        """A closed queue hands out nothing; its done work stays."""
        return self.update_review_queue(app, queue, closed=True)

    def reopen_review_queue(self, app: str | dict, queue: int | str | dict) -> dict:
        return self.update_review_queue(app, queue, closed=False)

    def list_review_queue_items(self, app: str | dict, queue: int | str | dict, **filters) -> Iterator[dict]:
        """A queue's items in queue order, page after page. Filters: status ("waiting",
        "in_progress", "done"), reviewer (email), disagreement (True)."""
        return self._every_page(f"{self._queue_path(app, queue)}/items", filters)

    def remove_from_review_queue(
        self, app: str | dict, queue: int | str | dict, request_ids: list[str]
    ) -> dict:
        """Take requests out of a queue; {"removed", "reviews", "not_in_queue", "items"}. The
        reviewers' feedback on them stays in the assessment log."""
        body = {"request_ids": [str(i) for i in request_ids]}
        return self._call("POST", f"{self._queue_path(app, queue)}/items/remove", json=body)

    def requeue_review_items(self, app: str | dict, queue: int | str | dict, version: int) -> dict:
        """Give the items labelled under instructions `version` (an earlier one) fresh slots, so
        reviewers label them again under the current instructions; {"requeued": n}."""
        return self._call("POST", f"{self._queue_path(app, queue)}/requeue", json={"version": version})

    # --- exports ---

    def export_evaluation_set(
        self,
        app: str,
        name: str,
        *,
        filters: dict | None = None,
        request_ids: list[str] | None = None,
        rule: str = "majority",
        include_outputs: bool = False,
        wait: bool = True,
        timeout: float = 600.0,
    ) -> dict:
        """Export the next version of evaluation set `name`; with `wait`, the finished version."""
        selection = {"filters": filters, "request_ids": request_ids, "rule": rule}
        body = {"name": name, "include_outputs": include_outputs}
        started, job = self._export(f"apps/{app}/evaluation-sets", selection, body, wait, timeout)
        if job is None:
            return started
        return self.get_evaluation_set_version(app, name, job["result"]["version"])

    def _export(self, path: str, selection: dict, body: dict, wait: bool, timeout: float):
        """Start an export of `selection` (filters, request_ids, rule); the answer, and with `wait`
        the finished job (else None)."""
        body = {
            "filters": selection["filters"] or {},
            "request_ids": list(selection["request_ids"] or []),
            "rule": selection["rule"],
            **body,
        }
        started = self._call("POST", path, json=body)
        return started, (self.wait_for_job(started["job_id"], timeout=timeout) if wait else None)

    def list_evaluation_sets(self, app: str) -> list[dict]:
        return self._call("GET", f"apps/{app}/evaluation-sets")

    def get_evaluation_set_version(self, app: str, name: str, number: int) -> dict:
        return self._call("GET", f"apps/{app}/evaluation-sets/{name}/versions/{number}")

    def download_export_file(self, url: str, path) -> str:
        """Save one file of an export (a URL from `files`) to `path`, streaming."""
        with self.session.get(url, stream=True, timeout=self.timeout) as response:
            if response.status_code >= 400:
                raise ApiError(response.status_code, response.text)
            with open(path, "wb") as handle:
                for block in response.iter_content(1 << 16):
                    handle.write(block)
        return str(path)

    def export_judge_examples(
        self,
        app: str,
        *,
        judges: list[str] | None = None,
        filters: dict | None = None,
        request_ids: list[str] | None = None,
        rule: str = "majority",
        examples_per_judge: int = 10,
        holdout_set: str = "",
        holdout_by: str = "conversation",
        wait: bool = True,
        timeout: float = 600.0,
    ) -> dict:
        """Export judge few-shot examples; with `wait`, the finished export (files, trace ids)."""
        selection = {"filters": filters, "request_ids": request_ids, "rule": rule}
        body = {
            "judges": list(judges or []),
            "examples_per_judge": examples_per_judge,
            "holdout_set": holdout_set,
            "holdout_by": holdout_by,
        }
        started, job = self._export(f"apps/{app}/judge-examples", selection, body, wait, timeout)
        if job is None:
            return started
        return self._call("GET", f"apps/{app}/judge-examples/{job['result']['judge_export_id']}")

    def list_judge_exports(self, app: str) -> list[dict]:
        return self._call("GET", f"apps/{app}/judge-examples")

    def create_custom_judge(
        self, app: str, name: str, type: str, definition: str, reasons: list[str] | None = None
    ) -> dict:
        body = {"name": name, "type": type, "definition": definition, "reasons": list(reasons or [])}
        return self._call("POST", f"apps/{app}/custom-judges", json=body)

    # --- judges ---

    def create_judge(
        self,
        app: str,
        name: str,
        kind: str,
        *,
        metric: str = "",
        threshold: float | None = None,
        **settings,
    ) -> dict:
        """Define a judge: kind reference (metric token_f1, rouge_l, exact_match), groundedness
        (lexical), retrieval (precision, hit_rate, mrr) or llm (correctness, relevance_to_query,
        groundedness, chunk_relevance, safety, guidelines, custom; with `model`, `endpoint_url`,
        `key_env` and `instructions`); a score at or above `threshold` passes. `settings` also
        takes `sample_percent` and `daily_cap`."""
        body = {"name": name, "kind": kind, "metric": metric, "threshold": threshold, **settings}
        return self._call("POST", f"apps/{app}/judges", json=body)

    def change_judge(self, app: str, name: str, **changes) -> dict:
        """The judge's next version with these changes (see create_judge); unchanged: the same."""
        return self._call("PATCH", f"apps/{app}/judges/{name}", json=changes)

    def tune_judge(
        self, app: str, name: str, *, override: bool = False, wait: bool = True, timeout: float = 600.0
    ) -> dict:
        """Tune an LLM judge with the reviewers' examples: its next version, measured against the
        current one on held-out requests; with `wait`, the finished job (result: before, after)."""
        job = self._call("POST", f"apps/{app}/judges/{name}/tunings", json={"override": override})
        return self.wait_for_job(job["job_id"], timeout=timeout) if wait else job

    def list_judges(self, app: str) -> list[dict]:
        return self._call("GET", f"apps/{app}/judges")

    def run_judge(
        self,
        app: str,
        name: str,
        *,
        filters: dict | None = None,
        request_ids: list[str] | None = None,
        version: int | None = None,
        evaluation_set: str = "",
        evaluation_set_version: int | None = None,
        wait: bool = True,
        timeout: float = 600.0,
    ) -> dict:
        """Judge the selected reviewed requests (or the requests of an evaluation set's version,
        its latest by default) with a judge version (default: the current one); with `wait`, the
        finished job (its result counts what was judged and skipped)."""
        body = {
            "filters": filters or {},
            "request_ids": list(request_ids or []),
            "version": version,
            "evaluation_set": evaluation_set,
            "evaluation_set_version": evaluation_set_version,
        }
        started = self._call("POST", f"apps/{app}/judges/{name}/runs", json=body)
        return self.wait_for_job(started["job_id"], timeout=timeout) if wait else started

    def judge_agreement(self, app: str, name: str, version: int | None = None) -> dict:
        """Kappa, accuracy, precision, recall and the confusion matrix of a judge version against
        the reviewers, with the disagreements first."""
        params = {} if version is None else {"version": version}
        return self._call("GET", f"apps/{app}/judges/{name}/agreement", params=params)


def _iso(value) -> str:
    """A datetime or date as ISO 8601 text (a datetime keeps its zone; the server needs one)."""
    return value if isinstance(value, str) else value.isoformat()


def _flat(point: dict) -> dict:
    """A bucket's figures as one level of columns: a rate {hits, total, value, low, high} becomes
    name_hits, name_total, name (its value), name_low, name_high; other objects name_key."""
    flat: dict[str, Any] = {}
    for name, value in point.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                flat[name if key == "value" else f"{name}_{key}"] = inner
        elif name == "cost" and value is not None:
            flat[name] = Decimal(value)
        else:
            flat[name] = value
    return flat


def _rules_body(rules: dict) -> dict:
    """Fill rules as JSON: times in ISO 8601, versions as a list."""
    body = dict(rules)
    for name in ("since", "until"):
        if body.get(name) is not None:
            body[name] = _iso(body[name])
    if "app_versions" in body:
        body["app_versions"] = list(body["app_versions"])
    return body
