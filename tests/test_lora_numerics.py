"""Tests for models.lora_mlp and numerics.lora: LoRA adapters on the toy MLP (Hu et al. 2021,
arXiv 2106.09685).

Gradients are checked against central finite differences; merging and unmerging against
float64 rounding; the data set and its lexicon feature rule against values worked out by hand;
the fine-tuning outcome (the base fails on negated sentences, LoRA and full fine-tuning do not)
against the recorded run.
"""

from __future__ import annotations

import numpy as np
import pytest

from models import lora_mlp, mlp
from numerics.lora import data, experiments, training


@pytest.fixture(scope="module")
def pre() -> training.Pretrained:
    return training.pretrain()


@pytest.fixture(scope="module")
def sentiment() -> data.SentimentData:
    return data.load_sentiment()


def random_model(seed: int, config: lora_mlp.LoRAConfig) -> tuple[mlp.Params, lora_mlp.Adapters]:
    """A random base with random biases and adapters with a non-zero ``B`` (so ``dL/dA != 0``)."""
    rng = np.random.default_rng(seed)
    base = mlp.init_params(list(lora_mlp.SIZES), rng)
    for layer in base:
        layer["b"] = rng.normal(0.0, 0.3, size=layer["b"].shape)
    adapters = lora_mlp.init_adapters(base, config, rng)
    for adapter in adapters:
        adapter["B"] = rng.normal(0.0, 0.5, size=adapter["B"].shape)
    return base, adapters


# --------------------------------------------------------------------------- data


def test_feature_rule_on_a_known_sentence():
    # "The film was not good." -> tokens film, not, good ("the", "was" are stop words).
    assert data.tokens("The film was not good.") == ["film", "not", "good"]
    # Groups (feature order): positive, negative, negation, intensifier, food, film, contrast,
    # hedge.
    # good -> positive (0), not -> negation (2), film -> film (5); counts, no normalisation.
    np.testing.assert_array_equal(
        data.sentence_features("The film was not good."), [1, 0, 1, 0, 0, 1, 0, 0]
    )
    # bread, coffee -> food 2; never -> negation; stale -> negative; "and", "were" are stop words.
    np.testing.assert_array_equal(
        data.sentence_features("The bread and the coffee were never stale."),
        [0, 1, 1, 0, 2, 0, 0, 0],
    )
    # "but" is a token (contrast); "a", "bit" -> stop word, hedge; "long" is not in the lexicon.
    assert data.tokens("Long, but a bit dull") == ["long", "but", "bit", "dull"]
    np.testing.assert_array_equal(
        data.sentence_features("Long, but a bit dull"), [0, 1, 0, 0, 0, 0, 1, 1]
    )
    np.testing.assert_array_equal(
        data.sentence_features("Really, REALLY good!"), [1, 0, 0, 2, 0, 0, 0, 0]
    )
    np.testing.assert_array_equal(data.sentence_features("the was of long"), np.zeros(8))
    with pytest.raises(ValueError):
        data.sentence_features("good", n=16)


def test_lexicon_file():
    lex = data.lexicon()
    assert len(lex) == 89 and data.N_FEATURES == len(data.GROUPS) == 8
    assert np.bincount(list(lex.values()), minlength=8).tolist() == [20, 16, 5, 4, 18, 17, 4, 5]
    assert {lex[w] for w in ("not", "never", "no", "nothing", "hardly")} == {data.NEGATION}
    assert (
        lex["but"] == data.CONTRAST and lex["good"] == data.POSITIVE and lex["bad"] == data.NEGATIVE
    )
    assert not set(lex) & data.STOPWORDS
    texts = [r.split("\t")[2] for r in data.DATA_PATH.read_text(encoding="utf-8").splitlines()[1:]]
    used = {w for t in texts for w in data.tokens(t)}
    assert set(lex) <= used  # every lexicon word occurs in the sentences


