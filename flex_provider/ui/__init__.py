"""The Flex view in the Airflow UI: data access (``data``), the page (``page``), the app (``app``)."""
