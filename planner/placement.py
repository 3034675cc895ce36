"""Where role instances go: a host carrying a role and the instance id it gets there."""

from __future__ import annotations

from dataclasses import dataclass

from config import Host, StackConfig

PREFIX = "ow"
"""Prefix of every container and volume name on the hosts."""


@dataclass(frozen=True)
class Placed:
    """A host carrying a role, with the instance id it gets there."""

    host: Host
    id: int

    @property
    def address(self) -> str:
        return self.host.address


def placed(cfg: StackConfig, role: str) -> list[Placed]:
    """Every host with `role`, lowest host id first; the instance id is the host id."""
    return [Placed(h, h.id or 0) for h in cfg.hosts_with(role)]
