"""Deployment: a run exported to ONNX (`dt export RUN --onnx FILE`) and acted on with onnxruntime and numpy only.

    from decision_transformer.deploy import OnnxPolicy
    policy = OnnxPolicy("hopper.onnx")
    policy.reset(target_return=3600)
    action = policy.act(obs)                 # first step of the episode
    action = policy.act(obs, reward)         # every later step: the reward of the previous action

Importing this package does not import torch (tests/test_deploy.py checks it); the exporter, which needs torch,
is `decision_transformer.deploy.export`. See docs/deploy.md.
"""

from .metadata import DeployError
from .policy import BatchedOnnxPolicy, OnnxPolicy
from .session import load_session, read_metadata

__all__ = ["BatchedOnnxPolicy", "DeployError", "OnnxPolicy", "load_session", "read_metadata"]