def test_lexicon_rejects_bad_rows(tmp_path):
    for body in (
        "word\tgroup\ngood\tpositive\ngood\tnegative\n",  # repeated word
        "word\tgroup\ngood\tneutral\n",  # unknown group
        "word\tgroup\nthe\tfood\n",  # stop word: could never count
        "word\tgroup\nGood\tpositive\n",  # tokens() lower-cases
        "term\tgroup\ngood\tpositive\n",
    ):  # header
        path = tmp_path / "lex.tsv"
        path.write_text(body, encoding="utf-8")
        with pytest.raises(ValueError):
            data.lexicon(path)


def test_dataset_loads_balanced(sentiment):
    train, test = sentiment.train, sentiment.test
    assert len(train.texts) == 96 and len(test.texts) == 32
    assert len(set(train.texts + test.texts)) == 128
    for split, n in ((train, 24), (test, 8)):
        for lab in (0, 1):
            for top in (0, 1):
                cell = (split.y == lab) & (split.topic == top)
                assert np.sum(cell) == n
                assert np.sum(cell & split.negated) == 3 * n // 8  # 12 of 32 pairs are negated
        assert split.x.shape == (len(split.texts), 8)
        assert np.all(split.x >= 0) and np.array_equal(split.x, np.round(split.x))
        # Topic words match the topic label: food sentences have food words and no film words.
        food, film = split.x[:, data.FOOD], split.x[:, data.FILM]
        np.testing.assert_array_equal(split.topic, (film > 0).astype(int))
        assert np.all((food > 0) != (film > 0))
    # No test feature vector occurs in the training split, but every lexicon word of a test
    # sentence does.
    assert not {tuple(v) for v in test.x} & {tuple(v) for v in train.x}
    lex = data.lexicon()
    train_words = {w for t in train.texts for w in data.tokens(t) if w in lex}
    assert {w for t in test.texts for w in data.tokens(t) if w in lex} <= train_words
    assert (
        test.texts[0] == "The bread and the coffee were never stale."
    )  # positive food, j = 1: (1 + 2) % 4 == 3


def test_labels_are_polarity_xor_negation(sentiment):
    # The rule the data were written to: positive iff (more positive than negative words) XOR
    # (a negation).
    for split in (sentiment.train, sentiment.test):
        np.testing.assert_array_equal(split.y, split.lexical_polarity ^ split.negated.astype(int))
    # ... and no linear rule on the counts can do this: good / bad / not good / not bad is an XOR.
    xor = np.array(
        [
            data.sentence_features(t)
            for t in ("good film", "bad film", "not good film", "not bad film")
        ]
    )
    np.testing.assert_array_equal(
        xor[:, [data.POSITIVE, data.NEGATIVE, data.NEGATION]],
        [[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1]],
    )


def test_split_keeps_mirrored_pairs_apart():
    rows = [r.split("\t") for r in data.DATA_PATH.read_text(encoding="utf-8").splitlines()[1:]]
    test_texts = set(data.load_sentiment().test.texts)
    cells: dict[tuple[str, str], list[str]] = {}
    for label, topic, text in rows:
        cells.setdefault((label, topic), []).append(text)
    for topic in data.TOPICS:
        assert len(cells[("positive", topic)]) == len(cells[("negative", topic)]) == 32
        for pos_text, neg_text in zip(
            cells[("positive", topic)], cells[("negative", topic)], strict=True
        ):
            assert not (pos_text in test_texts and neg_text in test_texts)
            # Mirrored: same construction, so the same counts outside the two polarity groups.
            p, n = data.sentence_features(pos_text), data.sentence_features(neg_text)
            np.testing.assert_array_equal(p[2:], n[2:])
            np.testing.assert_array_equal(p[:2], n[1::-1])


