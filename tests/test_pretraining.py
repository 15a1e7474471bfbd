"""The pre-training topic's figures from published numbers (scaling_laws, compute_requirements,
data_mixture, pretraining_vs_finetuning, pretraining_pipeline): every claim a caption or
annotation makes, checked on the result behind the figure (nothing is drawn here)."""
from __future__ import annotations

import numpy as np
import pytest

import pretraining
from figkit import latex, registry
from numerics import memory
from numerics.pretraining import compute, scaling
from published import hyperparameters
from published import pretraining as published

PUBLISHED_FIGURES = ("scaling_laws", "compute_requirements", "data_mixture",
                     "pretraining_vs_finetuning", "pretraining_pipeline")


def result(name):
    return pretraining.FIGURES.result(name)


def caption(name):
    return pretraining.FIGURES[name].caption


def test_the_published_figures_have_results_and_numbers_without_drawing(monkeypatch):
    def no_figure(*args, **kwargs):
        raise AssertionError("a Figure was built")

    monkeypatch.setattr(registry, "Figure", no_figure)
    for name in PUBLISHED_FIGURES:
        spec = pretraining.FIGURES[name]
        assert spec.result is not None and spec.result.__name__ == f"{name}_result"
        assert len(pretraining.FIGURES.numbers(name)) > 0


def test_number_keys_carry_this_parts_prefixes():
    prefixes = ("Scaling", "Compute", "Mixture", "Stage", "Pipeline")
    for name in PUBLISHED_FIGURES:
        for key in pretraining.FIGURES.numbers(name).keys():
            assert key.startswith(prefixes), key


# --- scaling_laws --------------------------------------------------------------------------------
def test_scaling_laws_places_gophers_optimum_far_below_280b():
    laws = result("scaling_laws")
    # every Gopher number at one budget: Hoffmann et al.'s Gopher unit (Table 3), not 6ND
    assert laws.gopher_budget == published.CHINCHILLA_GOPHER_BUDGET_FLOPS == 5.76e23
    assert laws.gopher_optimal_params / 1e9 == pytest.approx(32.2, abs=0.1)
    assert laws.numbers["ScalingGopherOptimalB"] == "32"
    # approach 1 (67B there) puts Chinchilla's 70B on its frontier; approach 3 makes it look
    # 2.2 times oversized
    assert laws.numbers["ScalingChinchillaOverApproachOne"] == "1.04"
    chinchilla = next(m for m in laws.models if m.label == "Chinchilla")
    assert chinchilla.size_ratio == pytest.approx(2.15, abs=0.01)
    assert "approach 1: 67B, near Chinchilla" in caption("scaling_laws")
    assert f"has {laws.numbers['ScalingGopherOptimalB']}B parameters, not 280B" in caption(
        "scaling_laws")
    gopher = next(m for m in laws.models if m.label == "Gopher")
    assert gopher.size_ratio > 9
    # the paper's own projections are printed beside ours
    assert laws.numbers["ScalingPaperGopherApproachThreeB"] == "40"
    assert laws.numbers["ScalingPaperGopherApproachOneB"] == "67"


def test_scaling_laws_isoflop_minima_are_the_closed_form_frontier():
    laws = result("scaling_laws")
    fit = scaling.CHINCHILLA
    for curve in laws.curves:
        assert curve.loss.min() >= curve.optimal_loss - 1e-12  # nothing below the minimum
        inside = curve.params[(curve.params > curve.optimal_params / 3)
                              & (curve.params < curve.optimal_params * 3)]
        assert len(inside) > 10  # the minimum lies inside the drawn part of the curve
        assert curve.optimal_params == pytest.approx(float(fit.optimal_params(curve.compute)))
        assert np.all(curve.loss < pretraining.SCALING_LOSS_CEILING)
    # larger budgets: larger optimal models and lower minimal losses
    assert np.all(np.diff([c.optimal_params for c in laws.curves]) > 0)
    assert np.all(np.diff([c.optimal_loss for c in laws.curves]) < 0)
    assert np.allclose(laws.frontier_params, fit.optimal_params(laws.frontier_compute))


