"""The flow's assets: a task that declares one as outlet records an asset event carrying its counts.

A real DAG run against Airflow's metadata DB; the module's pure parts are in ``tests/unit/test_assets.py``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from flex_provider.assets import EVALUATE_BATCHES, RECOVERY_SUMMARY
from tests.dags.support import migrate_airflow_db

DAG_FILE = '''
from __future__ import annotations

from airflow.sdk import DAG, task

from flex_provider.assets import EVALUATE_BATCHES, RECOVERY_SUMMARY, attach_counts, counts_to_outlets

with DAG(dag_id="flex_assets_probe", schedule=None, catchup=False):

    @task(outlets=[EVALUATE_BATCHES])
    def ship(**context):
        result = {"files": 2, "rows": 1234, "rejected": 7, "dry_run": False, "note": "x"}
        attach_counts(context, EVALUATE_BATCHES, result)
        return result

    @task(outlets=[RECOVERY_SUMMARY], post_execute=counts_to_outlets)
    def summarize():
        return {"days": 3, "rescued": 111, "rate": 0.37}

    ship() >> summarize()
'''



def test_an_outlet_task_records_an_asset_event_with_its_counts(tmp_path: Path):
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    migrate_airflow_db()
    dag_file = tmp_path / "flex_assets_probe.py"
    dag_file.write_text(textwrap.dedent(DAG_FILE))
    bag = DagBag(dag_folder=str(dag_file))
    assert not bag.import_errors, bag.import_errors
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)  # the file lives outside the dags folder: serialize it here
    run = bag.get_dag("flex_assets_probe").test()
    assert str(run.state) == "success"
    with create_session() as session:
        events = (session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                  .filter(AssetModel.name == EVALUATE_BATCHES.name, AssetEvent.source_run_id == run.run_id).all())
        extras = [e.extra for e in events]
    assert extras == [{"files": 2, "rows": 1234, "rejected": 7}]
    with create_session() as session:
        summary = (session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                   .filter(AssetModel.name == RECOVERY_SUMMARY.name, AssetEvent.source_run_id == run.run_id).all())
        assert [e.extra for e in summary] == [{"days": 3, "rescued": 111}]  # via the post_execute hook
