"""Channel-layer group names: who hears what (docs/REALTIME.md, "Who receives what").

- `user.<id>`: a customer's own events, and the control messages of that
  user's sockets (check your access again);
- `managers.<market>.revenue` / `managers.<market>.orders`: the market's
  managers with and without `can_view_revenue` (money fields only reach the first).

A manager's own notifications travel in its market's groups too, as one message
carrying a frame per addressed manager (each socket keeps its own): a new order
notifying a hundred managers is two channel-layer messages, not a hundred.
"""

from __future__ import annotations


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def managers_group(market: str, *, revenue: bool) -> str:
    return f"managers.{market}.{'revenue' if revenue else 'orders'}"


def managers_groups(market: str) -> tuple[str, str]:
    """Both manager groups of a market: for frames without money."""
    return managers_group(market, revenue=True), managers_group(market, revenue=False)
