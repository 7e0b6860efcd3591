"""Beyond the paper: the return head with `dt eval --targets auto` (Reinformer), and online fine-tuning (ODT)."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import assert_one_error, make_dataset, kill_after
from decision_transformer.checkpoint import load_run, load_trainer_state
from decision_transformer.config import DTConfig, model_config
from decision_transformer.run_config import TrainConfig
from decision_transformer.data import Episode, TrajectoryDataset
from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.data.replay import ReplayBuffer, hindsight_returns_to_go
from decision_transformer.distributions import TanhNormal
from decision_transformer.common.envs_util import make_env
from decision_transformer.common.metrics import read_metrics
from decision_transformer.train import train

TINY = dict(context_len=4, n_layer=1, embed_dim=16, max_ep_len=200)


def env_dataset(tmp_path, env_id, episodes, seed=0) -> Path:
    """Random-action episodes of a gymnasium env (continuous actions uniform in [-1, 1]), saved as a native npz."""
    rng = np.random.default_rng(seed)
    env = make_env(env_id)
    eps = []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        rec = {k: [] for k in ("observations", "actions", "rewards", "terminations", "truncations")}
        done = False
        while not done:
            a = (int(rng.integers(env.action_space.n)) if hasattr(env.action_space, "n")
                 else rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
            nxt, r, term, trunc, _ = env.step(a)
            for k, v in zip(rec, (obs, a, r, term, trunc)):
                rec[k].append(v)
            obs, done = nxt, term or trunc
        eps.append(Episode(np.asarray(rec["observations"], np.float32),
                           np.asarray(rec["actions"], np.int64 if hasattr(env.action_space, "n") else np.float32),
                           np.asarray(rec["rewards"], np.float32), np.asarray(rec["terminations"]),
                           np.asarray(rec["truncations"])))
    env.close()
    name = env_id.split("-")[0].lower()
    return TrajectoryDataset.from_episodes(eps, env_id=env_id, reward_scale=10.0, name=name).save(tmp_path / f"{name}.npz")


def tiny_run(tmp_path, npz, name, steps=30, **arch):
    cfg = TrainConfig(dataset=str(npz), out=str(tmp_path / name), steps=steps, batch_size=8, warmup_steps=5, lr=3e-3,
                      log_every=5, save_every=10, progress=False)
    return train(cfg, model_config("dt", **TINY, **arch))


# ------------------------------------------------------------------ return head, --targets auto
@pytest.mark.parametrize("env_id,stochastic", [("InvertedPendulum-v5", False), ("CartPole-v1", False),
                                               ("InvertedPendulum-v5", True)])
def test_return_head_trains_and_auto_targets_evaluate(tmp_path, dt, env_id, stochastic):
    """Continuous and discrete runs; and the return head beside the stochastic policy (Reinformer's objective)."""
    npz = env_dataset(tmp_path, env_id, episodes=12)
    run = tiny_run(tmp_path, npz, "head", steps=40, return_head="expectile", stochastic_policy=stochastic)
    assert run.meta.config().stochastic_policy == stochastic
    assert run.meta.config().return_head == "expectile"
    ret = [r["train/return_loss"] for r in read_metrics(tmp_path / "head") if "train/return_loss" in r]
    assert len(ret) == 8 and ret[-1] < ret[0]  # the expectile loss is logged and falls
    out = tmp_path / "eval.json"
    res = dt("eval", tmp_path / "head", "--targets", "auto", "50", "--num-episodes", "2", "--json", out, "--no-progress",
             "--max-episode-steps", "100")
    assert res.returncode == 0, res.stderr
    assert "auto" in res.stdout
    def strict(constant):  # NaN / Infinity: not JSON (other readers, e.g. JavaScript's JSON.parse, refuse it)
        raise AssertionError(f"{out} holds {constant}")

    fixed, auto = json.loads(out.read_text(), parse_constant=strict)["results"]
    assert not fixed["auto"] and fixed["target_return"] == 50 and auto["auto"] and auto["target_return"] is None
    assert len(auto["returns"]) == 2 and all(math.isfinite(t) for t in auto["targets_used"])  # first proposals


def test_auto_proposes_at_every_step_without_decrement(tmp_path):
    """Acting with `auto`: the return-to-go the model sees at step t is its own proposal from the history to s_t."""
    from decision_transformer.evaluate import AUTO, RolloutPolicy, evaluate

    torch.manual_seed(0)
    model = __import__("decision_transformer").DecisionTransformer(
        DTConfig(**TINY, return_head="expectile"), 4, 1).eval()
    seen, proposals = [], []
    act, propose = model.act, model.propose_return
    model.act = lambda *a: seen.append(a[2][:, -1, 0].clone()) or act(*a)
    model.propose_return = lambda *a: proposals.append(propose(*a)) or proposals[-1]
    prep = Preprocessing(np.zeros(4, np.float32), np.ones(4, np.float32), 10.0)
    policy = RolloutPolicy(model=model, prep=prep, discrete=False, act_dim=1)
    res = evaluate(policy, "InvertedPendulum-v5", [AUTO], num_episodes=1, num_envs=1, progress=False)[0]
    assert len(seen) == res.lengths[0] == len(proposals)
    np.testing.assert_allclose(torch.cat(seen).numpy(), torch.cat(proposals)[:, 0].numpy(), rtol=1e-6)
    assert res.targets_used[0] == pytest.approx(float(proposals[0][0, 0]) * 10.0, rel=1e-5)


def test_auto_is_refused_without_a_return_head(tmp_path, dt):
    npz = make_dataset(lengths=(20, 30), obs_dim=2, reward_scale=10.0, name="toy").save(tmp_path / "toy.npz")
    tiny_run(tmp_path, npz, "plain", steps=5)
    res = dt("eval", tmp_path / "plain", "--env-id", "InvertedPendulum-v5", "--targets", "auto")
    assert_one_error(res, "eval", "--targets auto", "return head")


def test_an_untrained_return_head_keeps_the_order_alone_and_refuses_auto(tmp_path, dt):
    """return_head_weight 0 (the paper harness's dt-sra): the s, R, a order with no return loss. The return loss then
    moves nothing: two runs that differ only in the loss's expectile end with the same weights. `auto` is refused."""
    npz = env_dataset(tmp_path, "InvertedPendulum-v5", episodes=6)
    a, b = (tiny_run(tmp_path, npz, name, steps=10, return_head="expectile", return_head_weight=0.0,
                     return_expectile=m) for name, m in (("a", 0.99), ("b", 0.5)))
    assert a.model.predict_rtg is not None and a.meta.config().return_first is False  # the s, R, a order
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(x, y), k
    assert_one_error(dt("eval", a.path, "--targets", "auto", "--num-episodes", 1), "eval", "return_head_weight 0")
    with pytest.raises(ValueError, match="return_head_weight"):
        DTConfig(return_head="expectile", return_head_weight=-1.0)


def test_new_fields_are_checked_and_old_configs_load(tmp_path):
    with pytest.raises(ValueError, match="return tokens"):
        DTConfig(return_head="expectile", condition_on_return=False)
    with pytest.raises(ValueError, match="attention_window"):
        DTConfig(return_head="expectile", attention_window=2)
    with pytest.raises(ValueError, match="return_head"):
        DTConfig(return_head="bins")
    with pytest.raises(ValueError, match="return_expectile"):
        DTConfig(return_head="expectile", return_expectile=1.0)
    with pytest.raises(ValueError, match="continuous"):
        DTConfig(stochastic_policy=True, discrete_actions=True)
    with pytest.raises(ValueError, match="do not apply"):
        model_config("mlp-bc", return_head="expectile")
    # a run saved before these fields existed: meta.json's model_config without them loads with the defaults
    npz = make_dataset(lengths=(20, 30), obs_dim=2, reward_scale=10.0, name="toy").save(tmp_path / "toy.npz")
    run = tiny_run(tmp_path, npz, "old", steps=5)
    meta_path = run.path / "meta.json"
    meta = json.loads(meta_path.read_text())
    new = ("return_head", "return_expectile", "return_head_weight", "stochastic_policy", "log_std_min", "log_std_max")
    meta["model_config"] = {k: v for k, v in meta["model_config"].items() if k not in new}
    meta_path.write_text(json.dumps(meta))
    old = load_run(tmp_path / "old")
    assert old.meta.config() == run.meta.config()
    for a, b in zip(old.model.state_dict().values(), run.model.state_dict().values()):
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------------ the stochastic policy
def test_tanh_normal_log_prob_and_entropy_on_known_numbers():
    # standard normal at x = 0: log N(0; 0, 1) = -log(2 pi) / 2, and tanh has slope 1 there
    d = TanhNormal(torch.zeros(1, 1), torch.zeros(1, 1))
    assert float(d.log_prob(torch.zeros(1, 1))) == pytest.approx(-0.5 * math.log(2 * math.pi), abs=1e-6)
    # a = tanh(1) under mean 0.5, std 2: Gaussian term at z = 0.25, minus log(1 - tanh(1)^2)
    d = TanhNormal(torch.tensor([[0.5]]), torch.tensor([[math.log(2.0)]]))
    expected = -0.5 * 0.25 ** 2 - math.log(2.0) - 0.5 * math.log(2 * math.pi) - math.log(1 - math.tanh(1.0) ** 2)
    assert float(d.log_prob(torch.tensor([[math.tanh(1.0)]]))) == pytest.approx(expected, abs=1e-5)
    # against torch's own tanh-transformed normal, two dims summed
    mean, log_std = torch.tensor([[0.3, -1.2]]), torch.tensor([[-0.5, 0.4]])
    ref = torch.distributions.TransformedDistribution(torch.distributions.Normal(mean, log_std.exp()),
                                                      [torch.distributions.TanhTransform()])
    a = torch.tensor([[0.2, -0.9]])
    assert float(TanhNormal(mean, log_std).log_prob(a)) == pytest.approx(float(ref.log_prob(a).sum()), abs=1e-4)
    # entropy: a narrow policy at 0 is nearly Gaussian, H = log(sigma) + log(2 pi e) / 2
    torch.manual_seed(0)
    narrow = TanhNormal(torch.zeros(20000, 1), torch.full((20000, 1), -4.0))
    assert float(narrow.entropy_estimate().mean()) == pytest.approx(-4.0 + 0.5 * math.log(2 * math.pi * math.e), abs=0.01)
    wide = TanhNormal(torch.zeros(50000, 1), torch.zeros(50000, 1))
    x = np.random.default_rng(0).standard_normal(400_000)  # H = H(N(0, 1)) + E[log(1 - tanh(x)^2)]
    reference = 0.5 * math.log(2 * math.pi * math.e) + float(np.mean(np.log(1 - np.tanh(x) ** 2)))
    assert float(wide.entropy_estimate().mean()) == pytest.approx(reference, abs=0.02)


def test_stochastic_policy_trains_with_a_learned_temperature(tmp_path):
    npz = env_dataset(tmp_path, "InvertedPendulum-v5", episodes=8)
    run = tiny_run(tmp_path, npz, "sto", steps=20, stochastic_policy=True)
    rows = [r for r in read_metrics(tmp_path / "sto") if "train/nll" in r]
    assert {"train/entropy", "train/temperature"} <= set(rows[-1])
    assert rows[-1]["train/temperature"] != rows[0]["train/temperature"]  # its own optimizer moves it
    state = load_trainer_state(run.path)
    assert float(state["objective"]["log_temperature"].exp()) == pytest.approx(rows[-1]["train/temperature"], rel=0.05)
    a = run.model.act(torch.zeros(1, 1, 4), torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), torch.zeros(1, 1, dtype=torch.long))
    assert a.shape == (1, 1) and float(a.detach().abs().max()) < 1