def test_pretraining_task_is_balanced_and_on_the_count_lattice():
    task = data.pretraining_task(0)
    assert task.y_train.mean() == 0.5
    x = np.vstack([task.x_train, task.x_val, task.x_test])
    y = np.concatenate([task.y_train, task.y_val, task.y_test])
    assert x.shape == (2000, 8) and np.array_equal(x, np.round(x)) and np.all(x >= 0)
    assert set(np.unique(x[:, data.POSITIVE] + x[:, data.NEGATIVE])) == {1, 2, 3}
    for g in (data.NEGATION, data.INTENSIFIER, data.CONTRAST, data.HEDGE):
        assert set(np.unique(x[:, g])) == {0, 1} and 0.25 < x[:, g].mean() < 0.35
    assert (
        not np.any((x[:, data.FOOD] > 0) & (x[:, data.FILM] > 0))
        and x[:, [data.FOOD, data.FILM]].max() == 2
    )
    # With seed 0 the noise 0.5 N(0, 1) flips no label with a margin of 2+ words; negation plays
    # no part.
    d = x[:, data.POSITIVE] - x[:, data.NEGATIVE]
    np.testing.assert_array_equal(y[np.abs(d) >= 2], (d[np.abs(d) >= 2] > 0).astype(int))
    neg = x[:, data.NEGATION] > 0
    assert abs(y[neg].mean() - y[~neg].mean()) < 0.05


# ----------------------------------------------------------------------- the model


def test_config_validation():
    with pytest.raises(ValueError):
        lora_mlp.LoRAConfig(rank=0)
    with pytest.raises(ValueError):
        lora_mlp.LoRAConfig(layers=(1, 0))
    base = mlp.init_params(list(lora_mlp.SIZES), 0)
    with pytest.raises(ValueError):
        lora_mlp.forward(base, [], lora_mlp.LoRAConfig(layers=(3,)), np.zeros((1, 8)))
    assert lora_mlp.LoRAConfig(rank=4, alpha=8.0).scale == 2.0


def test_init_shapes_and_statistics():
    base = mlp.init_params(list(lora_mlp.SIZES), 0)
    adapters = lora_mlp.init_adapters(base, lora_mlp.LoRAConfig(rank=2000, alpha=1.0), seed=0)
    for (d, k), adapter in zip(((16, 8), (16, 16), (2, 16)), adapters, strict=True):
        assert adapter["A"].shape == (2000, k) and adapter["B"].shape == (d, 2000)
        assert not adapter["B"].any()
        assert abs(adapter["A"].std() - 1.0 / np.sqrt(3.0 * k)) < 0.02 / np.sqrt(3.0 * k)


def test_zero_B_gives_the_base_output_bit_for_bit(pre, sentiment):
    config = lora_mlp.LoRAConfig(rank=4, alpha=8.0)
    adapters = lora_mlp.init_adapters(pre.params, config, seed=3)
    lora_logits, cache = lora_mlp.forward(pre.params, adapters, config, sentiment.test.x)
    base_logits, _ = mlp.forward(pre.params, sentiment.test.x, "relu")
    np.testing.assert_array_equal(lora_logits, base_logits)
    assert all(not t.lora_path.any() for t in cache.layers)


