"""Counters of what failed, without any content: served in Prometheus format at ``/metrics``.

Labels are fixed words (a reason, an operation), never a sender, a text or a place.
"""

from __future__ import annotations

from prometheus_client import Counter

SAFETY_FALLBACKS = Counter(
    "helpline_safety_fallbacks", "Messages the app answered itself, by why the assistant did not", ["reason"]
)
LIVE_STATE_ERRORS = Counter(
    "helpline_live_state_errors", "Live-state operations that failed (the reply still went out)", ["operation"]
)
ERASURES = Counter("helpline_erasures", "Conversation erasures, by trigger and outcome", ["trigger", "outcome"])
SWEEP_ERRORS = Counter("helpline_sweep_errors", "Retention sweeps that failed and will be retried")
GATEWAY_MESSAGES = Counter(
    "helpline_gateway_messages", "Platform messages, by platform and what became of them", ["platform", "outcome"]
)
GATEWAY_DELIVERIES = Counter(
    "helpline_gateway_deliveries", "Sends to the platforms, by platform and outcome", ["platform", "outcome"]
)
HANDOFFS = Counter("helpline_handoffs", "Counsellor handoffs, by what happened (requested, taken, outcome)", ["event"])
