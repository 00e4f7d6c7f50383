"""
The Airflow UI side of the provider.

``data`` (what the Flex view reads), ``page`` (its HTML), ``app`` (its FastAPI app behind Airflow's
login, mounted by the plugin at ``/flex-ui``), ``stack`` (a local Airflow as separate processes) and
``launch`` (``make ui``).
"""
