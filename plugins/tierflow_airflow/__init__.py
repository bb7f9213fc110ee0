"""Tierflow's Airflow-side code: what the DAG files and the plugins share.

``tierlib`` knows nothing of Airflow; everything that reads an Airflow context, an Airflow
connection or raises an Airflow exception lives here.

Why the plugins folder and not the dags folder: Airflow 3.3 appends ``[core] plugins_folder`` to
``sys.path`` in every process when ``airflow`` is imported (``settings.initialize``): API server,
scheduler, DAG processor, triggerer, Celery worker and task runner, ``dag.test()``.  The dags
folder is on ``sys.path`` only where a DAG bundle is parsed (the DAG processor, the task runner,
``dag.test()`` and ``airflow dags`` commands, through ``BundleDagBag``), not in the API server,
which serves the plugins' views, nor in the triggerer, which imports trigger classes by their
class path.  ``plugins/.airflowignore`` keeps the plugin manager from loading these modules as
plugin files.
"""
