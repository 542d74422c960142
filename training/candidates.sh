#!/bin/bash
# Segmenter candidates of issue 15: continue training the shipped model for a fixed CPU budget
# with one lever each (control = same recipe, no lever), in parallel, 1 thread each, then score
# them with benchmarks/bench_candidates.py. Usage: training/candidates.sh DATA OUT [CPU_MIN [long]]
#   training/candidates.sh /work/shared/data/derm /tmp/w15/runs 10     # control, colour, boundary
#   training/candidates.sh /work/shared/data/derm /tmp/w15/runs 20 long  # colour, 2× pairs and lr
set -euo pipefail
DATA=${1:?data folder}; OUT=${2:?output folder}; CPU_MIN=${3:-10}; MODE=${4:-}
PAIRS=560; LR=1e-4
if [ "$MODE" = long ]; then PAIRS=1200; LR=2e-4; fi
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
run() {  # name loss augment resize
  OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python -m training.train --data "$DATA" --preprocess \
    --init resources/models/dermview_default.pt --out "$OUT/$1" --loss "$2" --augment "$3" \
    --resize "$4" --epochs 2 --epoch-pairs "$PAIRS" --batch-size 8 --lr "$LR" --warmup-epochs 0.1 \
    --patience 100 --workers 0 --threads 1 --cpu-limit "$CPU_MIN" \
    --name "litesegnet-lite0-pre-$1" > "$OUT/$1.log" 2>&1
}
if [ "$MODE" = long ]; then
  run colour_long dice_bce colour stretch
  exit
fi
run control dice_bce default stretch &
run colour dice_bce colour stretch &
run boundary dice_bce_boundary default stretch &
wait
