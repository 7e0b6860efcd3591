"""The experiments beside the `decision_transformer` library: the paper's harness, the dataset suite, the job runner.

The core library never imports this package; it plugs in through the entry points in pyproject.toml (`dt bench`,
`dt suite`, `dt sweep`; the suite's and the Atari games' built-in datasets).

Module map:
    paper/names.py       what the harness is made of: experiments, protocols, methods, dataset naming, and which
                         (dataset, method) cells each experiment has
    paper/config.py      the settings: protocols (budgets), the run configuration, the d3rlpy methods' settings
    paper/cells.py       one cell: its spec, whether it is finished, run it (train, evaluate, write result.json)
    paper/methods.py     training and evaluating one method on one dataset and seed (our trainer, or d3rlpy)
    paper/baselines.py   the d3rlpy TD baselines (CQL, IQL, TD3+BC, BEAR; DiscreteCQL on Atari); paper/d3rlpy_logs.py
                         what their runs log (loss terms, alpha, Q against the data's discounted return)
    paper/beyond.py      the beyond-the-paper experiment (dt-auto, dt-stochastic, odt, dt-auto-stochastic)
    paper/peer_dt.py     d3rlpy's Decision Transformer as a peer implementation (method d3rlpy-dt)
    paper/parallel.py    unfinished cells as `dt sweep` jobs (--jobs N)
    paper/report.py      collect the cells, aggregate, plot, archive; paper/markdown.py writes the text,
    paper/intervals.py   rliable intervals and aggregates, paper/cellfile.py the validated result.json reader
    graph.py, keytodoor.py, critic.py, cql.py
                         the paper's toy tasks (Figure 2, Table 6) and the critic analysis; configs.py their
                         settings and speed.py's (no torch, so that building the `dt` parser stays fast)
    speed.py             `dt bench speed`: ratios against Hugging Face and the original loop, side by side
    common.py, plots.py  benchmark helpers (a training cell through the library's trainer, seeds, tables, plots)
    suite/               the built-in MuJoCo / Atari dataset suite: behaviour learners (SAC, PPO), their committed
                         policies (assets/suite), dataset generation and registration
    sweep.py, sweep_spec.py, ray_backend.py
                         `dt sweep`: parallel, resumable jobs, locally or as Ray tasks
    commands/            the `dt bench`, `dt suite`, `dt sweep` sub-commands
"""
