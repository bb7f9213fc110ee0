#!/usr/bin/env bash
# One-shot set-up of the compose stack (service airflow-init): migrate the metadata database and
# create the admin user of Airflow's SimpleAuthManager from AIRFLOW_ADMIN_USER/AIRFLOW_ADMIN_PASSWORD.
# Safe to run again: migration is idempotent and the password file is rewritten from the environment.
set -euo pipefail

: "${AIRFLOW_ADMIN_USER:?set AIRFLOW_ADMIN_USER in .env (copy .env.example)}"
: "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD in .env (copy .env.example)}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?the compose file sets the password file path}"

echo "== Airflow $(airflow version)"
echo "== migrating the metadata database"
airflow db migrate

# SimpleAuthManager reads {"user": "password"} from this file; without it the API server would
# invent a password and print it to its log.  The roles come from SIMPLE_AUTH_MANAGER_USERS.
echo "== writing the SimpleAuthManager password of user '${AIRFLOW_ADMIN_USER}'"
umask 077
python - <<'PY'
import json
import os
import pathlib

path = pathlib.Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
temporary = path.with_name(path.name + ".tmp")
temporary.write_text(json.dumps({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}) + "\n")
temporary.replace(path)
PY
echo "== ready: sign in at the API server as '${AIRFLOW_ADMIN_USER}'"