def test_stochastic_policy_by_likelihood_alone_or_at_a_fixed_temperature(tmp_path):
    """--init-temperature 0: no entropy term, the loss is the nll; --temperature-lr 0: the temperature stays put."""
    npz = env_dataset(tmp_path, "InvertedPendulum-v5", episodes=8)

    def run(name, **fields):
        cfg = TrainConfig(dataset=str(npz), out=str(tmp_path / name), steps=10, batch_size=8, warmup_steps=5,
                          lr=3e-3, log_every=5, save_every=10, progress=False, **fields)
        result = train(cfg, model_config("dt", **TINY, stochastic_policy=True))
        return result, [r for r in read_metrics(tmp_path / name) if "train/nll" in r]

    _, nll_only = run("nll", init_temperature=0.0)
    assert all(r["train/temperature"] == 0.0 and r["train/loss"] == pytest.approx(r["train/nll"], rel=1e-5)
               for r in nll_only)
    _, fixed = run("fixed", init_temperature=0.3, temperature_lr=0.0)
    assert all(r["train/temperature"] == pytest.approx(0.3) for r in fixed)
    with pytest.raises(ValueError, match="init_temperature"):
        TrainConfig(init_temperature=-0.1)



def test_stochastic_return_head_training_resumes_exactly(tmp_path):
    """The temperature, its optimizer and the unlogged terms are checkpointed: a killed run logs what an uninterrupted
    one does."""
    from decision_transformer.train import resume

    npz = env_dataset(tmp_path, "InvertedPendulum-v5", episodes=6)
    arch = dict(stochastic_policy=True, return_head="expectile")
    cfg = dict(steps=12, log_every=3, save_every=5)
    for name in ("a", "b"):
        train(TrainConfig(dataset=str(npz), out=str(tmp_path / name), batch_size=8, warmup_steps=5, progress=False,
                          **cfg), model_config("dt", **TINY, **arch))
    kill_after(tmp_path / "b", 10)  # the older of the two kept checkpoints; the row at 12 needs step 10's terms
    resume(tmp_path / "b")
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith(("time/", "train/samples"))}  # noqa: E731
                          for r in rows]
    assert strip(read_metrics(tmp_path / "a")) == strip(read_metrics(tmp_path / "b"))
    assert "train/temperature" in read_metrics(tmp_path / "b")[-1]


