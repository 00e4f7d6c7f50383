"""
The Flex flow as Airflow assets, so the Assets page shows the pipeline and each event says how much moved.

One asset per hand-over, all in group ``flex``:

=============================  ==============================================  ==========================
asset                          produced by (task that declares the outlet)     counts in the event extra
=============================  ==============================================  ==========================
``flex_evaluate_batches``      ``flex_mit_daily`` ship step                    files, rows, rejected
``flex_transmit_batches``      ``flex_transmit_daily`` ship step               files, rows, rejected
``flex_acks``                  the ack-reading step (ledger ``apply_ack``)     files, submitted, rejected
``flex_results``               ``flex_reconcile`` result/outcome step          files, approved, expired, ...
``flex_recovery_summary``      ``flex_reconcile`` summary write                days, declines_sent, rescued
``flex_webhook_events``        the webhook receiver (``AssetWatcher``)         new_events
=============================  ==============================================  ==========================

A task declares ``outlets=[EVALUATE_BATCHES]`` and calls :func:`attach_counts` with the numbers it
already returns, or passes ``post_execute=counts_to_outlets`` (no code change in the operator); Airflow
then records one asset event carrying them. ``flex_webhook_events`` keeps the
name the reconcile DAG's watcher uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import Asset

GROUP = "flex"

EVALUATE_BATCHES = Asset(name="flex_evaluate_batches", group=GROUP,
                         extra={"what": "evaluate batch files shipped to Flex over SFTP"})
TRANSMIT_BATCHES = Asset(name="flex_transmit_batches", group=GROUP,
                         extra={"what": "transmit batch files shipped to Flex over SFTP"})
ACKS = Asset(name="flex_acks", group=GROUP, extra={"what": "ack files read back from Flex's outbound folder"})
RESULTS = Asset(name="flex_results", group=GROUP,
                extra={"what": "result files (APPROVED/EXPIRED) applied to the ledger and merchant DB"})
RECOVERY_SUMMARY = Asset(name="flex_recovery_summary", group=GROUP,
                         extra={"what": "merchant DB table flex_recovery_summary rewritten"})
WEBHOOK_EVENTS = Asset(name="flex_webhook_events", group=GROUP,
                       extra={"what": "verified Flex webhooks stored by the receiver"})

ALL: tuple[Asset, ...] = (EVALUATE_BATCHES, TRANSMIT_BATCHES, ACKS, RESULTS, RECOVERY_SUMMARY, WEBHOOK_EVENTS)


def counts_to_outlets(context: Mapping[str, Any], result: Any) -> None:
    """A ``post_execute`` hook: attach the task's integer result counts to each of its Flex outlets.

    Wires an operator that returns a dict of counts without touching its code::

        ReconcileOrdersOperator(..., outlets=[RECOVERY_SUMMARY], post_execute=counts_to_outlets)
    """
    if not isinstance(result, Mapping):
        return
    names = {a.name for a in ALL}
    for outlet in getattr(context.get("task"), "outlets", None) or []:
        if isinstance(outlet, Asset) and outlet.name in names:
            attach_counts(context, outlet, result)


def watched(asset: Asset, watchers: list[Any]) -> Asset:
    """The same asset (name, URI, group, extra) with ``AssetWatcher`` s, for a DAG's ``schedule``."""
    return Asset(name=asset.name, uri=asset.uri, group=asset.group, extra=dict(asset.extra), watchers=watchers)


def event_counts(counts: Mapping[str, Any]) -> dict[str, int]:
    """Keep the integer counts of a task's result (bools and non-numbers are dropped)."""
    return {str(k): int(v) for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)}


def attach_counts(context: Mapping[str, Any], asset: Asset, counts: Mapping[str, Any]) -> dict[str, int]:
    """
    Put ``counts`` into the extra of the asset event this task emits for ``asset`` (a declared outlet).

    :param context: the task's context (``outlet_events`` is read from it).
    :return: the counts that were attached.
    """
    kept = event_counts(counts)
    context["outlet_events"][asset].extra.update(kept)
    return kept
