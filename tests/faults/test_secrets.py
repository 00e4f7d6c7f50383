"""
Fault 8: run the whole batch flow (API faults and a retry included) at DEBUG log level and scan every log
line, file, database and XCom value for the app secret, bearer tokens, the webhook key and test PANs.

The operators run in this process with every logger at DEBUG into one file (the same records Airflow's
task log handler would get); ``airflow dags test`` would add ~10 s per DAG and the same operators.
"""

from __future__ import annotations

import json
import logging

from tests.faults.invariants import check_invariants, scan_for_secrets, scan_texts, secret_needles


def test_no_secret_or_card_number_in_logs_files_or_xcom(make_world, tmp_path, monkeypatch) -> None:
    from flex_provider.hooks.api import FlexApiHook

    monkeypatch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "DEBUG")
    world = make_world()
    day = world.business_day()
    # the bad input itself holds card numbers (merchant.db is the source, not scanned); it goes in before
    # logging starts, so only what the provider logs is in the log
    world.add_declines(day, 12, bad=["pan_in_description", "pan_in_card_token", "pan_spaced_in_email"])
    log_file = tmp_path / "task.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("httpx", "httpcore", "paramiko", "airflow", "flex_provider"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    tokens: list[str] = []
    xcom: dict[str, str] = {}
    try:
        world.sandbox.admin("POST", "/faults", {"fail_next_5xx": 2, "drop_response_after_commit_next": 1})
        summary = world.extract(day)
        xcom["extract"] = json.dumps(summary)
        xcom["ship"] = json.dumps(world.ship(summary))
        with FlexApiHook("flex_default") as api:
            tokens.append(api.get_token())
        xcom["mark"] = json.dumps(world.mark(summary))
        xcom["acks"] = json.dumps(world.process_acks(day))
        world.settle()
        xcom["results"] = json.dumps(world.process_results())
        xcom["reconcile"] = json.dumps(world.reconcile(), default=str)
        with FlexApiHook("flex_default") as api:
            tokens.append(api.get_token())
        check_invariants(world, final=True)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    tokens.append(world.sandbox.token())
    needles = secret_needles(world.sandbox.info, tokens)
    assert log_file.stat().st_size > 10_000, "DEBUG logging did not reach the file"
    scanned, found = scan_for_secrets(
        [log_file, world.base, world.sftp_root / "outbound"],
        needles,
        skip_names=("merchant.db",),
    )
    found += scan_texts(xcom, needles)
    print(f"\nsecret scan: {scanned} files, {log_file.stat().st_size} log bytes, {len(xcom)} XCom values")
    assert scanned >= 8
    assert not found, "\n".join(found)