@pytest.mark.parametrize("layers", [(0, 1, 2), (0, 2), (1,)])
def test_gradients_match_finite_differences(layers):
    config = lora_mlp.LoRAConfig(rank=3, alpha=5.0, layers=layers)
    base, adapters = random_model(11, config)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(7, 8))
    y = rng.integers(0, 2, size=7)
    _, grads = lora_mlp.loss_and_grads(base, adapters, config, x, y)

    def loss() -> float:
        return lora_mlp.loss_and_grads(base, adapters, config, x, y)[0]

    groups = [(base[i], k, grads.base[i][k]) for i in range(3) for k in ("W", "b")]
    groups += [
        (adapters[j], k, grads.adapters[j][k]) for j in range(len(layers)) for k in ("A", "B")
    ]
    eps = 1e-6
    for holder, key, analytic in groups:
        numeric = np.zeros_like(analytic)
        for idx in np.ndindex(analytic.shape):
            old = holder[key][idx]
            holder[key][idx] = old + eps
            up = loss()
            holder[key][idx] = old - eps
            down = loss()
            holder[key][idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        rel = np.linalg.norm(numeric - analytic) / max(
            np.linalg.norm(numeric) + np.linalg.norm(analytic), 1e-12
        )
        assert rel < 1e-6, (key, rel)
        assert np.linalg.norm(analytic) > 0


def test_adapter_gradients_are_projections_of_the_merged_weight_gradient():
    config = lora_mlp.LoRAConfig(rank=2, alpha=3.0)
    base, adapters = random_model(2, config)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 8)), rng.integers(0, 2, size=9)
    _, grads = lora_mlp.loss_and_grads(base, adapters, config, x, y)
    _, merged_grads = mlp.loss_and_grads(
        lora_mlp.merge(base, adapters, config), x, y, "xent", "relu"
    )
    s = config.scale
    for j, layer in enumerate(config.layers):
        G = merged_grads[layer]["W"].T  # dL/dW, paper layout (d, k)
        np.testing.assert_allclose(
            grads.adapters[j]["B"], s * G @ adapters[j]["A"].T, rtol=1e-12, atol=1e-14
        )
        np.testing.assert_allclose(
            grads.adapters[j]["A"], s * adapters[j]["B"].T @ G, rtol=1e-12, atol=1e-14
        )
        np.testing.assert_allclose(
            grads.base[layer]["W"], merged_grads[layer]["W"], rtol=1e-12, atol=1e-14
        )


def test_full_fine_tuning_gradients_equal_mlp_backward(pre, sentiment):
    _, g = lora_mlp.loss_and_grads(
        pre.params, [], lora_mlp.NO_ADAPTERS, sentiment.train.x, sentiment.train.y
    )
    _, ref = mlp.loss_and_grads(pre.params, sentiment.train.x, sentiment.train.y, "xent", "relu")
    for a, b in zip(g.base, ref, strict=True):
        np.testing.assert_array_equal(a["W"], b["W"])
        np.testing.assert_array_equal(a["b"], b["b"])


# ------------------------------------------------------------- training and merging


def test_lora_training_leaves_the_base_bitwise_unchanged(pre, sentiment):
    base = [{"W": p["W"].copy(), "b": p["b"].copy()} for p in pre.params]
    snapshot = [(p["W"].tobytes(), p["b"].tobytes()) for p in base]
    for layers in ((0, 1, 2), (0, 1)):  # output layer adapted / explicitly frozen
        config = lora_mlp.LoRAConfig(rank=4, alpha=8.0, layers=layers)
        run = training.train_lora(
            base, config, sentiment.train.x, sentiment.train.y, seed=0, steps=30
        )
        assert [(p["W"].tobytes(), p["b"].tobytes()) for p in base] == snapshot
        assert len(run.adapters) == len(layers) and all(
            set(adapter) == {"A", "B"} for adapter in run.adapters
        )
        assert all(adapter["B"].any() for adapter in run.adapters)
        assert run.loss[-1] < run.loss[0]


def test_full_fine_tuning_changes_every_parameter(pre, sentiment):
    run = training.train_full(pre.params, sentiment.train.x, sentiment.train.y, steps=5)
    for new, old in zip(run.params, pre.params, strict=True):
        assert not np.array_equal(new["W"], old["W"]) and not np.array_equal(new["b"], old["b"])


def test_merge_is_exact_to_float_precision(pre, sentiment):
    config = lora_mlp.LoRAConfig(rank=4, alpha=8.0)
    adapters = training.train_lora(
        pre.params, config, sentiment.train.x, sentiment.train.y, seed=1, steps=50
    ).adapters
    err = lora_mlp.merge_error(pre.params, adapters, config, sentiment.test.x)
    assert 0 <= err < 1e-12
    merged = lora_mlp.merge(pre.params, adapters, config)
    for j, layer in enumerate(config.layers):
        np.testing.assert_allclose(
            merged[layer]["W"].T,
            pre.params[layer]["W"].T + config.scale * adapters[j]["B"] @ adapters[j]["A"],
            rtol=0,
            atol=1e-15,
        )
    mlp_logits, _ = mlp.forward(merged, sentiment.test.x, "relu")
    lora_logits, _ = lora_mlp.forward(pre.params, adapters, config, sentiment.test.x)
    assert np.max(np.abs(mlp_logits - lora_logits)) < 1e-12


