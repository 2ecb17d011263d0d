"""Release control over HTTP, as the gateway calls it: the admin token and the actor."""

from pathlib import Path
from typing import Any

import httpx

TOKEN = "release-test-token-0123456789abcdef"


def admin(actor: str | None = None, token: str = TOKEN) -> dict[str, str]:
    """The headers the gateway sends upstream on `/admin/release…`."""
    headers = {"Authorization": f"Bearer {token}"}
    if actor is not None:
        headers["X-Regwatch-Actor"] = actor
    return headers


async def release(
    client: httpx.AsyncClient,
    method: str,
    path: str = "",
    body: Any = None,
    *,
    model: str | None = None,
    actor: str | None = None,
    expect: int = 200,
) -> dict[str, Any]:
    """One `/release…` call with the admin token; asserts its status, returns its body."""
    response = await client.request(
        method,
        f"/release{path}",
        json=body,
        params={"model": model} if model else None,
        headers=admin(actor),
    )
    assert response.status_code == expect, response.text
    answer: dict[str, Any] = response.json()
    return answer


def model_files(folder: Path) -> dict[str, bytes]:
    """The files directly in a model's folder (release state, history, lock), byte for byte."""
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