# ------------------------------------------------------------------ replay buffer
def test_hindsight_relabelling_of_an_online_trajectory():
    rewards = np.array([1.0, 2.0, 3.0, -1.0], np.float32)
    np.testing.assert_allclose(hindsight_returns_to_go(rewards), [5.0, 4.0, 2.0, -1.0])
    prep = Preprocessing(np.zeros(2, np.float32), np.ones(2, np.float32), 2.0)
    buf = ReplayBuffer(1, prep, 4, 100)
    buf.add(Episode(np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32), rewards, np.zeros(4, bool),
                    np.array([0, 0, 0, 1], bool)))
    batch = buf.sample(16, np.random.default_rng(0))
    real = batch.attention_mask.bool()
    got = batch.returns_to_go[..., 0][real].numpy()
    assert set(np.round(got, 5)) <= set(np.round(hindsight_returns_to_go(rewards) / 2.0, 5))
    t = batch.timesteps[real].numpy()
    np.testing.assert_allclose(got, hindsight_returns_to_go(rewards)[t] / 2.0)  # R_t matches step t's return


def test_replay_buffer_is_seeded_with_the_best_and_replaced_first_in_first_out():
    data = make_dataset(lengths=(5, 5, 5, 5, 5), obs_dim=2)  # returns 5, 10, 15, 20, 25 (reward i + 1)
    prep = Preprocessing(np.zeros(2, np.float32), np.ones(2, np.float32), 1.0)
    buf = ReplayBuffer.seeded(3, prep, 4, 100, data)
    np.testing.assert_allclose(buf.returns, [15, 20, 25])  # the top three, lowest first
    online = [Episode(np.zeros((2, 2), np.float32), np.zeros((2, 1), np.float32), np.full(2, r, np.float32),
                      np.zeros(2, bool), np.ones(2, bool)) for r in (100.0, 200.0)]
    buf.add(online[0])
    np.testing.assert_allclose(buf.returns, [20, 25, 200])
    buf.add(online[1])
    np.testing.assert_allclose(buf.returns, [25, 200, 400])
    again = ReplayBuffer(3, prep, 4, 100)
    again.load_state_dict(buf.state_dict())
    np.testing.assert_allclose(again.returns, buf.returns)


