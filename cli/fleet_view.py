"""`regwatch fleet`: the status of `GET /fleet` as a few readable lines."""

from typing import Any


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
