"""The paper's sparse-reward critic analysis on Key-to-Door.

A transformer over (s, a) tokens (no return tokens, which would give the answer away) with a return
head, trained by binary cross-entropy to predict from every prefix of an episode whether the episode
ends in success. On held-out random episodes we plot the predicted success probability over the
episode (it should rise when the key is picked up and reach 1 once the door opened) and the attention of
the last token over the episode (it should concentrate on the key pick-up and the door).

Episodes run to the horizon (the door stays open after it gives its reward), so the "door" event is the
step whose action opens the door and the observation after it, the agent on the open door.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.data.sampler import EpisodeSampler
from decision_transformer.envs.keytodoor import DEFAULT_PHASE_LENGTHS, random_dataset_with_events
from decision_transformer.train import loss_history
from .common import train_cell

HELD_OUT_EPISODES = 3000
HELD_OUT_SEED = 987_654


def run_critic(num_episodes: int, cfg: Any, out_dir: Path) -> dict[str, Any]:
    """Train the critic on `num_episodes` random episodes (seed 0), analyse held-out episodes, write
    critic_success_prob.png and critic_attention.png. `cfg` is a KeyToDoorBenchConfig."""
    from .plots import plot_critic_attention, plot_critic_probability

    H = sum(DEFAULT_PHASE_LENGTHS)
    data, _, _ = random_dataset_with_events(num_episodes, seed=0)
    model_cfg = cfg.model_config(H, condition_on_return=False, predict_return=True)
    train_cfg = dataclasses.replace(cfg.train, steps=cfg.critic_steps, lr=cfg.critic_lr, action_loss_weight=0.0,
                                    return_loss_weight=1.0)
    prep = Preprocessing.fit(data)
    run_dir = Path(cfg.runs_dir) / "critic"
    model = train_cell(train_cfg, model_cfg, data, run_dir, seed=0, prep=prep).model
    history = [loss for _, loss in loss_history(run_dir)]

    held, key_step, door_step = random_dataset_with_events(HELD_OUT_EPISODES, seed=HELD_OUT_SEED)
    # held-out episodes prepared with the training data's statistics, as evaluation would
    batch = EpisodeSampler(held, prep, model_cfg.context_len, model_cfg.max_ep_len).episodes(np.arange(held.num_episodes))
    with torch.no_grad():
        out = model.forward_all(batch.states, batch.actions, batch.returns_to_go, batch.timesteps, batch.attention_mask)
        prob = torch.sigmoid(out.return_preds[..., 0]).numpy()  # (E, K), left-padded
        maps = model.attention_maps(batch.states, batch.actions, batch.returns_to_go, batch.timesteps, batch.attention_mask)
    lengths = held.episode_lengths
    pad = H - lengths
    success = held.episode_returns > 0.5
    # per-episode probability by timestep (NaN after the end)
    p_by_t = np.full((len(lengths), H), np.nan)
    for e in range(len(lengths)):
        p_by_t[e, : lengths[e]] = prob[e, pad[e]:]
    # attention of the last token (a_T) over timesteps, summed over its heads and the 2 tokens per step
    attn = []  # per layer: (E, H) with NaN padding
    for m in maps:
        last = m[:, :, -1, :].sum(1).numpy()  # (E, N) over tokens, heads summed then renormalised below
        per_step = last.reshape(len(lengths), H, 2).sum(-1)
        per_step = per_step / per_step.sum(1, keepdims=True)
        a = np.full((len(lengths), H), np.nan)
        for e in range(len(lengths)):
            a[e, : lengths[e]] = per_step[e, pad[e]:]
        attn.append(a)
    groups = {
        "success": success,
        "failed, key picked up": ~success & (key_step >= 0),
        "failed, no key": ~success & (key_step < 0),
    }
    plot_critic_probability(out_dir / "critic_success_prob.png", p_by_t, groups, key_step, door_step, lengths,
                            DEFAULT_PHASE_LENGTHS)
    plot_critic_attention(out_dir / "critic_attention.png", attn, success, key_step, door_step, lengths)

    # numbers for the JSON: prediction around the events per group; attention mass on the key and door steps
    final = p_by_t[np.arange(len(lengths)), lengths - 1]
    succ_idx = np.flatnonzero(success)
    # the door opened at least 2 steps before the end: the step after it is not the last token's own step
    after_door = [e for e in succ_idx if door_step[e] + 2 < lengths[e]]

    def mean_at(episodes, offset_from, shift):
        return float(np.mean([p_by_t[e, offset_from[e] + shift] for e in episodes])) if len(episodes) else None

    key_share = [[float(a[e, key_step[e]]) for e in succ_idx] for a in attn]
    door_share = [[float(a[e, door_step[e]]) for e in succ_idx] for a in attn]
    open_share = [[float(a[e, door_step[e] + 1]) for e in after_door] for a in attn]
    return {
        "train_episodes": num_episodes,
        "steps": cfg.critic_steps,
        "loss_history_per_100_steps": history,
        "held_out_episodes": HELD_OUT_EPISODES,
        "held_out_successes": int(success.sum()),
        "final_p_success_mean": {g: float(np.mean(final[mask])) if mask.any() else None for g, mask in groups.items()},
        "p_success_before_key_mean": mean_at([e for e in succ_idx if key_step[e] > 0], key_step, -1),
        "p_success_after_key_mean": mean_at(succ_idx, key_step, 0),
        "p_success_before_door_mean": mean_at([e for e in succ_idx if door_step[e] > 0], door_step, -1),
        "p_success_at_door_step_mean": mean_at(succ_idx, door_step, 0),
        "p_success_after_door_mean": mean_at(after_door, door_step, 1),
        "last_token_attention_on_key_step_per_layer": [float(np.mean(v)) if v else None for v in key_share],
        "last_token_attention_on_door_step_per_layer": [float(np.mean(v)) if v else None for v in door_share],
        "last_token_attention_on_step_after_door_per_layer": [float(np.mean(v)) if v else None for v in open_share],
        "uniform_attention_per_step": float(np.mean(1.0 / lengths[success])) if len(succ_idx) else None,
    }
