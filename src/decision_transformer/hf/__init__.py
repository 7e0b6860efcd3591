"""Hugging Face `transformers.DecisionTransformerModel` checkpoints <-> our `DecisionTransformer`, exactly.

An HF checkpoint is a directory with `config.json` (DecisionTransformerConfig fields) and weights in
`model.safetensors` or `pytorch_model.bin` (sharded `*.index.json` variants too). Reading and writing
needs only safetensors and torch; `transformers` itself is used by the tests, never here.

Facts this module relies on (each checked by tests/test_hf.py against the real `transformers`):
  * GPT-2 `Conv1D` stores its weight as (in, out): the transpose of `nn.Linear.weight` (out, in).
  * `attn.c_attn` packs q, k, v along its output dimension, in that order, as our `attn.qkv` does.
  * HF's encoder adds the position embedding `wpe[0]` to every token (the DT calls it with
    position_ids all zero), after `embed_ln` and before dropout. We have no such embedding, so import
    folds `wpe[0]` into `embed_ln.bias`; export writes `embed_ln.bias - wpe[0]` (bit-exactly the original
    bias when the model is unchanged since import) together with the original `wpe`, or zeros.
  * `encoder.wte` and the rest of `wpe` are never used by the DT; they are kept as extra tensors
    (`hf.`-prefixed) so that import then export reproduces every tensor.
  * Legacy checkpoints carry `attn.bias` / `attn.masked_bias` buffers: ignored.
  * Checkpoints trained with the original kzl/decision-transformer code name the GPT-2 `transformer.`
    instead of `encoder.` and have no `wpe` (nothing is added).
  * HF configs carry no state mean/std: import takes them as arguments. Our exports add them, with the
    reward scale, under the config key `dt_meta`, which transformers keeps and ignores.
"""

from .format import (
    DEFAULT_REWARD_SCALE, EXTRA_PREFIX, HF_DEFAULTS, META_KEY, PT_BIN, PT_BIN_INDEX, REQUIRED_FIELDS, SAFETENSORS,
    SAFETENSORS_INDEX, WEIGHT_FILES, HFCheckpoint, HFFormatError, check_dt_meta, check_state_stats,
)
from .read import config_from_hf, load_hf, read_hf, read_hf_config, read_hf_weights, resolve_state_stats
from .write import hf_config_for, hf_state_dict, save_hf

__all__ = [
    "DEFAULT_REWARD_SCALE", "EXTRA_PREFIX", "HF_DEFAULTS", "META_KEY", "PT_BIN", "PT_BIN_INDEX", "REQUIRED_FIELDS",
    "SAFETENSORS", "SAFETENSORS_INDEX", "WEIGHT_FILES", "HFCheckpoint", "HFFormatError", "check_dt_meta",
    "check_state_stats",
    "config_from_hf", "hf_config_for", "hf_state_dict", "load_hf", "read_hf", "read_hf_config", "read_hf_weights",
    "resolve_state_stats", "save_hf",
]