def test_adapter_swap_restores_the_base(pre):
    swap = experiments.adapter_swap(pre, steps=50)
    assert swap.tasks == ("sentiment", "topic")
    assert np.all(swap.merge_error < 1e-12)
    assert np.all(swap.unmerge_error < 1e-14) and swap.final_error < 1e-14
    np.testing.assert_array_equal(swap.adapter_accuracy, swap.merged_accuracy)
    # the swap, stage by stage: the base, then each adapter merged and unmerged
    assert swap.stages == ("base", "sentiment merged", "sentiment unmerged", "topic merged",
                           "topic unmerged")
    assert swap.stage_accuracy.shape == (5, 2)
    np.testing.assert_array_equal(swap.stage_accuracy[0], swap.base_accuracy)
    np.testing.assert_array_equal(swap.stage_accuracy[[1, 3], [0, 1]], swap.merged_accuracy)
    for unmerged in (2, 4):
        np.testing.assert_array_equal(swap.stage_accuracy[unmerged], swap.stage_accuracy[0])
    assert swap.stage_weight_change[0] == 0
    np.testing.assert_array_equal(swap.stage_weight_change[[2, 4]], swap.unmerge_error)
    assert np.all(swap.stage_weight_change[[1, 3]] > 1e-3)


def test_base_model_record(pre, sentiment):
    base = experiments.base_model(pre)
    assert (base.n_train, base.n_val, base.n_test) == (1000, 500, 500)
    assert base.best_step == pre.best_step and base.max_steps == training.PRETRAIN_MAX_STEPS
    assert base.test_accuracy == pre.test_accuracy
    x = np.concatenate([sentiment.train.x, sentiment.test.x])
    assert len(base.sentence_correct) == len(x) == 128
    # lexical polarity: right on every plain sentence, wrong on every negated one
    np.testing.assert_array_equal(base.sentence_correct, ~base.sentence_negated)
    # a dead unit's pre-activation is never positive, a live one's is on some input
    _, cache = lora_mlp.forward(pre.params, [], lora_mlp.NO_ADAPTERS, x)
    for dead, layer in zip(base.dead_on_sentences, cache.layers[:2], strict=True):
        assert dead.shape == (16,)
        assert np.all(layer.z[:, dead] <= 0) and np.all(np.any(layer.z[:, ~dead] > 0, axis=0))


def test_same_seed_same_results(pre):
    a, b = experiments.knowledge_change(pre, steps=40), experiments.knowledge_change(pre, steps=40)
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.probs_after, b.probs_after)
    for x, y in zip(a.delta_w, b.delta_w, strict=True):
        np.testing.assert_array_equal(x, y)
    c = experiments.knowledge_change(pre, seed=1, steps=40)
    assert not np.array_equal(a.loss, c.loss)
    p1, p2 = training.pretrain(), training.pretrain()
    for x, y in zip(p1.params, p2.params, strict=True):
        np.testing.assert_array_equal(x["W"], y["W"])
    s1 = experiments.rank_sweep((1, 2), seeds=(0, 1), pretrained=pre, steps=20)
    s2 = experiments.rank_sweep((1, 2), seeds=(0, 1), pretrained=pre, steps=20)
    np.testing.assert_array_equal(s1.test_loss, s2.test_loss)


# --------------------------------------------------------------------- experiments


def test_pretrained_base_learned_its_task(pre):
    assert 0 < pre.best_step < training.PRETRAIN_MAX_STEPS
    assert pre.val_loss[pre.best_step] == pre.val_loss.min()
    assert pre.test_accuracy > 0.85


