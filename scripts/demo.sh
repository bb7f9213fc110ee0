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
# Demo only: synthetic people, so identifier hashes may go unkeyed unless a key is set.
# A real deployment sets TIERFLOW_IDENTITY_HASH_KEY (docs/security.md).
[ -n "${TIERFLOW_IDENTITY_HASH_KEY:-}" ] || export TIERFLOW_ALLOW_UNKEYED_HASHES=true
mkdir -p "$AIRFLOW_HOME"

if [ ! -f "$TIERFLOW_SOURCES/_truth/manifest.json" ]; then
  echo "== generating synthetic data: $MEMBERS members, 24 months from $START"
  python -m tierlib synth --members "$MEMBERS" --months 24 --start "$START" --seed 7 --out "$TIERFLOW_SOURCES"
fi

echo "== preparing the Airflow metadata database (SQLite) in $AIRFLOW_HOME"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

# The month before runs first, so the report can show how value moved since last month.
PREVIOUS=$(python -c "from tierlib.period import previous_period; print(previous_period('$PERIOD'))")
for MONTH in "$PREVIOUS" "$PERIOD"; do
  echo "== running DAG tierflow_monthly for $MONTH (log: $DEMO/dag-test-$MONTH.log)"
  airflow dags test tierflow_monthly -c "{\"period\": \"$MONTH\"}" >"$DEMO/dag-test-$MONTH.log" 2>&1 || {
    tail -n 80 "$DEMO/dag-test-$MONTH.log"; echo "the DAG run failed; full log: $DEMO/dag-test-$MONTH.log"; exit 1; }
  grep -E "DagRun Finished" "$DEMO/dag-test-$MONTH.log" | grep -o "run_duration=[0-9.]*, state=[a-z]*" || true
done

python -m tierlib outputs --config "$TIERFLOW_CONFIG" --period "$PERIOD"
echo "full DAG logs: $DEMO/dag-test-*.log"
REPORT="$TIERFLOW_STORAGE/reports/period=$PERIOD/report.html"
[ -f "$REPORT" ] || { echo "the report stage wrote no $REPORT; see $DEMO/dag-test-$PERIOD.log"; exit 1; }
echo "charts for e-mail: $(dirname "$REPORT")/charts/"
echo "monthly report: $REPORT"