def test_scaling_laws_places_the_published_models_at_their_published_sizes():
    laws = result("scaling_laws")
    placed = {m.label: m for m in laws.models}
    assert set(placed) == {"GPT-3", "Gopher", "Chinchilla", "LLaMA 7B", "LLaMA 13B",
                           "LLaMA 33B", "LLaMA 65B", "Llama 2 70B"}
    assert (placed["GPT-3"].params, placed["GPT-3"].tokens) == (175e9, 300e9)
    assert (placed["Chinchilla"].params, placed["Chinchilla"].tokens) == (70e9, 1.4e12)
    assert (placed["Llama 2 70B"].params, placed["Llama 2 70B"].tokens) == (70e9, 2.0e12)
    assert placed["LLaMA 65B"].params == memory.parameter_count(memory.LLAMA_65B)
    for m in laws.models:
        assert m.compute == pytest.approx(6 * m.params * m.tokens)
    # GPT-3 and Gopher are far larger than the fit's optimum for their compute; LLaMA 7B,
    # trained on 1T tokens, is smaller than it
    assert placed["GPT-3"].size_ratio > 5 and placed["Gopher"].size_ratio > 5
    assert placed["LLaMA 7B"].size_ratio < 1


def test_scaling_laws_caption_says_the_losses_are_not_comparable():
    text = caption("scaling_laws")
    assert "different data and tokenizers" in text and "not comparable" in text
    # they are indeed on different data and tokenizers
    assert published.KAPLAN_DATA != published.CHINCHILLA_DATA


def test_scaling_laws_kaplan_panels_draw_the_published_laws():
    laws = result("scaling_laws")
    for panel, law in zip(laws.kaplan, scaling.KAPLAN_LAWS, strict=True):
        assert np.allclose(panel.loss, (law.scale / panel.x) ** law.alpha, rtol=1e-12)
    assert laws.kaplan[0].studied == (768, 1.5e9)
    numbers = laws.numbers
    assert (numbers["ScalingKaplanAlphaN"], numbers["ScalingKaplanAlphaD"],
            numbers["ScalingKaplanAlphaC"]) == ("0.076", "0.095", "0.050")


# --- compute_requirements ------------------------------------------------------------------------
def test_compute_requirements_reproduces_gpt3s_compute():
    rows = {r.label: r for r in result("compute_requirements").rows}
    gpt3 = rows["GPT-3"]
    assert gpt3.flops == pytest.approx(3.15e23)
    assert gpt3.published_flops == 3.14e23
    assert abs(gpt3.flops / gpt3.published_flops - 1) < 0.005


def test_compute_requirements_names_whose_utilisation_it_states():
    # the 30.2 % is Megatron-Turing NLG's MFU as PaLM's Table 3 reports it
    assert published.STATED_MFU_SOURCE.startswith("Megatron-Turing NLG")
    assert published.PALM_MFU[published.STATED_MFU_SOURCE] == 30.2
    text = caption("compute_requirements")
    assert "30.2\\,\\% model FLOPs utilisation of Megatron-Turing NLG" in text
    assert "PaLM's Table 3" in text


def test_compute_requirements_hours_at_the_stated_utilisation():
    res = result("compute_requirements")
    assert res.peak_tflops == 312 and res.mfu == pytest.approx(0.302)
    assert "30.2\\,\\% model FLOPs utilisation" in caption("compute_requirements")
    assert "312 TFLOPS" in caption("compute_requirements")
    for row in res.rows:
        assert row.hours == pytest.approx(row.flops / (312e12 * 0.302) / 3600)
    rows = {r.label: r for r in res.rows}
    # LLaMA 65B: 5.48e23 FLOPs would take 1.62M A100 hours at 30.2 %; it took 1.02M
    assert rows["LLaMA 65B"].hours == pytest.approx(1.62e6, rel=0.01)
    assert rows["LLaMA 65B"].published_hours == 1_022_362


def test_compute_requirements_published_hours_imply_a_higher_utilisation():
    res = result("compute_requirements")
    implied = {r.label: r.implied_mfu for r in res.rows if r.published_hours}
    assert set(implied) == {"LLaMA 7B", "LLaMA 13B", "LLaMA 33B", "LLaMA 65B", "Llama 2 70B"}
    assert all(mfu > res.mfu for mfu in implied.values())  # "a higher utilisation"
    assert 0.43 < min(implied.values()) and max(implied.values()) < 0.52
    # LLaMA 65B's published hours and its stated 380 tokens/s/GPU agree: both about 48 %
    assert implied["LLaMA 65B"] == pytest.approx(res.throughput_mfu, abs=0.002)
    assert res.numbers["ComputeLlamaSixFiveBImpliedMfuPct"] == "48"


