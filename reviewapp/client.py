"""A small Python client for the reviewapp REST API, mirroring the reference's SDK.

    from reviewapp.client import Client, PermissionLevel
    client = Client("https://reviewapp.example.com", token="rvw_...")
    client.set_permissions("docs-assistant", ["someone@example.com"], PermissionLevel.CAN_QUERY)

Only `requests` is needed; it does not import Django.
"""

from __future__ import annotations

import time
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

    def wait_for_job(self, job_id: str, timeout: float = 600.0, poll: float = 1.0) -> dict:
        """Poll a background job until it has finished; raises ApiError if it failed."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job["status"] == "succeeded":
                return job
            if job["status"] == "failed":
                raise ApiError(200, {"detail": f"job failed: {job['error']}", "job": job})
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(poll)

    # --- apps and permissions (issue 3) ---

    # --- chat, feedback and instructions (issue 4) ---

    # --- traces and review queues (issue 5) ---

    # --- exports (issue 6) ---
