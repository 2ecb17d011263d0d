"""`regwatch fleet`: the status of a replica's `GET /fleet` as a few readable lines."""

import json
from typing import Annotated, Any

import httpx
import typer

from .common import fail

app = typer.Typer()


@app.command()
def fleet(
    url: Annotated[str, typer.Option(help="a replica's base URL")] = "http://127.0.0.1:8000",
    as_json: Annotated[bool, typer.Option("--json", help="the whole status as JSON")] = False,
) -> None:
    """Show the fleet as one replica sees it: replicas, what each serves per model, readiness,
    last heartbeat (cluster mode: REGWATCH_NATS_URL)."""
    try:
        response = httpx.get(url.rstrip("/") + "/fleet", timeout=10)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc}") from None
    if response.status_code == 404:
        raise fail(f"{url} is not in cluster mode (REGWATCH_NATS_URL is not set there)")
    if response.status_code != 200:
        raise fail(f"{url}/fleet answered {response.status_code}: {response.text[:200]}")
    status = response.json()
    typer.echo(json.dumps(status, indent=2) if as_json else describe_fleet(status))


def describe_fleet(status: dict[str, Any]) -> str:
    link = "connected" if status["connected"] else f"NATS UNREACHABLE since {status['changed_at']}"
    ready = "ready" if status["ready"] else "NOT READY"
    lines = [f"fleet {status['fleet']}, seen from {status['replica']}: {link}, {ready}"]
    for model in status["models"]:
        pointer = f"{model['active'] or '-'} ({model['phase'] or 'no pointer yet'})"
        here = model["answer"] or f"nothing ({model['reason']})"
        lines.append(f"  model {model['model']}: fleet version {pointer}; answers here with {here}")
    rows = [("replica", "model", "serving", "loaded", "ready", "last heartbeat")]
    for member in status["members"]:
        for name, report in sorted(member["models"].items()) or [("-", {})]:
            rows.append(
                (
                    member["replica"],
                    name,
                    report.get("serving") or "-",
                    ",".join(sorted(report.get("loaded", []))) or "-",
                    "yes" if report.get("ready") else "no",
                    member["at"],
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    ]
    counters = ", ".join(f"{key} {value}" for key, value in status["counters"].items())
    lines.append(f"  counters: {counters}")
    return "\n".join(line.rstrip() for line in lines)
