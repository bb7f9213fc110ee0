#!/usr/bin/env bash
# make demo: synthetic multi-channel data, then the monthly DAG for one month, in-process
# (airflow dags test, SQLite metadata, local storage). Everything lands under var/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
DEMO="$ROOT/var/demo"
MEMBERS=${DEMO_MEMBERS:-20000}
PERIOD=${DEMO_PERIOD:-2026-10}
START=${DEMO_START:-2024-11}

export PATH="$VENV/bin:$PATH"
export AIRFLOW_HOME="$DEMO/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export TIERFLOW_CONFIG="$ROOT/config/tierflow.yaml"
export TIERFLOW_SOURCES="$DEMO/sources"
export TIERFLOW_STORAGE="$DEMO/storage"
mkdir -p "$AIRFLOW_HOME"

if [ ! -f "$TIERFLOW_SOURCES/_truth/manifest.json" ]; then
  echo "== generating synthetic data: $MEMBERS members, 24 months from $START"
  python -m tierlib synth --members "$MEMBERS" --months 24 --start "$START" --seed 7 --out "$TIERFLOW_SOURCES"
fi

echo "== preparing the Airflow metadata database (SQLite) in $AIRFLOW_HOME"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

echo "== running DAG tierflow_monthly for $PERIOD"
airflow dags test tierflow_monthly -c "{\"period\": \"$PERIOD\"}" >"$DEMO/dag-test.log" 2>&1 || {
  tail -n 80 "$DEMO/dag-test.log"; echo "the DAG run failed; full log: $DEMO/dag-test.log"; exit 1; }
grep -E "Marking run|DagRun Finished|state=" "$DEMO/dag-test.log" | tail -n 3 || true

python -m tierlib outputs --config "$TIERFLOW_CONFIG" --period "$PERIOD"
echo "full DAG log: $DEMO/dag-test.log"
REPORT="$TIERFLOW_STORAGE/reports/period=$PERIOD/report.html"
[ -f "$REPORT" ] || { echo "the report stage wrote no $REPORT; see $DEMO/dag-test.log"; exit 1; }
echo "charts for e-mail: $(dirname "$REPORT")/charts/"
echo "monthly report: $REPORT"
