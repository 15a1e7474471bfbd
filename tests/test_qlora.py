"""The QLoRA topic: every claim a caption or annotation makes, checked against the result behind
the figure (nothing is drawn here)."""
from __future__ import annotations

import numpy as np
import pytest

import qlora
from figkit import registry
from numerics import memory
from numerics.qlora import quantization as quant
from published import qlora as published


def numbers(name):
    return qlora.FIGURES.numbers(name)


def caption(name):
    return qlora.FIGURES[name].caption


def test_every_figure_has_a_result_and_its_numbers_need_no_drawing(monkeypatch):
    def no_figure(*args, **kwargs):
        raise AssertionError("a Figure was built")

    monkeypatch.setattr(registry, "Figure", no_figure)
    assert len(qlora.FIGURES.names) == 8
    for spec in qlora.FIGURES.specs:
        assert spec.result is not None and spec.result.__name__ == f"{spec.name}_result"
        assert len(qlora.FIGURES.numbers(spec.name)) > 0


def test_architecture_labels_the_storage_of_nf4():
    storage = qlora.FIGURES.result("qlora_architecture")
    # QLoRA Sec. 3: 4-bit NF4, 8-bit constants per 64 weights, fp32 per 256 constants.
    assert storage.numbers.value("BitsPerWeight") == 4 + 8 / 64 + 32 / (64 * 256)
    assert (storage.block_size, storage.constant_bits, storage.second_block_size) == (64, 8, 256)


def test_memory_figure_reproduces_the_papers_headline():
    found = numbers("memory_comparison")
    # QLoRA abstract / sec. 1: 65B needs >780 GB in 16-bit and fits one 48 GB GPU with QLoRA.
    assert found.value("FullSixtyFiveGB") > memory.QLORA_16BIT_FULL_FINETUNE_GB == 780
    assert found.value("QloraSixtyFiveGB") < published.QLORA_65B_GPU_GB
    text = caption("memory_comparison")
    assert f"{found.value('FullBytesPerParam'):g} bytes per parameter" in text
    assert "over 780 GB for 65B" in text


def test_memory_figure_orders_the_methods_for_every_model():
    methods = qlora.FIGURES.result("memory_comparison")
    assert methods.models == ("7B", "13B", "33B", "65B")
    full_gb, lora_gb, qlora_gb = (methods.totals_gb[name] for name in memory.METHODS)
    for size in range(len(methods.models)):
        assert full_gb[size] > lora_gb[size] > qlora_gb[size]


def test_gpu_lines_are_the_shared_gpu_capacities():
    assert qlora.GPUS == ((24, "24 GB"), (48, "48 GB"), (80, "80 GB"))
    for gpu, (capacity, label) in zip(qlora.REFERENCE_GPUS, qlora.GPUS, strict=True):
        assert capacity == memory.GPU_MEMORY_GB[gpu] and label == f"{capacity} GB"


def test_double_quantization_figure_shows_the_papers_bits():
    found = numbers("double_quantization")
    assert found.value("ConstBitsSingle") == published.CONSTANT_BITS_SINGLE == 0.5
    assert round(found.value("ConstBitsDouble"), 3) == published.CONSTANT_BITS_DOUBLE  # sec. 3
    assert round(found.value("ConstBitsSaved"), 3) == published.CONSTANT_BITS_SAVED
    assert found.value("SavedSixtyFiveGB") == pytest.approx(
        published.DOUBLE_QUANT_SAVING_65B_GB, abs=0.1)  # "about 3 GB"
    text = caption("double_quantization")
    assert "0.5 to 0.127 bits" in text and "about 3 GB" in text
    assert "8 bits in blocks of 256" in text


def test_double_quantization_saving_grows_with_the_model():
    cost = qlora.FIGURES.result("double_quantization")
    assert cost.first_level_bits + cost.second_level_bits == pytest.approx(
        memory.double_quantized_constant_bits_per_param())
    assert list(cost.saved_gb) == sorted(cost.saved_gb)


