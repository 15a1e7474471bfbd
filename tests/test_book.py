"""The book as one book: rules that span figures and chapters (GUIDE.md, "The book")."""
from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict

import pytest
from matplotlib.colors import to_rgb

from conftest import found_in, topic_modules
from figkit import checks, meanings
from numerics import memory


def book_breakdowns() -> list[tuple[str, memory.MemoryBreakdown]]:
    found = []
    for module in topic_modules():
        registry = module.FIGURES
        if registry.topic == "experiments":
            continue  # dashboards of training runs hold no memory accounting
        for name in registry.names:
            found += [(f"{registry.topic}/{name}", b)
                      for b in found_in(registry.result(name), memory.MemoryBreakdown)]
    return found


def disagreements(found) -> list[str]:
    """(where, breakdown) pairs that give one model and method under one accounting two totals."""
    totals = defaultdict(dict)
    for where, b in found:
        totals[(b.model, b.method, b.accounting)][where] = b.total
    return [f"{key}: {by_figure}" for key, by_figure in totals.items()
            if max(by_figure.values()) - min(by_figure.values()) > 1e-6 * max(by_figure.values())]


def test_one_model_and_method_under_one_accounting_has_one_total_in_every_chapter():
    """Memory is counted the same way everywhere: two figures that show the same model and method
    under the same accounting show the same total (the QLoRA chapter once counted full
    fine-tuning at 12 bytes per parameter where the others counted 16, unlabelled)."""
    found = book_breakdowns()
    for where, b in found:
        assert b.model and b.accounting, f"{where}: a breakdown without its model or accounting"
    chapters = {where.split("/")[0] for where, _ in found}
    assert {"fine_tuning", "lora", "qlora"} <= chapters, (
        "every memory figure holds its breakdowns (numerics.memory.MemoryBreakdown) in its result")
    problems = disagreements(found)
    assert problems == [], "\n".join(problems)


def test_two_totals_for_one_model_method_and_accounting_are_found():
    """The check above can fail: a second 65B full fine-tuning total under ZeRO's accounting."""
    right = memory.full_finetune_memory(memory.LLAMA_65B)
    wrong = dataclasses.replace(right, optimizer_states=right.optimizer_states * 0.75)
    assert disagreements([("a", right), ("b", right)]) == []
    assert len(disagreements([("a", right), ("b", wrong)])) == 1


def test_method_and_component_colours_are_disjoint_and_told_apart():
    table = meanings.TABLE.values()
    hue = {m.key: m.color.upper() for m in table if m.color.upper() != "#FFFFFF"}
    methods = {m.key for m in table if m.group == "method"}
    components = {m.key for m in table if m.group == "component" and m.key in hue}
    assert not {hue[k] for k in methods} & {hue[k] for k in components}
    assert len({hue[k] for k in methods}) == len(methods)
    assert len({hue[k] for k in components}) == len(components)
    for group in (methods, components):
        for a, b in itertools.combinations(sorted(group), 2):
            for cvd in (None, "deuteranomaly", "protanomaly"):
                d = checks.cvd_distance(to_rgb(hue[a]), to_rgb(hue[b]), cvd)
                assert d >= 15, f"{a} and {b} differ by only {d:.1f} under {cvd}"


@pytest.mark.parametrize("text, key", [("LoRA", "lora"), ("LoRA r = 8", "lora"),
                                       ("QLoRA (NF4)", "qlora"), ("full fine-tuning", "full"),
                                       ("gradients", "gradients"), ("Loss", None),
                                       ("LoRA-FA", None), ("optimizer states", "optimizer_states")])
def test_a_legend_entry_is_matched_to_the_meaning_it_names(text, key):
    found = meanings.named_in(text)
    assert (found.key if found else None) == key


def test_a_legend_in_the_wrong_colour_and_a_colour_without_meaning_are_found():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    with meanings.tracking() as used:
        ax.plot([0, 1], [0, 1], label="LoRA", **meanings.method("qlora").line)
        ax.plot([0, 1], [1, 0], label="loss", color="#EE6677")
        ax.bar([2], [1], label="weights", **meanings.component("weights").fill)
    ax.legend()
    problems = checks.meaning_problems(fig, used)
    assert any("names 'lora'" in p for p in problems), problems
    assert any("#EE6677" in p for p in problems), problems
    assert not any("weights" in p for p in problems), problems


def test_hatching_means_the_adapters_share_and_nothing_else():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    with meanings.tracking() as used:
        ax.bar([0], [1], hatch="//", label="FP4", color=meanings.unnamed(1)[0]["color"])
    assert any("hatched" in p for p in checks.meaning_problems(fig, used))
    fig = Figure()
    ax = fig.subplots()
    with meanings.tracking() as used:
        ax.bar([0], [1], label="adapter gradients", **meanings.adapter_share("gradients"))
    assert checks.meaning_problems(fig, used) == []


def test_a_published_value_is_an_open_marker_in_the_colour_it_is_given():
    style = meanings.role("published").on(meanings.method("qlora").color)
    assert style["markerfacecolor"] == "white" and style["color"] == meanings.TABLE["qlora"].color