def test_knowledge_change_fields(pre):
    change = experiments.knowledge_change(pre)
    assert change.loss.shape == change.test_loss.shape == (training.FINETUNE_STEPS + 1,)
    assert change.loss[-1] < 0.2 * change.loss[0]
    assert change.train_accuracy_after > change.train_accuracy_before
    assert len(
        change.example_texts
    ) == 4 and change.probs_before.shape == change.probs_after.shape == (4, 2)
    np.testing.assert_allclose(change.probs_after.sum(axis=1), 1.0)
    assert [d.shape for d in change.delta_w] == [(16, 8), (16, 16), (2, 16)]
    assert all(np.linalg.matrix_rank(d) <= min(4, *d.shape) for d in change.delta_w)
    assert change.trainable_params == 4 * (24 + 32 + 18)


def test_a_dead_input_keeps_its_column_of_a_at_the_random_start(pre, sentiment):
    """A unit of layer 1 that never fires feeds layer 2 a 0 on every sentence: dL/dA_2 = (dz B)^T x
    has a zero column there, so Adam never moves it, while B_2 is trained: the column of
    Delta W_2 = (alpha/r) B_2 A_2 is not zero (knowledge_change (c) outlines it)."""
    config = lora_mlp.DEFAULT_CONFIG
    train = sentiment.train
    _, cache = lora_mlp.forward(pre.params, [], lora_mlp.NO_ADAPTERS, train.x)
    dead = np.flatnonzero(np.all(cache.layers[0].z <= 0, axis=0))
    assert list(dead) == [12]
    run = training.train_lora(pre.params, config, train.x, train.y, steps=40)
    start = lora_mlp.init_adapters(pre.params, config, 0)
    second = config.layers.index(1)
    A, A0 = run.adapters[second]["A"], start[second]["A"]
    np.testing.assert_array_equal(A[:, dead], A0[:, dead])
    assert not np.allclose(np.delete(A, dead, axis=1), np.delete(A0, dead, axis=1))
    delta = lora_mlp.delta_weights(run.adapters, config)[second]
    assert np.abs(delta[:, dead]).max() > 0


def test_base_fails_on_negation_and_fine_tuning_fixes_it(pre, sentiment):
    train, test = sentiment.train, sentiment.test
    base = lora_mlp.evaluate(pre.params, [], lora_mlp.NO_ADAPTERS, test.x, test.y)
    correct = np.argmax(base.probs, axis=1) == test.y
    # The lexical-polarity base is right on every plain test sentence and wrong on every
    # negated one.
    np.testing.assert_array_equal(correct, ~test.negated)
    change = experiments.knowledge_change(pre)
    assert change.test_accuracy_before == base.accuracy == 20 / 32
    assert change.test_accuracy_after >= 0.9 and change.train_accuracy_after == 1.0
    assert change.example_labels.tolist() == [0, 0, 1, 1]
    assert np.all(np.argmax(change.probs_after, axis=1) == change.example_labels)
    full = training.train_full(pre.params, train.x, train.y)
    assert lora_mlp.evaluate(full.params, [], lora_mlp.NO_ADAPTERS, test.x, test.y).accuracy >= 0.9


def test_toy_model_counts():
    model = experiments.toy_model()
    assert model.shapes == ((16, 8), (16, 16), (2, 16))
    assert model.base_params == 8 * 16 + 16 + 16 * 16 + 16 + 16 * 2 + 2 == 450
    np.testing.assert_array_equal(model.lora_total, 74 * np.array(experiments.RANKS))
    np.testing.assert_array_equal(model.max_delta_rank[:, 2], [1, 2, 2, 2, 2])
    assert list(model.lora_total) == [
        lora_mlp.trainable_parameters(lora_mlp.LoRAConfig(r)) for r in experiments.RANKS
    ]
    hidden = experiments.toy_model(layers=lora_mlp.HIDDEN_LAYERS)
    assert not hidden.lora_params[:, 2].any()


