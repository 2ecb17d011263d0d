"""Which loaded model answers a request, and in what role (what the metrics count it as).

Default traffic goes to the stable model, or to the canary for the routing keys whose fixed
bucket (`registry.release.routing_bucket`) falls inside the canary's share: the same key
always lands on the same side while the share is unchanged, and raising the share only
moves keys from stable to canary. A request without a key draws a random bucket.
"""

import enum
import random
from dataclasses import dataclass

from regwatch.registry.release import BUCKETS, in_canary, routing_bucket

from .loading import LoadedModel


class Role(enum.StrEnum):
    STABLE = "stable"  # default traffic (following latest, or the promoted version)
    CANARY = "canary"  # the canary's share of default traffic
    SHADOW = "shadow"  # predicted off the response path, compared with stable
    PINNED = "pinned"  # `?version=` or `@alias`: routing bypassed


@dataclass(frozen=True, slots=True)
class Choice:
    model: LoadedModel
    role: Role


@dataclass(frozen=True, slots=True)
class Split:
    """A loaded canary and its share of default traffic (percent)."""

    model: LoadedModel
    percent: float

    def takes(self, routing_key: str | None) -> bool:
        return canary_takes(self.percent, routing_key)


def canary_takes(percent: float, routing_key: str | None) -> bool:
    """Does a canary with this share answer a request with this routing key (None: a random draw)?"""
    bucket = random.randrange(BUCKETS) if routing_key is None else routing_bucket(routing_key)
    return in_canary(bucket, percent)
