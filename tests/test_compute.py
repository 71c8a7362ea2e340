"""Compute settings (precision and layout): validation, the config section, and a training step in bf16."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch

from recon_lib.core.compute import Compute
from recon_lib.models.inference import reconstruct
from recon_lib.models.sensitivity_network import SensitivityNetwork
from recon_lib.training.config import ConfigError, config_from_dict
from recon_lib.training.steps import Learner, training_step

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from benchmark import synthetic_batch  # noqa: E402  (the benchmark's teaching-geometry batch)


def test_settings_are_checked_and_named():
    assert Compute() == Compute("bf16", True)
    assert Compute.fp32() == Compute.from_mapping({"precision": "fp32", "channels_last": False})
    with pytest.raises(ValueError, match="precision must be one of"):
        Compute("fp16")
    with pytest.raises(ValueError, match="channels_last must be true or false"):
        Compute(channels_last="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown compute setting\(s\) \['dtype'\]"):
        Compute.from_mapping({"dtype": "bf16"})


def test_the_config_section_defaults_to_the_measured_default_and_names_a_bad_value():
    assert config_from_dict({}).compute_settings == Compute()
    assert config_from_dict({"compute": {"precision": "fp32"}}).compute == {"precision": "fp32", "channels_last": True}
    with pytest.raises(ConfigError, match="compute: precision must be one of"):
        config_from_dict({"compute": {"precision": "half"}})
    with pytest.raises(ConfigError, match="compute must be a mapping"):
        config_from_dict({"compute": "bf16"})


def test_prepare_changes_the_layout_not_the_network():
    torch.manual_seed(0)
    model = SensitivityNetwork(num_cascades=1, features=4).eval()
    prepared = Compute().prepare(copy.deepcopy(model))
    conv = prepared.regularisers[0].head[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert prepared.regularisers[0].memory_format == torch.channels_last
    assert model.regularisers[0].memory_format == torch.contiguous_format
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), prepared.state_dict().values(), strict=True)
    )
    batch = synthetic_batch()
    with torch.inference_mode():  # float32 in either layout: the same network up to rounding
        torch.testing.assert_close(reconstruct(prepared, batch), reconstruct(model, batch), rtol=1e-4, atol=1e-5)


def test_autocast_only_where_it_was_measured():
    with Compute().autocast("cpu"):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    with Compute.fp32().autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
    with Compute().autocast("mps"):  # MPS computes in float32 whatever is asked
        assert not torch.is_autocast_enabled("cpu")


def test_a_bf16_training_step_stays_close_to_fp32_and_keeps_the_layout():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    base = SensitivityNetwork(num_cascades=2, features=8)
    batch = synthetic_batch()
    losses, weights = {}, {}
    for name, compute in (("fp32", Compute.fp32()), ("bf16", Compute())):
        model = compute.prepare(copy.deepcopy(base))
        learner = Learner(model, torch.optim.RMSprop(model.parameters(), lr=1e-4), compute=compute)
        losses[name] = [training_step(learner, batch)["loss"] for _ in range(3)]
        weights[name] = model.regularisers[0].head[0].weight
    assert weights["bf16"].is_contiguous(memory_format=torch.channels_last)  # the optimiser kept the layout
    assert weights["bf16"].dtype == torch.float32  # the stored weights stay float32
    for fp32, bf16 in zip(losses["fp32"], losses["bf16"], strict=True):
        assert bf16 == pytest.approx(fp32, rel=0.01)
    assert losses["bf16"] != losses["fp32"]  # bf16 did run
