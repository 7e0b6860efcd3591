"""`dt bench paper` / `dt bench report`: the paper's continuous-control results (Tables 2, 3 and 7, Figure 4 and
the context-length ablation) on this package's built-in suite, as resumable cells.

    config.py      PaperBenchConfig, the `full` (paper) and `cpu` protocols, the experiments' default cells
    baselines.py   CQL, IQL, TD3+BC, BEAR from d3rlpy 2.8.0 (imported lazily), with its published D4RL settings
    cells.py       one cell = (exp, dataset, method, seed): train (shared, resumable) -> evaluate -> result.json
    scoring.py     target returns, normalized scores, Figure 4's Pearson correlation
    report.py      aggregate finished cells into docs/results/paper.{json,md} and PNGs
    paper_numbers.py  the paper's Table 2 / 3 / 7 numbers
"""
