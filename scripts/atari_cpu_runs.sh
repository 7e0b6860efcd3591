#!/bin/bash
# The paper's Atari tables and Figure 4's top row at CPU scale (`dt bench paper --exp atari-*`, protocol `cpu`: PaperBenchConfig.atari_cpu),
# on this project's ALE datasets, $JOBS cells at a time (default 2; JOBS=1 beside another heavy job). Resumable like
# scripts/paper_cpu_runs.sh. The datasets are
# made on first use (dt data make breakout-mixed / pong-mixed). Then: dt bench report --root runs/paper --out docs/results
# (which also copies the finished cells into docs/results/cells: commit them, runs/ is local)
cd "$(dirname "$0")/.."
paper() { env OMP_NUM_THREADS=1 .venv/bin/dt bench paper --root runs/paper --jobs "${JOBS:-2}" --no-progress "$@"; }
set -e
case "${1:-}" in
  cql)  # only CQL's cells (Table 1), e.g. after a change to its settings
    paper --exp atari-table1 --datasets breakout-mixed pong-mixed --methods cql
    exit 0 ;;
  more-games)  # Table 1 on the paper's other two games (data made here: dt data make qbert-mixed / seaquest-mixed)
    paper --exp atari-table1 --datasets qbert-mixed seaquest-mixed --methods dt bc cql
    exit 0 ;;
  cql-budget)  # CQL at 10x the cpu budget (20,000 steps) on Breakout, selection seed 1000 (Q and losses every 500 steps)
    paper --exp atari-table1 --datasets breakout-mixed --methods cql --atari_cpu.baseline-steps 20000 \
      --first-seed 1000 --seeds 1 --selection-run --root runs/paper-check-atari-cql
    exit 0 ;;
  cql-alpha0)  # the same run without the conservative term (alpha 0: d3rlpy's QR-DQN loss alone), which isolates it:
    # at 10x CQL still acts LEFT in 4,994-4,999 of 5,000 steps, its Q ranked as the data's action frequencies
    # (scripts/atari_cql_probe.py, docs/results/README.md). Ran 2026-12-07: 0 in 5 episodes, one constant action in
    # every probed state (docs/results/extra/atari_cql_alpha0)
    paper --exp atari-table1 --datasets breakout-mixed --methods cql --atari_cpu.baseline-steps 20000 \
      --atari_cql.alpha 0 --first-seed 1000 --seeds 1 --selection-run --root runs/paper-check-atari-cql-alpha0
    exit 0 ;;
  "") ;;
  *) echo "atari_cpu_runs.sh: unknown section '$1'; expected cql, more-games, cql-budget, cql-alpha0 or none" >&2
     exit 2 ;;
esac
paper --exp atari-table1 --datasets breakout-mixed pong-mixed
paper --exp atari-table5 --datasets breakout-mixed pong-mixed
paper --exp atari-table4 --datasets breakout-mixed pong-mixed
paper --exp atari-fig4 --datasets breakout-mixed pong-mixed