def test_rank_sweep_shapes(pre):
    sweep = experiments.rank_sweep((1, 4), seeds=(0, 1), pretrained=pre, steps=20)
    assert sweep.test_accuracy.shape == sweep.test_loss.shape == (2, 2)
    assert list(sweep.trainable_params) == [74, 296] and sweep.full_params == 450
    assert (sweep.task, sweep.n_train, sweep.n_test, sweep.steps) == ("sentiment", 96, 32, 20)
    assert sweep.train_curve.shape == (2, 2, 21) and sweep.full_train_curve.shape == (21,)
    np.testing.assert_array_equal(sweep.train_curve[..., -1], sweep.train_loss)
    np.testing.assert_array_equal(sweep.alphas, [lora_mlp.DEFAULT_ALPHA] * 2)
    per_rank = experiments.rank_sweep((1, 4), seeds=(0,), pretrained=pre, steps=3,
                                      alpha_equals_rank=True)
    np.testing.assert_array_equal(per_rank.alphas, [1.0, 4.0])
    teacher = experiments.rank_sweep((1,), seeds=(0,), pretrained=pre, steps=5, task="teacher")
    assert (teacher.n_train, teacher.n_test) == (data.TEACHER_TRAIN, data.TEACHER_TEST)
    with pytest.raises(ValueError):
        experiments.rank_sweep((1,), seeds=(0,), pretrained=pre, steps=1, task="parity")


def test_teacher_task_is_balanced_new_and_seeded(pre):
    task = data.teacher_task()
    assert task.x_train.shape == (2000, 8) and task.x_test.shape == (4000, 8)
    assert task.y_train.mean() == 0.5 and 0.45 < task.y_test.mean() < 0.55
    # inputs are the pre-training counts plus N(0, 0.5^2) jitter: no test input is a training
    # input, and the jitter is centred on the counts
    assert not {tuple(v) for v in task.x_test} & {tuple(v) for v in task.x_train}
    counts = data.pretraining_task(1, n_train=2000, n_val=0, n_test=0).x_train
    jitter = task.x_train - counts
    assert abs(jitter.mean()) < 0.02 and abs(jitter.std() - data.TEACHER_JITTER) < 0.02
    again = data.teacher_task()
    np.testing.assert_array_equal(task.x_test, again.x_test)
    np.testing.assert_array_equal(task.y_test, again.y_test)
    assert not np.array_equal(task.y_test, data.teacher_task(seed=1).y_test)
    # a task the base never learned: it is no better than a coin on it
    base = lora_mlp.evaluate(pre.params, [], lora_mlp.NO_ADAPTERS, task.x_test, task.y_test)
    assert base.accuracy < 0.55


def test_scaling_experiment(pre):
    scaling = experiments.scaling_experiment((1, 4), pretrained=pre, steps=10, seeds=(0, 1))
    np.testing.assert_array_equal(scaling.scales, [[8.0, 2.0], [1.0, 1.0]])
    assert scaling.delta_norm.shape == (2, 2, 2, 11)
    assert scaling.layers == lora_mlp.ALL_LAYERS
    np.testing.assert_array_equal(scaling.trainable_params, [74, 296])
    hidden = experiments.scaling_experiment((1, 8), pretrained=pre, steps=2, seeds=(0,),
                                            layers=(1,))
    np.testing.assert_array_equal(hidden.trainable_params, [32, 256])
    # at r = alpha the two schemes are one run
    np.testing.assert_array_equal(hidden.loss[0, 1], hidden.loss[1, 1])
    assert experiments.scaling_experiment((1,), pretrained=pre, steps=1).seeds == (
        experiments.SEEDS)
    assert not scaling.delta_norm[..., 0].any()  # B = 0 before training
    assert np.all(scaling.first_step_norm > 0)


