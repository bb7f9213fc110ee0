"""An auth manager for tests: Airflow's SimpleAuthManager with per-user DAG grants.

SimpleAuthManager lets every role read every DAG; FAB and Keycloak grant DAGs per user.  This
one reads ``TIERFLOW_TEST_DAG_GRANTS`` (JSON: user -> DAG ids they may see) so tests can have a
user who is logged in but may not read the monthly DAG.  Referenced as
``airflow_auth.DagGrantsAuthManager`` in ``[core] auth_manager``.
"""

from __future__ import annotations

import json
import os

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


class DagGrantsAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        grants = json.loads(os.environ.get("TIERFLOW_TEST_DAG_GRANTS", "{}"))
        if details is None or details.id not in grants.get(user.get_name(), ()):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
