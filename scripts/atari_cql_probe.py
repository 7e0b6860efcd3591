"""Why a trained Atari CQL run scores near zero: play its saved model (d3rlpy's model.d3) as the cell does (greedy
but for the epsilon its spec records) and record what it does, then play it again with FIRE pressed for it after
the reset and after every lost life, the one thing a Breakout policy must do to put a ball in play.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/atari_cql_probe.py \\
        --run /work/queue/runs/paper-check-atari-cql/cpu/train/breakout-mixed/cql/seed1000 \\
        --out docs/results/extra/atari_cql_10x_probe.json

The episodes use the run's training-curve seeds (`derive_seed(seed, "train-eval")`), never a reported cell's, and
the cell's episode cap. Per mode: each episode's return, length and action counts, and the model's Q-values of every
action at the episode's first observation (is FIRE valued above the rest where nothing else can start the game?).

`on_data` asks whether the Q-function's ranking of actions depends on the state at all: on --data-states frame
stacks drawn from the run's dataset (with the training-curve seed), the greedy action's counts beside the data's own
actions there, how often the two agree, and each action's Q spread across those states against the spread of its
gap to the state's best action (a ranking that is the same in every state has gaps that never change sign), beside
the spread across the same states of the data's discounted return, what Q estimates there, and Q on the same states
with each one's pixels shuffled (its brightness kept, every object's position lost: a Q-function that reads the game
gives those other values).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "src"))

from decision_transformer.common.atomic import write_json  # noqa: E402
from decision_transformer.common.envs_util import make_env  # noqa: E402
from decision_transformer.common.seeding import derive_seed  # noqa: E402
from decision_transformer.data.registry import builtin_datasets, load_dataset  # noqa: E402
from dt_experiments.paper.baselines import DiscreteCQLSettings  # noqa: E402
from dt_experiments.paper.d3rlpy_logs import q_probe  # noqa: E402


def play(algo, env_id: str, seed: int, episodes: int, cap: int, epsilon: float, fire_for_it: bool) -> list[dict]:
    """`episodes` episodes, one env, each from seed + i; FIRE replaces the policy's action on the step after the reset
    and after every lost life when `fire_for_it`."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(episodes):
        env = make_env(env_id, max_episode_steps=cap)
        fire = env.unwrapped.get_action_meanings().index("FIRE")
        n_actions = int(env.action_space.n)
        obs, info = env.reset(seed=seed + i)
        first = np.asarray(obs, np.float32)[None]
        q = [float(algo.predict_value(first, np.array([a]))[0]) for a in range(n_actions)]
        lives, need_fire, total, length = info.get("lives"), True, 0.0, 0
        counts = np.zeros(n_actions, np.int64)
        done = False
        while not done:
            action = int(algo.predict(np.asarray(obs, np.float32)[None])[0])
            if rng.random() < epsilon:
                action = int(rng.integers(n_actions))
            if fire_for_it and need_fire:
                action, need_fire = fire, False
            counts[action] += 1
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            length += 1
            if info.get("lives") is not None and lives is not None and info["lives"] < lives:
                need_fire = True
            lives = info.get("lives", lives)
            done = terminated or truncated
        env.close()
        out.append({"return": total, "length": length, "truncated": bool(truncated and not terminated),
                    "action_counts": dict(zip(env.unwrapped.get_action_meanings(), counts.tolist())),
                    "q_first_observation": dict(zip(env.unwrapped.get_action_meanings(), [round(v, 4) for v in q]))})
        print(f"{'fire for it' if fire_for_it else 'as the cell'} episode {i}: return {total}, {length} steps, "
              f"actions {out[-1]['action_counts']}", flush=True)
    return out


