"""The monthly pipeline without Airflow: the same stage runners the DAG tasks call.

Each stage runner takes a :class:`~tierlib.pipeline.context.RunContext`, reads its
inputs from storage, calls the library, writes its outputs and returns its
figures.  ``stages`` lists them in order (and is light enough for DAG parse
time); ``runner`` runs them; the DAG wires the same runners into tasks and
``python -m tierlib run`` calls them in order.
"""
