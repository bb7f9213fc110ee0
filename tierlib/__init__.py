"""Tierflow: tier members by value and hand each marketing channel its lists.

The library knows nothing of Airflow: stage functions take and return
DataFrames, and IO goes through :mod:`tierlib.storage`.
"""

__version__ = "0.1.0"