def on_data(algo, data, seed: int, n: int, settings, meanings: list[str]) -> dict:
    """The greedy action on `n` of the dataset's frame stacks (drawn with `seed`) beside the data's action there, and
    the spread of Q across those states beside the spread of what it estimates there: the data's discounted return
    of clipped rewards (d3rlpy_logs.q_probe's sample, the run's gamma and reward_clip)."""
    obs, taken, mc = q_probe(data, seed, algo, settings, size=n)  # (n, stack, H, W), (n,), (n,)
    every_q = lambda o: np.stack([np.asarray(algo.predict_value(o, np.full(len(o), a)), np.float64)  # noqa: E731
                                  for a in range(len(meanings))], axis=1)  # (n, A)
    q = every_q(obs)
    shuffled = np.random.default_rng(seed).permuted(obs.reshape(len(obs), -1), axis=1).reshape(obs.shape)
    q_shuffled = every_q(shuffled)  # each state's pixels, anywhere: its brightness kept, its objects' positions lost
    greedy = q.argmax(axis=1)
    gap = q - q.max(axis=1, keepdims=True)  # (n, A), 0 at each state's best action
    count = lambda a: dict(zip(meanings, np.bincount(a, minlength=len(meanings)).tolist()))  # noqa: E731
    return {"states": int(len(obs)), "greedy_action_counts": count(greedy), "data_action_counts": count(taken),
            "greedy_matches_data": round(float((greedy == taken).mean()), 4),
            "q_mean": dict(zip(meanings, np.round(q.mean(axis=0), 4).tolist())),
            "q_std_across_states": dict(zip(meanings, np.round(q.std(axis=0), 4).tolist())),
            "q_mean_pixels_shuffled": dict(zip(meanings, np.round(q_shuffled.mean(axis=0), 4).tolist())),
            "data_return_mean": round(float(mc.mean()), 4), "data_return_std_across_states": round(float(mc.std()), 4),
            "gap_to_best_std_across_states": dict(zip(meanings, np.round(gap.std(axis=0), 4).tolist()))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="the CQL run directory (its d3rlpy/model.d3 and train_spec.json)")
    ap.add_argument("--model", help="a copy of the run's model.d3 saved at an earlier step (default: the run's own)")
    ap.add_argument("--step", type=int, help="the step --model was saved at (required with --model)")
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--data-states", type=int, default=1024, help="frame stacks of the dataset for `on_data` (0: none)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import d3rlpy

    run = Path(args.run)
    spec = json.loads((run / "train_spec.json").read_text())
    if (args.model is None) != (args.step is None):
        raise SystemExit("--model and --step go together: a saved copy of model.d3 and the step it was saved at")
    step = args.step if args.model else json.loads((run / "d3rlpy" / "progress.json").read_text())["step"]
    algo = d3rlpy.load_learnable(args.model or str(run / "d3rlpy" / "model.d3"), device="cpu:0")
    env_id = builtin_datasets()[spec["dataset"]].env_id  # the cell's env, as the registry records it
    cap, epsilon = int(spec["budget"]["max_episode_steps"]), float(spec["model"]["eval_epsilon"])  # the cell's
    seed = derive_seed(spec["seed"], "train-eval")
    report = {"run": str(run), "model": args.model or "the run's own", "step": step, "env_id": env_id,
              "max_episode_steps": cap, "episode_seed": seed, "epsilon": epsilon}
    for mode, fire_for_it in (("as_the_cell", False), ("fire_pressed_for_it", True)):
        eps = play(algo, env_id, seed, args.episodes, cap, epsilon, fire_for_it)
        report[mode] = {"return_mean": float(np.mean([e["return"] for e in eps])),
                        "length_mean": float(np.mean([e["length"] for e in eps])), "episodes": eps}
    if args.data_states:
        meanings = list(report["as_the_cell"]["episodes"][0]["action_counts"])
        report["on_data"] = on_data(algo, load_dataset(spec["dataset"]), seed, args.data_states,
                                    DiscreteCQLSettings(**spec["model"]), meanings)
        print(json.dumps(report["on_data"]))
    write_json(Path(args.out), report)
    print(json.dumps({m: {k: report[m][k] for k in ("return_mean", "length_mean")}
                      for m in ("as_the_cell", "fire_pressed_for_it")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
