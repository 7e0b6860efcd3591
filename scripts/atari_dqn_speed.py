"""Can a stable-baselines3 DQN learner make the Atari data here? Measures its throughput on this machine.

Issue 15 prefers the replay of a learning DQN (the paper's data is DQN-replay) and falls back to RAM-reading
controllers where that is too slow. This script times SB3's DQN with rl-baselines3-zoo's Atari settings
(CnnPolicy, buffer 100k, batch 32, lr 1e-4, train_freq 4, target update 1,000; the zoo trains 10M steps) in the
project's evaluation env `dt/<Game>-v0`, except that learning starts after `--learning-starts` steps instead of
100k, so that the timed part includes gradient steps. It prints env steps/s with learning on, and the hours
10M steps would take at that rate. Nothing is written; the numbers go to docs/datasets.md by hand.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/atari_dqn_speed.py --game Pong --steps 4000
"""

from __future__ import annotations

import argparse
import platform
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--game", default="Pong", help="ALE game name (dt/<Game>-v0)")
    p.add_argument("--steps", type=int, default=4000, help="env steps timed with learning on")
    p.add_argument("--learning-starts", type=int, default=1000, help="random steps before learning (zoo: 100k)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args()

    from stable_baselines3 import DQN

    from decision_transformer.common.envs_util import make_env

    torch.set_num_threads(args.threads)
    env = make_env(f"dt/{args.game}-v0")
    model = DQN(
        "CnnPolicy", env, buffer_size=100_000, learning_rate=1e-4, batch_size=32,
        learning_starts=args.learning_starts, target_update_interval=1000, train_freq=4, gradient_steps=1,
        exploration_fraction=0.1, exploration_final_eps=0.01, optimize_memory_usage=False, device="cpu",
        seed=0, verbose=0,
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.learning_starts)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.steps, reset_num_timesteps=False)
    timed = time.perf_counter() - t0
    rate = args.steps / timed
    print(f"{platform.processor() or platform.machine()}, torch threads {args.threads}, game {args.game}")
    print(f"random steps before learning: {args.learning_starts} in {warm:.1f} s ({args.learning_starts / warm:.0f} steps/s)")
    print(f"steps with learning (1 gradient step per 4 env steps): {args.steps} in {timed:.1f} s ({rate:.0f} steps/s)")
    print(f"10M steps (the zoo's Atari budget) at that rate: {10_000_000 / rate / 3600:.1f} h")


if __name__ == "__main__":
    main()