# ------------------------------------------------------------------ dt finetune
def test_finetune_runs_and_resumes_exactly_after_a_kill(tmp_path, dt):
    npz = env_dataset(tmp_path, "InvertedPendulum-v5", episodes=10)
    tiny_run(tmp_path, npz, "pre", steps=10, stochastic_policy=True)
    args = ["finetune", tmp_path / "pre", "--online-steps", 120, "--updates-per-rollout", 2, "--batch-size", 8,
            "--warmup-steps", 5, "--buffer-size", 12, "--eval-every", 4, "--eval-episodes", 2, "--save-every", 2,
            "--max-episode-steps", 40, "--no-progress"]
    res = dt(*args, "--out", tmp_path / "a")
    assert res.returncode == 0, res.stderr[-3000:]
    line = res.stdout.strip().splitlines()[-1]
    assert line.startswith("dt finetune: 120 online steps in ") and "temperature" in line and " s; run in " in line
    rows = read_metrics(tmp_path / "a")
    evals = [r for r in rows if "eval/return_mean" in r]
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 120  # the offline score first, the final one last
    assert all("online/return" in r and "train/temperature" in r for r in rows if "eval/return_mean" not in r)
    assert (tmp_path / "a" / "tb").is_dir()

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    older = sorted(int(p.name.split("_")[1]) for p in (tmp_path / "b" / "checkpoints").glob("step_*"))[0]
    assert 0 < older < 120
    kill_after(tmp_path / "b", older)
    seconds_then = torch.load(tmp_path / "b" / "checkpoints" / f"step_{older:08d}" / "trainer_state.pt",
                              weights_only=True)["seconds"]
    assert seconds_then > 0  # fine-tuning's wall seconds, checkpointed
    again = dt(*args, "--out", tmp_path / "b")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip().splitlines()[-1].startswith(f"dt finetune: resumed at {older} online steps: 120 online")
    finished = dt(*args, "--out", tmp_path / "b")  # the same command on a finished run: says that nothing was done
    assert finished.stdout.strip().splitlines()[-1].startswith("dt finetune: already finished, nothing done this time")

    def strip(rs):
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rs]

    assert strip(read_metrics(tmp_path / "b")) == strip(rows)
    a, b = load_run(tmp_path / "a"), load_run(tmp_path / "b")
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(x, y), k
    sa, sb = (torch.load(r.path / "trainer_state.pt", weights_only=True) for r in (a, b))
    assert torch.equal(sa["buffer"]["observations"], sb["buffer"]["observations"])
    assert torch.equal(sa["objective"]["log_temperature"], sb["objective"]["log_temperature"])
    assert sb["seconds"] > seconds_then and sa["seconds"] > 0  # the resumed run continues the clock
    # other settings in the same directory are refused; a deterministic run cannot be fine-tuned
    assert_one_error(dt(*args[:-1], "--seed", 3, "--out", tmp_path / "a"), "finetune", "other settings", "seed: saved")
    toy = make_dataset(lengths=(20, 30), obs_dim=2, reward_scale=10.0, name="toy").save(tmp_path / "toy.npz")
    assert_one_error(dt("finetune", tmp_path / "pre", "--dataset", toy, "--out", tmp_path / "d"), "finetune", "--dataset")
    tiny_run(tmp_path, npz, "det", steps=5)
    assert_one_error(dt("finetune", tmp_path / "det", "--out", tmp_path / "c"), "finetune", "--stochastic-policy")


