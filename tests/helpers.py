"""Small models shared by the tests: real tiny LLaDA models and scripted stand-ins for the sampler."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import torch

from remedi import LLaDAConfig, LLaDAModelLM, RemeDiModel, UPSHead, save_ups
from remedi.model.tiny import build_tiny_random

VOCAB = 40
MASK_ID, EOS_ID, EOT_ID, PAD_ID = 39, 2, 3, 2


def tiny_config(**overrides):
    fields = dict(d_model=32, n_heads=4, n_kv_heads=2, n_layers=2, mlp_hidden_size=48, vocab_size=VOCAB,
                  max_sequence_length=128, rope_theta=10000.0, mask_token_id=MASK_ID, eos_token_id=EOS_ID,
                  pad_token_id=PAD_ID, eot_token_id=EOT_ID)
    fields.update(overrides)
    return LLaDAConfig(**fields)


def tiny_backbone(seed=0, **overrides):
    torch.manual_seed(seed)
    model = LLaDAModelLM(tiny_config(**overrides)).eval()
    # Random init gives near-uniform predictions; sharpen the head so argmax/ties are realistic.
    with torch.no_grad():
        model.model.transformer.ff_out.weight.mul_(20)
    return model


def tiny_remedi(seed=0, ups_width=16):
    backbone = tiny_backbone(seed)
    torch.manual_seed(seed + 1)
    return RemeDiModel(backbone, UPSHead(backbone.config.hidden_size, ups_width)).eval()


def random_prompt(batch=2, length=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(5, MASK_ID, (batch, length), generator=g)


def save_tiny_random_dir(directory):
    """`tiny-random` saved as a model directory (config, weights, tokenizer, ups/), laid out like the shipped
    models: a stand-in for a model directory other than the default one. Returns the directory."""
    model, tokenizer = build_tiny_random()
    model.backbone.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    save_ups(model.ups_head, Path(directory) / "ups")
    return directory


class ScriptedModel(torch.nn.Module):
    """A stand-in mask predictor whose TPS logits and UPS scores are functions of the input we choose.

    It is not the thing under test (the sampler is): it lets a test decide which positions are confident.
    """

    def __init__(self, logits_fn, ups_fn=None, ups_name="ups_logits", max_len=None):
        super().__init__()
        self.logits_fn, self.ups_fn, self.ups_name = logits_fn, ups_fn, ups_name
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.config = SimpleNamespace(max_sequence_length=max_len)

    @property
    def device(self):
        return self.dummy.device

    def forward(self, x, attention_mask=None):
        out = {"logits": self.logits_fn(x)}
        if self.ups_fn is not None:
            out[self.ups_name] = self.ups_fn(x)
        return SimpleNamespace(**out)


DDP_ENTRY = """
import sys
import torch
sys.path.insert(0, {script_dir!r})
import {module}

# The CLI, plus one line: every rank dumps the parameters it ends with.
state = {module}.setup({module}.parse_args())
rank = torch.distributed.get_rank()
torch.save(state["model"].state_dict(), {out!r} + f"/params-rank{{rank}}.pt")
"""


def run_trainer_on_two_ranks(script, argv, tmp_path):
    """Run a trainer script's CLI as 2 DDP processes on the CPU (gloo); returns each rank's final parameters."""
    script = Path(script)
    entry = tmp_path / "entry.py"
    entry.write_text(textwrap.dedent(DDP_ENTRY.format(script_dir=str(script.parent), module=script.stem,
                                                      out=str(tmp_path))))
    argv = [*map(str, argv), "--devices", "2", "--strategy", "ddp"]
    result = subprocess.run([sys.executable, str(entry), *argv], cwd=script.parents[2], capture_output=True,
                            text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    return [torch.load(tmp_path / f"params-rank{r}.pt", weights_only=True) for r in (0, 1)]
