"""How trained DTs respond to the target return: the same data windows, conditioned as if each episode had been
prompted with target T, for T from inside the data's range to beyond its best episode. A mechanism check for the
peer-DT gap (docs/results/README.md): the runs that collapse when acting at a high target (d3rlpy's DT, our DT with
the paper code's initialisation) should move their actions far more as T passes the data's best return than the
runs that saturate.

    python scripts/dt_return_response.py --dataset hopper-medium-replay \
        --dt NAME=RUN/run ... --peer NAME=RUN/d3rlpy ... --targets 670 888 1058 1227 1336 1566 1736 \
        [--windows 2048] [--seed 0] [--json out.json]

--dt takes run directories of our trainer, --peer the `d3rlpy` folders of d3rlpy-dt cells (model.d3). Windows are
drawn once, our trainer's way (WindowSampler.draw, one seeded generator), and fed to every model in eval mode, each
with its own preprocessing. For a window of episode e (return R_e) the return-to-go under target T is the data's
return-to-go plus (T - R_e): what acting at T would feed the model had it visited the data's states. Per model and
target, at each window's last step (the prediction acting uses), averaged over windows and action dimensions:
  * `move`: squared difference between the action predicted under T and under the episode's own return (T = R_e);
  * `mse`: squared error against the data's action;
  * `saturated`: the fraction of predicted action components with |a| > 0.95.
Also each model's largest return-embedding weight (|W| of the Linear(1, C) that embeds the return-to-go).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch


def named(pairs: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for item in pairs:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"{flag} {item!r}: expected NAME=PATH")
        out.append((name, path))
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--dt", nargs="*", default=[], help="NAME=RUN_DIR of our trainer")
    p.add_argument("--peer", nargs="*", default=[], help="NAME=D3RLPY_DIR of a d3rlpy-dt cell")
    p.add_argument("--targets", nargs="+", type=float, required=True)
    p.add_argument("--windows", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=int, default=0,
                   help="draw windows that end within the first START steps of an episode instead (0: anywhere)")
    p.add_argument("--json", default="")
    a = p.parse_args(argv)

    from decision_transformer import load_run
    from decision_transformer.data.preprocess import Preprocessing, clip_timesteps
    from decision_transformer.data.registry import load_dataset
    from decision_transformer.data.sampler import WindowSampler

    data = load_dataset(a.dataset, seed=0)
    runs = [(n, load_run(d)) for n, d in named(a.dt, "--dt")]
    for n, r in runs:  # this script feeds raw actions and compares raw predictions
        if r.meta.preprocessing().scales_actions:
            sys.exit(f"dt_return_response.py: --dt {n}: {r.path / 'meta.json'} has action_scale_low / _high (trained "
                     "with --scale-actions); this script compares unscaled actions only")
    peers = []
    if a.peer:
        import d3rlpy

        peers = [(n, d3rlpy.load_learnable(f"{d}/model.d3", device="cpu:0")) for n, d in named(a.peer, "--peer")]
    if not runs and not peers:
        raise SystemExit("give at least one --dt or --peer")
    cfgs = [r.meta.config() for _, r in runs]
    k = cfgs[0].context_len if cfgs else peers[0][1].config.context_size
    for name, peer in peers:
        if peer.config.context_size != k:
            raise SystemExit(f"--peer {name}: context_size {peer.config.context_size}, expected {k}")
    for (name, _), cfg in zip(runs, cfgs):
        if cfg.context_len != k:
            raise SystemExit(f"--dt {name}: context_len {cfg.context_len}, expected {k}")

    # one draw of windows, our trainer's way (the statistics given to the sampler play no part in drawing)
    sampler = WindowSampler(data, Preprocessing.fit(data), k, data.episode_lengths.max())
    rng = np.random.default_rng(a.seed)
    ep, first, last = sampler.draw(a.windows, rng)
    if a.start:  # the episode's opening steps, where acting at T begins
        last = np.minimum(rng.integers(0, a.start, size=a.windows), data.episode_lengths[ep] - 1)
        first = np.maximum(last - k + 1, 0)
    steps = last[:, None] - np.arange(k)[::-1][None, :]  # (B, K) step in the episode, newest last
    real = steps >= first[:, None]  # (B, K) 1 = real, left-padded
    rows = data.episode_starts[ep][:, None] + np.where(real, steps, 0)
    data_actions = np.where(real[..., None], data.actions[rows], 0.0).astype(np.float32)
    rtg_data = np.where(real, data.returns_to_go[rows], 0.0)  # (B, K) raw
    ep_return = data.episode_returns[ep][:, None]  # (B, 1)

    def ours(run, cfg, rtg_raw: np.ndarray) -> np.ndarray:
        prep = run.meta.preprocessing()
        states = prep.normalize_states(data.observations[rows])
        states[~real] = 0.0
        rtg = np.where(real, prep.scale_returns(rtg_raw), 0.0).astype(np.float32)[..., None]
        timesteps = np.where(real, clip_timesteps(np.where(real, steps, 0), cfg.max_ep_len), 0).astype(np.int64)
        with torch.no_grad():
            pred = run.model.eval()(torch.from_numpy(states), torch.from_numpy(data_actions), torch.from_numpy(rtg),
                                    torch.from_numpy(timesteps), torch.from_numpy(real.astype(np.int64)))
        return pred[:, -1].numpy()

    def theirs(peer, rtg_raw: np.ndarray) -> np.ndarray:
        # d3rlpy's own scalers; its timesteps count from 1 and its padding is masked (d3rlpy's convention)
        obs = torch.from_numpy(data.observations[rows].astype(np.float32))
        obs = peer.observation_scaler.transform(obs) * torch.from_numpy(real[..., None].astype(np.float32))
        act = torch.from_numpy(data_actions)
        if peer.action_scaler is not None:
            act = peer.action_scaler.transform(act)
        rtg = peer.reward_scaler.transform(torch.from_numpy(rtg_raw.astype(np.float32)))[..., None]
        rtg = rtg * torch.from_numpy(real[..., None].astype(np.float32))
        timesteps = torch.from_numpy(np.where(real, steps + 1, 0).astype(np.int64))
        mask = torch.from_numpy(1 - real.astype(np.float32))
        with torch.no_grad():
            pred = peer.impl.modules.transformer.eval()(obs, act, rtg, timesteps, mask)
        if peer.action_scaler is not None:
            pred = peer.action_scaler.reverse_transform(pred)
        return pred[:, -1].numpy()

    models = [(n, (lambda r, c: lambda x: ours(r, c, x))(r, c)) for (n, r), c in zip(runs, cfgs)]
    models += [(n, (lambda q: lambda x: theirs(q, x))(q)) for n, q in peers]
    target_action = data_actions[:, -1]
    out: dict = {"dataset": a.dataset, "windows": a.windows, "seed": a.seed, "start": a.start, "targets": a.targets,
                 "data_return_max": float(data.episode_returns.max()), "models": {}}
    for name, predict in models:
        own = predict(rtg_data)
        rows_out = []
        for t in a.targets:
            pred = predict(np.where(real, rtg_data + (t - ep_return), 0.0))
            rows_out.append({"target": t, "move": float(((pred - own) ** 2).mean()),
                             "mse": float(((pred - target_action) ** 2).mean()),
                             "saturated": float((np.abs(pred) > 0.95).mean())})
        out["models"][name] = {"own_return_mse": float(((own - target_action) ** 2).mean()), "by_target": rows_out}
    for name, run in runs:
        out["models"][name]["return_embedding_absmax"] = float(run.model.embed_return.weight.detach().abs().max())
    for name, peer in peers:
        out["models"][name]["return_embedding_absmax"] = float(
            peer.impl.modules.transformer._rtg_embed.weight.abs().max())

    names = list(out["models"])
    print("move (mean squared change of the last action vs the episode's own return), by target:")
    print("target".rjust(8) + "".join(n[:18].rjust(20) for n in names))
    for i, t in enumerate(a.targets):
        print(f"{t:8.0f}" + "".join(f"{out['models'][n]['by_target'][i]['move']:20.4f}" for n in names))
    print("|W| max of the return embedding:" + "".join(
        f" {n} {out['models'][n]['return_embedding_absmax']:.3f};" for n in names))
    if a.json:
        from decision_transformer.common.atomic import write_json

        write_json(a.json, out)
    return out


if __name__ == "__main__":
    main()