def test_spectra(pre, sentiment):
    spectra = experiments.delta_w_spectra((0, 1), n_random=20, steps=50)
    assert spectra.seeds == (0, 1) and len(spectra.delta_w) == 2
    assert spectra.singular_values.shape == (2, 16)
    assert spectra.random_singular_values.shape == (2, 20, 16)
    for s, delta in enumerate(spectra.delta_w):
        assert delta.shape == (16, 16)
        # the dead units' rows and columns are exactly zero and left out of the comparison
        rows, cols = spectra.live_rows[s], spectra.live_cols[s]
        assert not delta[~rows].any() and not delta[:, ~cols].any()
        live = delta[np.ix_(rows, cols)]
        values = spectra.singular_values[s]
        assert np.all(np.diff(values) <= 0)
        np.testing.assert_allclose(values[: min(live.shape)],
                                   np.linalg.svd(live, compute_uv=False))
        assert not values[min(live.shape):].any()
        np.testing.assert_allclose(np.sum(values**2), np.sum(delta**2))
        np.testing.assert_allclose(np.sum(spectra.random_singular_values[s] ** 2, axis=1),
                                   np.sum(delta**2))
        assert not spectra.random_singular_values[s, :, min(live.shape):].any()
        assert spectra.energy[s, -1] == pytest.approx(1.0)
        assert np.all(np.diff(spectra.energy[s]) >= 0)
        assert 1 <= spectra.rank_90[s] <= min(live.shape)
    # the base of seed 0 is the shared one
    full = training.train_full(pre.params, sentiment.train.x, sentiment.train.y, steps=50)
    np.testing.assert_array_equal(spectra.delta_w[0],
                                  full.params[1]["W"].T - pre.params[1]["W"].T)
    assert spectra.relative_update[0] == pytest.approx(
        np.linalg.norm(spectra.delta_w[0]) / np.linalg.norm(pre.params[1]["W"]))
    # the input-shaped null: G H of the live block's shape and norm, H the base's layer inputs
    assert spectra.input_singular_values.shape == (2, 20, 16)
    for s, delta in enumerate(spectra.delta_w):
        np.testing.assert_allclose(np.sum(spectra.input_singular_values[s] ** 2, axis=1),
                                   np.sum(delta ** 2))
        assert not spectra.input_singular_values[s, :, spectra.live_rank[s]:].any()
        assert spectra.activation_energy[s, -1] == pytest.approx(1.0)
    _, cache = lora_mlp.forward(pre.params, [], lora_mlp.NO_ADAPTERS, sentiment.train.x)
    h = cache.layers[1].x[:, spectra.live_cols[0]]
    np.testing.assert_allclose(spectra.activation_singular_values[0, : min(h.shape)],
                               np.linalg.svd(h, compute_uv=False))
    assert experiments.effective_rank(np.ones(5)) == pytest.approx(5.0)
    np.testing.assert_array_equal(experiments.padded(np.array([2.0, 1.0]), 4), [2, 1, 0, 0])


def test_backward_comparison(pre):
    comparison = experiments.backward_comparison(pre)
    assert comparison.groups[:2] == ("W1", "b1") and comparison.groups[-2:] == ("A3", "B3")
    assert all(not a.any() for a in comparison.lora_A)  # B = 0 -> dL/dA = 0 exactly
    assert all(b.any() for b in comparison.lora_B)
    assert list(comparison.sizes) == [128, 16, 256, 16, 32, 2, 32, 64, 64, 64, 64, 8]
    later = experiments.backward_comparison(pre, lora_steps=5)
    assert all(a.any() for a in later.lora_A)
    np.testing.assert_array_equal(comparison.norms[:6], later.norms[:6])


def test_forward_trace_adds_up(pre):
    trace = experiments.forward_trace(pre, steps=30)
    h = trace.x[None, :]
    for t in trace.layers:
        np.testing.assert_array_equal(t.x, h)
        np.testing.assert_allclose(t.z, t.base_path + t.lora_path + t.bias, rtol=0, atol=1e-15)
        h = t.out
    np.testing.assert_array_equal(h[0], trace.logits)
    assert trace.probs.sum() == pytest.approx(1.0) and trace.tokens == tuple(
        data.tokens(trace.text)
    )
    # The default sentence, traced after the default run: the base gets it wrong, the adapter right.
    trace = experiments.forward_trace(pre)
    assert trace.text == "The bread and the coffee were never stale." and trace.label == 1
    assert np.argmax(trace.probs) == 1 and np.argmax(trace.probs_base) == 0