# --- data_mixture --------------------------------------------------------------------------------
def test_data_mixture_sorts_the_papers_tables_by_share():
    mixtures = result("data_mixture").mixtures
    for mixture in mixtures:
        shares = [s.share_pct for s in mixture.sources]
        assert shares == sorted(shares, reverse=True)
    assert {s.name for s in mixtures[0].sources} == {s.name for s in published.LLAMA_MIXTURE}
    assert {s.name for s in mixtures[1].sources} == {s.name for s in published.GPT3_MIXTURE}


def test_data_mixture_caption_claims():
    mixtures = {m.key: m for m in result("data_mixture").mixtures}
    llama, gpt3 = mixtures["Llama"], mixtures["GptThree"]
    # "web crawls make up most of the samples and are seen about once or less"
    crawls = [llama.sources[0], llama.sources[1], gpt3.sources[0]]   # CommonCrawl, C4, CC
    assert [s.name for s in crawls] == ["CommonCrawl", "C4", "Common Crawl (filtered)"]
    assert crawls[0].share_pct + crawls[1].share_pct > 50 and crawls[2].share_pct > 50
    assert all(s.epochs <= 1.1 for s in crawls)
    # "small curated sources are repeated up to 3.4 times"
    curated = [s for m in (llama, gpt3) for s in m.sources
               if s.name in ("Wikipedia", "Books", "WebText2")]
    assert all(s.epochs > 2 for s in curated)
    assert max(s.epochs for s in curated) == 3.4
    assert "up to 3.4 times" in caption("data_mixture")
    # the caption names the tables by their labels in tables.tex
    tex = pretraining.FIGURES.extra_files()["tables.tex"]
    for name in ("data_mixture_llama", "data_mixture_gptthree"):
        assert f"tab:pretraining:{name.replace('_', chr(92) + '_')}" in caption("data_mixture")
        assert f"\\label{{tab:pretraining:{name}}}" in tex
    # sources spelled as the pipeline figure spells them
    names = [pretraining.mixture_name(s) for s in published.LLAMA_MIXTURE]
    assert {"GitHub", "arXiv", "Stack Exchange"} <= set(names)
    assert all(n in "".join(s.detail for s in result("pretraining_pipeline").stages)
               for n in ("GitHub", "arXiv", "Stack Exchange"))
    # the share axis ends just past the largest share
    assert max(s.share_pct for s in published.LLAMA_MIXTURE) == 67.0 < 80


def test_data_mixture_tables_are_written_from_the_same_result():
    tex = latex.tables_tex("pretraining", pretraining.pretraining_tables())
    assert "\\label{tab:pretraining:data_mixture_llama}" in tex
    assert "\\label{tab:pretraining:data_mixture_gptthree}" in tex
    assert "\\label{tab:pretraining:pretraining_vs_finetuning}" in tex
    assert "CommonCrawl & 67.0\\,\\% & 1.10 & 3.3 TB" in tex
    assert "WebText2 & 22\\,\\% & 2.9 & 19B tokens" in tex
    assert pretraining.FIGURES.extra_files()["tables.tex"] == tex


# --- pretraining_vs_finetuning -------------------------------------------------------------------
def test_two_stages_quantities():
    stages = result("pretraining_vs_finetuning")
    q = {s.key: s for s in stages.quantities}
    assert q["Tokens"].pretraining == 1.0e12                  # LLaMA Table 2
    assert q["BatchTokens"].pretraining == 4e6                # LLaMA Table 2
    assert q["Steps"].pretraining == 250_000                  # 1.0T / 4M
    assert q["Steps"].finetuning == hyperparameters.QLORA_STEPS == 1875
    assert q["BatchTokens"].finetuning == 16 * (16 + 512)     # Guanaco scripts
    assert q["Tokens"].finetuning == 1875 * 16 * 528
    assert q["TrainedParams"].finetuning == memory.lora_parameters(memory.LLAMA_7B, 64,
                                                                   memory.ALL_LINEAR)
    n = memory.parameter_count(memory.LLAMA_7B)
    assert q["Flops"].pretraining == pytest.approx(6 * n * 1e12)
    assert q["Flops"].finetuning == pytest.approx(
        4 * n * q["Tokens"].finetuning + 6 * q["TrainedParams"].finetuning
        * q["Tokens"].finetuning)
    assert q["Flops"].finetuning == compute.adapter_training_flops(
        n, q["TrainedParams"].finetuning, q["Tokens"].finetuning)