def test_finetune_reads_the_pretraining_data_the_run_recorded(tmp_path, monkeypatch, dt):
    """Without --dataset, finetune loads the pretrained run's data: a relative path is the file the run was trained
    on (not one at that path under the current directory), and other data there is refused."""
    npz = env_dataset(tmp_path, "InvertedPendulum-v5", episodes=6)
    monkeypatch.chdir(tmp_path)
    tiny_run(tmp_path, Path(npz.name), "pre", steps=5, stochastic_policy=True)  # a relative dataset path
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    args = ["finetune", tmp_path / "pre", "--online-steps", 20, "--updates-per-rollout", 1, "--batch-size", 4,
            "--warmup-steps", 2, "--eval-every", 100, "--eval-episodes", 1, "--max-episode-steps", 10, "--no-progress"]
    assert dt(*args, "--out", tmp_path / "ft").returncode == 0  # no ./inverted.npz here: the recorded file is used
    env_dataset(tmp_path, "InvertedPendulum-v5", episodes=3, seed=7)  # other data at the recorded path
    assert_one_error(dt(*args, "--out", tmp_path / "ft2"), "finetune", "train_config.json", "field 'dataset'",
                     "expected the data the run was trained on")


def test_the_normalized_return_loss_is_free_of_the_returns_unit():
    """DTConfig.return_loss_normalized (Reinformer's code): u / mean |R| makes the loss the same for returns in any
    unit, where the plain loss grows with the unit's square (Atari's raw returns: docs/beyond.md); it needs a head."""
    from decision_transformer.losses import expectile_loss

    gen = torch.Generator().manual_seed(0)
    rtg, preds = torch.rand(4, 5, 1, generator=gen) * 3, torch.rand(4, 5, 1, generator=gen) * 3
    mask = torch.ones(4, 5, dtype=torch.long)
    mask[0, :2] = 0  # padding: left out of the loss and of the mean |R|
    plain, scaled = (float(expectile_loss(c * preds, c * rtg, mask, 0.9)) for c in (1.0, 30.0))
    assert scaled == pytest.approx(900 * plain, rel=1e-5)
    norm, norm_scaled = (float(expectile_loss(c * preds, c * rtg, mask, 0.9, normalized=True)) for c in (1.0, 30.0))
    assert norm_scaled == pytest.approx(norm, rel=1e-5)
    assert norm == pytest.approx(plain / float(rtg[mask.bool()].abs().mean()) ** 2, rel=1e-5)
    with pytest.raises(ValueError, match="DTConfig.return_loss_normalized applies to a return head"):
        DTConfig(return_loss_normalized=True)
    assert DTConfig(return_head="expectile", return_loss_normalized=True).return_loss_normalized
