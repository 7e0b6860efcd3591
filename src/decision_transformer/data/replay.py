"""The replay buffer of online fine-tuning (Online Decision Transformer, Zheng et al. 2022, Sec. 3): whole trajectories.

* Seeded with the `capacity` highest-return trajectories of the offline data (all of them if there are fewer), put
  in in increasing order of return, so that first in, first out replaces the worst offline trajectory first (ODT
  states the seeding and the FIFO replacement; the order of the seeds is ours).
* `add` appends an online trajectory; once full, the oldest trajectory leaves (first in, first out).
* Hindsight return relabelling: the returns-to-go of every trajectory, online ones included, are computed from the
  rewards it actually obtained (`hindsight_returns_to_go`), never from the target the rollout was conditioned on.
* Batches are the offline trainer's K-step windows (data/sampler.py `WindowSampler`: a trajectory drawn with
  probability proportional to its length, a uniform start), prepared with the pretrained run's `Preprocessing`,
  with its model config's window (`context_len`, `max_ep_len`).
* `state_dict` / `load_state_dict`: plain tensors and lists (torch.load(weights_only=True)), for exact resume.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import torch

from .fields import returns_to_go
from .preprocess import Preprocessing
from .sampler import Batch, WindowSampler
from .trajectories import Episode, TrajectoryDataset

_FIELDS = ("observations", "actions", "rewards", "terminations", "truncations")


def hindsight_returns_to_go(rewards: np.ndarray) -> np.ndarray:
    """(T,) float32: the return actually obtained from each step to the trajectory's end (undiscounted): the dataset's
    own returns-to-go (`fields.returns_to_go`) of one trajectory, which `dataset()` relabels by construction."""
    return returns_to_go(np.asarray(rewards), np.zeros(1, np.int64))


class ReplayBuffer:
    """At most `capacity` whole trajectories, replaced first in, first out (module docstring)."""

    def __init__(self, capacity: int, prep: Preprocessing, context_len: int, max_ep_len: int):
        if capacity < 1:
            raise ValueError(f"ReplayBuffer capacity={capacity} must be >= 1")
        self.capacity, self.prep, self.window = int(capacity), prep, (int(context_len), int(max_ep_len))
        self.episodes: deque[Episode] = deque(maxlen=self.capacity)
        self._sampler: WindowSampler | None = None  # rebuilt after every change

    @classmethod
    def seeded(cls, capacity: int, prep: Preprocessing, context_len: int, max_ep_len: int,
               offline: TrajectoryDataset) -> "ReplayBuffer":
        """A buffer holding the offline data's `capacity` highest-return trajectories, lowest return first."""
        buf = cls(capacity, prep, context_len, max_ep_len)
        top = np.argsort(-offline.episode_returns, kind="stable")[:capacity]  # the best, best first
        for i in top[::-1]:  # lowest of them first: the first to be replaced
            buf.episodes.append(offline.episode(int(i)))
        buf._sampler = None
        return buf

    def __len__(self) -> int:
        return len(self.episodes)

    def add(self, episode: Episode) -> None:
        """Append an online trajectory; when full, the oldest one leaves."""
        if len(episode) == 0:
            raise ValueError("ReplayBuffer.add: an empty trajectory")
        self.episodes.append(episode)
        self._sampler = None

    @property
    def returns(self) -> np.ndarray:
        """(E,) each trajectory's return, oldest first."""
        return np.array([float(np.sum(e.rewards, dtype=np.float64)) for e in self.episodes])

    def dataset(self) -> TrajectoryDataset:
        """The trajectories as one dataset (its returns-to-go: hindsight, from the rewards obtained)."""
        return TrajectoryDataset.from_episodes(list(self.episodes), reward_scale=self.prep.reward_scale,
                                               source="<replay buffer>")

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        if self._sampler is None:
            self._sampler = WindowSampler(self.dataset(), self.prep, *self.window)
        return self._sampler.sample(batch_size, rng)

    def state_dict(self) -> dict[str, Any]:
        lengths = [len(e) for e in self.episodes]
        return {"capacity": self.capacity, "lengths": torch.tensor(lengths, dtype=torch.int64),
                **{k: torch.from_numpy(np.concatenate([np.asarray(getattr(e, k)) for e in self.episodes]))
                   for k in _FIELDS}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"replay buffer: saved capacity {state['capacity']} != {self.capacity}")
        arrays = {k: state[k].numpy() for k in _FIELDS}
        ends = np.cumsum(state["lengths"].numpy())
        self.episodes.clear()
        for s, e in zip(np.concatenate([[0], ends[:-1]]), ends):
            self.episodes.append(Episode(*(arrays[k][s:e] for k in _FIELDS)))
        self._sampler = None
