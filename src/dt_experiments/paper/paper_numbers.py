"""The paper's numbers (Chen et al. 2021), D4RL-normalized, keyed by this suite's dataset names and our method names.

Source: the paper's Tables 2, 3 and 7 as reproduced in ../shared/paper/000_7a0e5c79d5f70dbf.txt (the paper's
slides). The paper's data are D4RL's (v2 MuJoCo datasets, D4RL's experts), ours are this suite's, so only
orderings and gaps are comparable. IQL and TD3+BC are not in the paper; the context ablation (K=1) was Atari-only
in the paper (Table 5), and Figure 4 is a plot, so neither has a number here.
"""

from __future__ import annotations


def _rows(values: dict[str, tuple[float, ...]], methods: tuple[str, ...]) -> dict[str, dict[str, float]]:
    return {d: {m: v for m, v in zip(methods, vs) if v is not None} for d, vs in values.items()}


# Table 2: DT, CQL, BEAR, BC (BRAC-v and AWR columns left out: not methods of this bench)
TABLE2 = _rows({
    "halfcheetah-medium-expert": (86.8, 62.4, 53.4, 59.9),
    "hopper-medium-expert": (107.6, 111.0, 96.3, 79.6),
    "walker2d-medium-expert": (108.1, 98.7, 40.1, 36.6),
    "reacher-medium-expert": (89.1, 30.6, None, 73.3),
    "halfcheetah-medium": (42.6, 44.4, 41.7, 43.1),
    "hopper-medium": (67.6, 58.0, 52.1, 63.9),
    "walker2d-medium": (74.0, 79.2, 59.1, 77.3),
    "reacher-medium": (51.2, 26.0, None, 48.9),
    "halfcheetah-medium-replay": (36.6, 46.2, 38.6, 4.3),
    "hopper-medium-replay": (82.7, 48.6, 33.7, 27.6),
    "walker2d-medium-replay": (66.6, 26.7, 19.2, 36.9),
    "reacher-medium-replay": (18.0, 19.0, None, 5.4),
}, ("dt", "cql", "bear", "bc"))

# Table 3: DT, 10%BC, 25%BC, 40%BC, 100%BC (= bc), CQL
TABLE3 = _rows({
    "halfcheetah-medium": (42.6, 42.9, 43.0, 43.1, 43.1, 44.4),
    "hopper-medium": (67.6, 65.9, 65.2, 65.3, 63.9, 58.0),
    "walker2d-medium": (74.0, 78.8, 80.9, 78.8, 77.3, 79.2),
    "reacher-medium": (51.2, 51.0, 48.9, 58.2, 58.4, 26.0),
    "halfcheetah-medium-replay": (36.6, 40.8, 40.9, 41.1, 4.3, 46.2),
    "hopper-medium-replay": (82.7, 70.6, 58.6, 31.0, 27.6, 48.6),
    "walker2d-medium-replay": (66.6, 70.4, 67.8, 67.2, 36.9, 26.7),
    "reacher-medium-replay": (18.0, 33.1, 16.2, 10.7, 5.4, 19.0),
}, ("dt", "pbc10", "pbc25", "pbc40", "bc", "cql"))

# Table 7: delayed (sparse) DT and CQL; reward-agnostic BC and %BC (the paper's '%BC' column equals its 10%BC on
# medium and medium-replay, so it is filed as pbc10); dense DT and CQL
TABLE7 = {
    "hopper-medium-expert-delayed": {"dt": 107.3, "cql": 9.0, "bc": 59.9, "pbc10": 102.6},
    "hopper-medium-delayed": {"dt": 60.7, "cql": 5.2, "bc": 63.9, "pbc10": 65.9},
    "hopper-medium-replay-delayed": {"dt": 78.5, "cql": 2.0, "bc": 27.6, "pbc10": 70.6},
    "hopper-medium-expert": {"dt": 107.6, "cql": 111.0},
    "hopper-medium": {"dt": 67.6, "cql": 58.0},
    "hopper-medium-replay": {"dt": 82.7, "cql": 48.6},
}

# Atari, gamer-normalized means over 3 seeds (the paper's Tables 1, 4, 5; Table 5's Qbert DT reads 15.1 there)
ATARI_TABLE1 = _rows({"breakout": (267.5, 211.1, 138.9), "qbert": (15.4, 104.2, 17.3), "pong": (106.1, 111.9, 85.2),
                      "seaquest": (2.5, 1.7, 2.1)}, ("dt", "cql", "bc"))
ATARI_TABLE4 = _rows({"breakout": (267.5, 28.5, 73.5, 108.2, 138.9), "qbert": (15.4, 6.6, 16.0, 11.8, 17.3),
                      "pong": (106.1, 2.5, 13.3, 72.7, 85.2), "seaquest": (2.5, 1.1, 1.1, 1.6, 2.1)},
                     ("dt", "pbc10", "pbc25", "pbc40", "bc"))
ATARI_TABLE5 = _rows({"breakout": (267.5, 73.9), "qbert": (15.1, 13.6), "pong": (106.1, 2.5), "seaquest": (2.5, 0.6)},
                     ("dt", "dt-k1"))

# paper-targets asks for the targets the paper's Table 2 was measured at, so its DT numbers are Table 2's
PAPER = {"table2": TABLE2, "table3": TABLE3, "table7": TABLE7,
         "paper-targets": {d: {"dt": r["dt"]} for d, r in TABLE2.items() if "dt" in r},
         "atari-table1": ATARI_TABLE1, "atari-table4": ATARI_TABLE4, "atari-table5": ATARI_TABLE5}


def paper_number(exp: str, dataset: str, method: str) -> float | None:
    """The paper's number for a cell (Atari rows are keyed by game: 'breakout-mixed' reads 'breakout')."""
    key = dataset.split("-")[0] if exp.startswith("atari-") else dataset
    return PAPER.get(exp, {}).get(key, {}).get(method)
