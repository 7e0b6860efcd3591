#!/bin/bash
# The paper's Atari tables and Figure 4's top row at CPU scale (`dt bench paper --exp atari-*`, protocol `cpu`: PaperBenchConfig.atari_cpu),
# on this project's ALE datasets, $JOBS cells at a time (default 2; JOBS=1 beside another heavy job). Resumable like
# scripts/paper_cpu_runs.sh. The datasets are
# made on first use (dt data make breakout-mixed / pong-mixed). Then: dt bench report --root runs/paper --out docs/results
# (which also copies the finished cells into docs/results/cells: commit them, runs/ is local)
cd "$(dirname "$0")/.."
paper() { env OMP_NUM_THREADS=1 .venv/bin/dt bench paper --root runs/paper --jobs "${JOBS:-2}" --no-progress "$@"; }
set -e
if [ "${1:-}" = cql ]; then  # only CQL's cells (Table 1), e.g. after a change to its settings
  paper --exp atari-table1 --datasets breakout-mixed pong-mixed --methods cql
  exit 0
fi
paper --exp atari-table1 --datasets breakout-mixed pong-mixed
paper --exp atari-table5 --datasets breakout-mixed pong-mixed
paper --exp atari-table4 --datasets breakout-mixed pong-mixed
paper --exp atari-fig4 --datasets breakout-mixed pong-mixed
