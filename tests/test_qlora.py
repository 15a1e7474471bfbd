"""The QLoRA topic: every claim a caption or annotation makes, checked against the computation."""
from __future__ import annotations

import pytest

import qlora
from figkit import style
from numerics import memory, qlora_runs


def numbers_of(name):
    with style.applied():
        _, numbers = qlora.FIGURES.build(name, 6.0)
    return numbers


def test_memory_figure_reproduces_the_papers_headline():
    numbers = numbers_of("memory_comparison")
    # QLoRA abstract / sec. 1: 65B needs >780 GB in 16-bit and fits one 48 GB GPU with QLoRA.
    assert numbers.value("FullSixtyFiveGB") > 780
    assert numbers.value("QloraSixtyFiveGB") < 48
    caption = qlora.FIGURES["memory_comparison"].caption
    assert f"{numbers.value('FullBytesPerParam'):g} bytes per parameter" in caption


def test_double_quantization_figure_shows_the_papers_bits():
    numbers = numbers_of("double_quantization")
    assert numbers.value("ConstBitsSingle") == 0.5
    assert round(numbers.value("ConstBitsDouble"), 3) == 0.127   # QLoRA sec. 3
    assert round(numbers.value("ConstBitsSaved"), 3) == 0.373
    assert numbers.value("SavedSixtyFiveGB") == pytest.approx(3, abs=0.1)  # "about 3 GB"
    caption = qlora.FIGURES["double_quantization"].caption
    assert "0.5 to 0.127 bits" in caption and "about 3 GB" in caption


def test_paging_caption_states_the_simulations_assumptions():
    sim = qlora_runs.simulate_paging()
    caption = qlora.FIGURES["paged_optimizers"].caption
    assert sim.assumptions["model"] == "LLaMA-33B" and "LLaMA-33B" in caption
    assert sim.assumptions["gpu"] == "RTX 3090" and "RTX 3090" in caption
    assert f"micro-batch {sim.batch}" in caption
    assert f"over {len(sim.steps)} steps" in caption
    assert "median 400" in sim.assumptions["seq_len_distribution"] and "median 400" in caption
    assert f"at most {memory.LLAMA_33B.context_length} tokens" in caption
    # "a long sequence exceeds the card, which ends the run without paging ... paging instead"
    assert sim.oom_step is not None and sim.paging_oom_step is None
    assert (sim.resident_bytes <= sim.capacity_bytes).all()


def test_blockwise_caption_most_weights_round_to_zero():
    numbers = numbers_of("blockwise_quantization")
    assert numbers.value("ZeroedShare") > 50
    assert numbers.value("RmseBlockwise") < numbers.value("RmseGlobal") / 3


def test_nf4_has_the_lowest_measured_error():
    numbers = numbers_of("quantization_comparison")
    for kind in ("Normal", "Heavy"):
        nf4 = numbers.value(f"RmseNfFour{kind}")
        assert nf4 < numbers.value(f"RmseIntFour{kind}")
        assert nf4 < numbers.value(f"RmseFpFour{kind}")


def test_guanaco_panel_shows_the_published_table():
    numbers = numbers_of("training_efficiency")
    assert numbers.value("VicunaSixtyFive") == 99.3      # QLoRA Table 6, Guanaco 65B
    assert numbers.value("PublishedSixtyFiveGB") == 41
