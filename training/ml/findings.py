"""What a check found in a creative: the one shape the channel limits and the ad-policy lint report."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    """`code` names the rule (for metrics and filters), `field` the creative's field, `text` the words
    that broke it, and `message` says, for a marketer, what is wrong and what to do."""

    code: str
    field: str
    text: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)