def test_two_stages_caption_claims():
    stages = result("pretraining_vs_finetuning")
    q = {s.key: s for s in stages.quantities}
    # "fine-tuning's data and compute are four to five orders of magnitude smaller"
    for key in ("Tokens", "Flops"):
        assert 4 <= np.log10(q[key].pretraining / q[key].finetuning) < 5
        assert q[key].at_most  # upper bounds, from the longest sequences
    # "the learning rates are alike, the schedules are not"
    assert stages.pretraining_lr / stages.finetuning_lr == pytest.approx(1.5)
    assert np.all(stages.finetuning_schedule == hyperparameters.QLORA_LEARNING_RATE)
    assert stages.pretraining_schedule.max() == pytest.approx(3e-4)
    assert stages.pretraining_schedule[-1] == pytest.approx(3e-5)  # cosine to 10 %
    assert stages.pretraining_schedule[0] == pytest.approx(3e-4 / 2000)  # warm-up from zero
    text = caption("pretraining_vs_finetuning")
    assert "1,875 steps of 16 sequences of at most 528 tokens" in text
    assert len(text) <= 400
    assert "model FLOPs" in text and "training FLOPs" not in text
    assert "LLaMA-7B" in text and "LLaMA 7B" not in text


def test_two_stages_fine_tuning_is_shorter_than_warm_up():
    stages = result("pretraining_vs_finetuning")
    # "the whole fine-tuning run is shorter than pre-training's warm-up": on one step axis
    assert stages.finetuning_steps[-1] == 1875 < 2000
    assert stages.numbers["StagePreWarmupSteps"] == "2,000"
    assert stages.numbers["StageFineSteps"] == "1,875"
    assert stages.pretraining_steps[-1] == pytest.approx(250_000)
    assert stages.numbers["StagePreSteps"] == "250,000"
    # the schedule peaks at the end of warm-up, then decays
    peak = stages.pretraining_steps[np.argmax(stages.pretraining_schedule)]
    assert 2000 <= peak < 2100
    # every ratio labelled in (a)
    q = {s.key: s for s in stages.quantities}
    assert [stages.numbers["StageRatio" + k] for k in q] == ["63,000", "470", "130", "42",
                                                             "91,000"]
    assert stages.numbers["StageRatioLr"] == "1.5"
    for s in stages.quantities:
        assert s.pretraining > s.finetuning


def test_llama_schedule_warms_up_over_2000_steps_then_decays():
    steps = 250_000
    share = np.array([0, 0.4, 0.8, 50, 100])
    lr = pretraining.llama_schedule(share, steps, 3e-4)
    assert lr[1] == pytest.approx(3e-4 * 1000 / 2000)
    assert lr[2] == pytest.approx(3e-4)
    assert lr[3] == pytest.approx(3e-4 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * (
        125_000 - 2000) / (steps - 2000)))))


# --- pretraining_pipeline ------------------------------------------------------------------------
def test_pipeline_stages_and_llamas_numbers():
    pipeline = result("pretraining_pipeline")
    assert [s.key for s in pipeline.stages] == ["collect", "filter", "tokenize", "pack",
                                                 "train", "model"]
    n = pipeline.numbers
    assert n["PipelineVocabulary"] == "32,000"
    assert n["PipelineContext"] == "2,048"
    assert n["PipelineDatasetTokensT"] == "1.4"
    # LLaMA Table 1's disk sizes: 3.3 TB + (783 + 328 + 83 + 85 + 92 + 78) GB = 4.749 TB
    assert n.value("PipelineDiskTB") == pytest.approx(4.749)
    text = "".join(s.detail for s in pipeline.stages)
    for key in ("PipelineVocabulary", "PipelineContext", "PipelineDatasetTokensT",
                "PipelineDiskTB", "PipelineBatchTokensM"):
        assert n[key] in text


def test_figures_write_llama_with_a_hyphen_as_the_book_does():
    assert pretraining.book_name("LLaMA 65B") == "LLaMA-65B"
    assert pretraining.book_name("Llama 2 70B") == "Llama 2 70B"
    for name in PUBLISHED_FIGURES:
        assert not any(f"LLaMA {n}B" in caption(name) for n in (7, 13, 33, 65))
