"""Our DT and d3rlpy's DT (method d3rlpy-dt) scored on the same windows of the same data: is one of them a worse fit,
or do they only report their losses differently?

    python scripts/peer_dt_same_batches.py --dt RUN/run --peer RUN/d3rlpy --dataset hopper-medium-replay \
        [--windows 4096] [--seed 0] [--json out.json]

--dt is a run directory of our trainer (the `run` folder of a `dt bench paper` cell), --peer the `d3rlpy` folder of a
d3rlpy-dt cell (model.d3). Windows are drawn twice, in each implementation's convention, from one seeded generator:
  * ours (the paper's gym code): an episode with probability proportional to its length, a uniform start, up to K
    steps from there, left-padded;
  * d3rlpy's: a uniform transition as the window's last step, up to K steps before it, left-padded.
Each window is fed to both models in eval mode (no dropout), each with its own preprocessing (our checkpoint's state
statistics and reward scale; d3rlpy's fitted scalers), and each prediction is scored three ways:
  * `mse`: squared error averaged over action dimensions and real positions (our trainer's loss);
  * `d3rlpy_loss`: summed over action dimensions, averaged over all B x K positions with padding counted as 0
    (d3rlpy's `compute_loss`);
  * `mse_last`: the squared error of the window's last real step only, averaged over dimensions (the prediction
    acting uses).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch


Windows = tuple[np.ndarray, np.ndarray, np.ndarray]


def our_windows(sampler, k: int, n: int, rng: np.random.Generator) -> Windows:
    """(episode, first step, last step) of n windows drawn as our trainer draws them (WindowSampler.draw)."""
    return sampler.draw(n, rng)


def d3rlpy_windows(lengths: np.ndarray, k: int, n: int, rng: np.random.Generator) -> Windows:
    """(episode, first step, last step) of n windows in d3rlpy's convention: a uniform transition is the last step."""
    flat = rng.integers(0, lengths.sum(), size=n)
    ends = np.cumsum(lengths)
    ep = np.searchsorted(ends, flat, side="right")
    last = flat - (ends[ep] - lengths[ep])
    return ep, np.maximum(last - k + 1, 0), last


def score(pred: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """pred, actions (B, K, A); mask (B, K) 1 = real, left-padded (the last position is always real)."""
    err = (pred - actions) ** 2 * mask[..., None]
    return {"mse": float(err.mean(-1).sum() / mask.sum()),
            "d3rlpy_loss": float(err.sum(-1).mean()),
            "mse_last": float(err[:, -1].mean())}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dt", required=True)
    p.add_argument("--peer", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--windows", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="")
    a = p.parse_args(argv)

    import d3rlpy
    from d3rlpy.dataset import BasicTrajectorySlicer, TrajectoryMiniBatch
    from d3rlpy.torch_utility import TorchTrajectoryMiniBatch

    from decision_transformer import load_run
    from dt_experiments.paper.baselines import mdp_dataset
    from decision_transformer.data.preprocess import clip_timesteps
    from decision_transformer.data.registry import load_dataset
    from decision_transformer.data.sampler import WindowSampler

    data = load_dataset(a.dataset, seed=0)
    run = load_run(a.dt)
    model, prep = run.model.eval(), run.meta.preprocessing()
    if prep.scales_actions:  # our side is fed raw actions below
        sys.exit(f"peer_dt_same_batches.py: {run.path / 'meta.json'} has action_scale_low / _high (trained with "
                 "--scale-actions); this script compares unscaled actions only")
    peer = d3rlpy.load_learnable(f"{a.peer}/model.d3", device="cpu:0")
    k = run.meta.config().context_len
    if peer.config.context_size != k:
        sys.exit(f"--peer: context_size {peer.config.context_size} differs from --dt's context_len {k}")
    episodes = mdp_dataset(d3rlpy, data).episodes
    lengths = data.episode_lengths.astype(np.int64)
    slicer = BasicTrajectorySlicer()
    sampler = WindowSampler(data, prep, k, run.meta.config().max_ep_len)
    rtg_all = prep.scale_returns(data.returns_to_go)
    rng = np.random.default_rng(a.seed)

    out: dict = {"dataset": a.dataset, "windows": a.windows, "seed": a.seed, "dt": a.dt, "peer": a.peer}
    for convention in ("ours", "d3rlpy"):
        ep, first, last = (our_windows(sampler, k, a.windows, rng) if convention == "ours"
                           else d3rlpy_windows(lengths, k, a.windows, rng))
        steps = last[:, None] - np.arange(k)[::-1][None, :]  # (B, K) step within the episode, newest last
        real = steps >= first[:, None]  # (B, K) the window's steps; the rest is padding, hidden from both models
        mask = torch.from_numpy(real.astype(np.float32))
        # d3rlpy's inputs through its own slicer (K steps ending at `last`) and scalers, padding masked as above
        trajs = [slicer(episodes[e], int(t), k) for e, t in zip(ep, last)]
        batch = TorchTrajectoryMiniBatch.from_batch(
            TrajectoryMiniBatch.from_partial_trajectories(trajs), device="cpu:0",
            observation_scaler=peer.observation_scaler, action_scaler=peer.action_scaler,
            reward_scaler=peer.reward_scaler)
        transformer = peer.impl.modules.transformer.eval()
        with torch.no_grad():
            peer_pred = transformer(batch.observations, batch.actions, batch.returns_to_go, batch.timesteps,
                                    1 - mask)
        # our inputs for the same windows: the same steps, our preprocessing, timesteps from 0
        rows = data.episode_starts[ep][:, None] + np.where(real, steps, 0)
        states = prep.normalize_states(data.observations[rows])
        states[~real] = 0.0
        actions = np.where(real[..., None], data.actions[rows], 0.0).astype(np.float32)
        rtg = np.where(real, rtg_all[rows], 0.0).astype(np.float32)[..., None]
        max_ep_len = run.meta.config().max_ep_len
        timesteps = np.where(real, clip_timesteps(np.where(real, steps, 0), max_ep_len), 0).astype(np.int64)
        with torch.no_grad():
            ours_pred = model(torch.from_numpy(states), torch.from_numpy(actions), torch.from_numpy(rtg),
                              torch.from_numpy(timesteps), torch.from_numpy(real.astype(np.int64)))
        target = torch.from_numpy(actions)
        assert torch.equal(batch.actions * mask[..., None], target), "the two implementations' windows differ"
        out[convention] = {"dt": score(ours_pred, target, mask), "d3rlpy-dt": score(peer_pred, target, mask),
                           "padded_fraction": float(1 - mask.mean())}
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        from decision_transformer.common.atomic import write_json

        write_json(a.json, out)
    return out


if __name__ == "__main__":
    main()
