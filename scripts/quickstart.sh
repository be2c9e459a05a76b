#!/usr/bin/env bash
# Set up (if needed) and run the whole pipeline on the offline default params with DVC.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. .venv/bin/activate
dvc repro "$@"
echo
echo "dataset:  $(pwd)/data/   (one folder per stage; manifests are data/<stage>/manifest.jsonl)"
echo "metrics:  $(pwd)/metrics/   (dvc metrics show)"
echo "plots:    $(pwd)/metrics/plots/   (dvc plots show)"
echo "mlflow:   sqlite:///$(pwd)/mlflow.db   (mlflow ui --backend-store-uri sqlite:///$(pwd)/mlflow.db, then"
echo "          http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning)"
