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
        version: str = "1",
        timeout_seconds: int = 60,
        reasons: list[str] | None = None,
    ) -> dict:
        """Register an app; you become its manager. `adapter_config` names, never holds, secrets."""
        body: dict[str, Any] = {
            "name": name,
            "description": description,
            "adapter": adapter,
            "adapter_config": adapter_config or {},
            "version": version,
            "timeout_seconds": timeout_seconds,
        }
        if slug:
            body["slug"] = slug
        if reasons is not None:
            body["reasons"] = reasons
        return self._call("POST", "apps", json=body)

    def update_app(self, app: str | dict, **changes) -> dict:
        """Change any of name, description, adapter, adapter_config, version, timeout_seconds, reasons."""
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

    # --- chat, feedback and instructions (issue 4) ---

    def set_review_instructions(self, app: str | dict, markdown: str) -> dict:
        """A new version of the reviewer instructions (Markdown); returns it with its `version`."""
        return self._call("PUT", f"apps/{self._slug(app)}/instructions", json={"markdown": markdown})

    def get_review_instructions(self, app: str | dict) -> dict:
        """{"version", "markdown", "html", ...}; `version` is None until instructions are written."""
        return self._call("GET", f"apps/{self._slug(app)}/instructions")

    # --- traces and review queues (issue 5) ---

    # --- exports (issue 6) ---