def test_paging_caption_states_the_simulations_assumptions():
    run = qlora.FIGURES.result("paged_optimizers")
    sim = run.simulation
    text = caption("paged_optimizers")
    assert sim.assumptions["model"] == "LLaMA-33B" and "LLaMA-33B" in text
    assert sim.assumptions["gpu"] == "RTX 3090" and "24 GB RTX 3090" in text
    assert f"micro-batch {sim.batch}" in text
    assert f"over {len(sim.steps)} steps" in text
    assert sim.assumptions["median_seq_len"] == 400 and "median 400" in text
    assert "median 400" in sim.assumptions["seq_len_distribution"]
    assert f"at most {memory.LLAMA_33B.context_length} tokens" in text
    # "a long sequence exceeds the card, which ends the run without paging ... paging instead"
    assert sim.oom_step is not None and sim.paging_oom_step is None
    assert (sim.resident_bytes <= sim.capacity_bytes).all()
    assert run.oom_step == sim.oom_step and run.demand_gb[run.oom_step] > run.capacity_gb


def test_paging_numbers_are_the_simulations():
    run = qlora.FIGURES.result("paged_optimizers")
    found = run.numbers
    assert found.value("PagedSteps") == run.simulation.n_oom_steps == run.pages_out.sum()
    assert found.value("MaxPagedGB") <= found.value("PageableGB")
    assert found.value("StaticGB") < found.value("CapacityGB")
    assert np.all(run.resident_gb <= run.capacity_gb)
    assert run.rank == published.GUANACO_RANK


def test_guanaco_panel_shows_the_published_table():
    found = numbers("training_efficiency")
    assert found.value("VicunaSixtyFive") == 99.3      # QLoRA Table 6, Guanaco 65B
    assert found.value("PublishedSixtyFiveGB") == 41
    guanaco = qlora.FIGURES.result("training_efficiency")
    assert guanaco.published_gb == tuple(r.memory_gb for r in published.GUANACO_RESULTS)
    # the published column lies between our two readings (see guanaco_memory)
    for deployed, reported, training in zip(guanaco.deployed_gb, guanaco.published_gb,
                                            guanaco.training_gb, strict=True):
        assert deployed < reported < training


def test_nf4_has_the_lowest_measured_error():
    found = numbers("quantization_comparison")
    for kind in ("Normal", "Heavy"):
        nf4 = found.value(f"RmseNfFour{kind}")
        assert nf4 < found.value(f"RmseIntFour{kind}")
        assert nf4 < found.value(f"RmseFpFour{kind}")
    assert f"blocks of {memory.QLORA_BLOCK_SIZE}" in caption("quantization_comparison")


def test_histogram_is_a_density_of_absmax_normalised_weights():
    errors = qlora.FIGURES.result("quantization_comparison")
    widths = np.diff(errors.histogram_edges)
    assert np.sum(errors.histogram_density * widths) == pytest.approx(1.0)
    assert errors.histogram_edges[0] == -1 and errors.histogram_edges[-1] == 1


def test_nf4_levels_are_dense_where_the_weights_are():
    nf4 = qlora.FIGURES.result("nf4_levels")
    assert nf4.numbers.value("NfOffset") == quant.NF4_OFFSET
    assert nf4.numbers.value("NfScale") == pytest.approx(1.848, abs=1e-3)
    # "NF4's 16 values ... INT4's 16 values are evenly spaced"
    assert len(nf4.levels["NF4"]) == len(nf4.levels["INT4"]) == 16
    text = caption("nf4_levels")
    assert "NF4's 16 values" in text and "INT4's 16 values" in text
    gaps = np.diff(nf4.levels["NF4"])
    assert gaps[len(gaps) // 2] < gaps[0] and gaps[len(gaps) // 2] < gaps[-1]
    np.testing.assert_allclose(np.diff(nf4.levels["INT4"]), 2 / 15)


def test_blockwise_caption_most_weights_round_to_zero():
    found = numbers("blockwise_quantization")
    assert found.value("ZeroedShare") > 50
    assert found.value("RmseBlockwise") < found.value("RmseGlobal") / 3
    vector = qlora.FIGURES.result("blockwise_quantization")
    assert vector.weights[vector.outlier] == found.value("OutlierValue")
    assert vector.largest_ordinary_weight < vector.weights[vector.outlier]
    assert f"per block of {memory.QLORA_BLOCK_SIZE}" in caption("blockwise_quantization")
