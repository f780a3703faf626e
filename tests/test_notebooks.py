"""Every notebook runs top to bottom (with small settings) through the public API, and what
it shows is right: a check cell, appended here, asserts on the values the notebook printed
or computed."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

# Run in the notebook's kernel after its last cell, with TFPIPELINE_SMALL=1 (few epochs).
CHECKS = {
    "00_fundamentals": """
assert stderr_lines["as_is"] and stderr_lines["quiet"] == []  # 14 lines vs 0
assert seed_accuracy > 0.5  # 0.852 after 3 epochs (chance 0.1)
assert type(digits_model.layers[0]).__name__ == "Normalization"
assert digits_model.input_shape == (None, 64) and digits_accuracy > 0.8  # 0.956
np.testing.assert_allclose(probabilities, model(x_batch).numpy(), atol=1e-6)  # max diff 2.9e-07
np.testing.assert_allclose(digits_probabilities, digits_model(x_digits).numpy(), atol=1e-6)
np.testing.assert_allclose(grad_ce, (p - Y_batch) / len(Y_batch), atol=1e-6)
assert ratio > 100  # 2006x at logit 8 (p(wrong) 0.997)
assert norm_mse[-1] < norm_mse[0] / 100 and norm_ce[-1] > norm_ce[0]
assert ce_first > mse_final and ce_final > mse_final + 0.2  # 0.880 first epoch; 0.920 vs 0.142
assert len(by_hand) == len(grads) == 6
for g_tape, g_hand in zip(grads, by_hand, strict=True):
    np.testing.assert_allclose(g_tape.numpy(), g_hand, atol=1e-6)
for v, g_tape, u in zip(fresh.trainable_variables, grads, copy.trainable_variables, strict=True):
    np.testing.assert_allclose(u.numpy(), v.numpy() - lr * g_tape.numpy(), atol=1e-6)
assert loss_after < loss_before  # 2.4958 -> 0.6893
assert abs(tape_value - finite_difference) <= 1e-3 * abs(finite_difference)  # -0.278825 both
assert len(TABLE_KEYS) == 30
""",
    "01_quickstart": """
from ai_edge_litert.interpreter import Interpreter

classic = model.evaluate(x_test, y_test, verbose=0)[1]
int8 = next(a for a in manifest["artifacts"] if a["path"] == "model_int8.tflite")
predicted = [labels[i] for i in probabilities.argmax(axis=1)]
# Measured with TFPIPELINE_SMALL=1: 0.897, then int8 0.917 (agreement 0.983), 4 of 5 right.
assert classic >= 0.85, classic  # the classic Keras example, two epochs
assert manifest["status"] == "passed", manifest["failures"]
assert int8["test_accuracy"] >= 0.88 and int8["top1_agreement"] >= 0.97, int8
details = Interpreter(model_path=str(run_dir / "model_int8.tflite")).get_input_details()[0]
assert details["shape"].tolist() == [1, 64] and details["dtype"].__name__ == "int8"
assert sum(p == str(t) for p, t in zip(predicted, digits.target[:5])) >= 3, predicted
assert agreement >= 0.95, agreement  # the Keras 3 model against its int8 file
assert type(rebuilt).__module__.startswith("tf_keras")
# The lesson's own readings. Measured with TFPIPELINE_SMALL=1: classic 0.900-0.906, int8
# [0, 1, 1, 3, 4] against true [0, 1, 2, 3, 4] (the 2 a tie at 0.305, float32 right).
assert len(caught) == 1 and "pixel_0_0, pixel_4_0, pixel_4_7" in str(caught[0].message)
assert first_layer == (64 + 1) * 128 and model.count_params() == 17226
assert all(type(d) is int for d in int8_digits + float_digits + true_digits)  # one type
assert sum(p == t for p, t in zip(int8_digits, true_digits)) >= 3, int8_digits
""",
    "02_data": """
assert data.class_names == ("setosa", "versicolor", "virginica")
cleaning = data.cleaning
dropped = (cleaning["non_finite_rows"], cleaning["duplicate_rows"], cleaning["bad_label_rows"])
assert dropped == (1, 1, 1) and cleaning["rows_in"] == 90
assert sum(data.splits.sizes().values()) == cleaning["rows_out"] == 87
assert [name for name, _ in table.encoding.dropped] == ["id"]  # names its rows
assert {"island=Biscoe", "island=Dream", "body_mass_g"} <= set(table.feature_names)
assert images.class_names == ("circle", "square") and images.feature_shape == (32, 32, 3)
assert images.cleaning["unreadable_files"] == 1
assert np.array_equal(test_batch, augmented.splits.test.arrays()[0])  # augmentation: train only
assert records.class_names == ("even", "odd") and sum(records.splits.sizes().values()) == 60
train_y = regression.splits.train.arrays()[1]
assert regression.task == "regression" and regression.num_outputs == 1
assert np.allclose(regression.target, (train_y.mean(), train_y.std()), rtol=1e-3), regression.target
# Rows kept of rows read: iris drops its one duplicate, the other sets keep every row.
assert kept == {
    "digits": (1797, 1797), "iris": (149, 150), "wine": (178, 178), "breast_cancer": (569, 569)
}, kept
assert no_sex == 9 and "id (identifier-like" in str(caught[0].message)  # NA text cells kept
assert len(batches) == 3 * per_epoch == 12  # three epochs of 32 training images in batches of 8
assert again and differ  # augmentation: fixed by (seed, epoch), new in each epoch
""",
    "03_training": """
# Measured with TFPIPELINE_SMALL=1 (sections 2-3 on 320 training samples).
# Spread of the 4th hidden layer at initialization: 1.06e3 (σ=1), 0.178 (Glorot), 1.06e-5
# (σ=0.01); factor per layer measured / predicted: 1.14, 0.98, 1.14.
assert spread["large σ=1"][-1] > 100 * spread["Glorot"][-1], spread
assert spread["small σ=0.01"][-1] < spread["Glorot"][-1] / 100, spread
assert all(0.7 < factor[n] / predicted[n] < 1.4 for n in spread), factor
# Final training loss after 10 epochs of Adam: 1491 (σ=1), 0.028 (Glorot), 1.355 (σ=0.01).
glorot = init_runs["Glorot"]["loss"][-1]
assert all(init_runs[n]["loss"][-1] > 5 * glorot for n in ("large σ=1", "small σ=0.01"))
# Equal budget: best validation loss 0.821 (full-batch GD, 5 updates), 0.381 to 0.411 (the
# others); test accuracy 0.767 (full-batch GD) to 0.861.
assert all(b["test_accuracy"] > 0.6 for b in best.values()), best  # chance is 0.1
rest = [b["val_loss"] for name, b in best.items() if name != "full-batch GD"]
assert best["full-batch GD"]["val_loss"] > 1.5 * max(rest), (best["full-batch GD"], rest)
assert best["full-batch GD"]["updates"] == BUDGET
assert best["SGD, batch 1"]["updates"] == BUDGET * len(x_train)
# Best plain-SGD rates: 0.03 (batch 1), 0.3 (batch 32), 1.0 (full batch).
sgd = [best[n]["learning_rate"] for n in ("SGD, batch 1", "SGD, batch 32", "full-batch GD")]
assert sgd[0] < sgd[1] <= sgd[2], sgd
# Schedules, mean training loss over the last third: 0.0035 (exponential), 0.0053 (step),
# 0.200 (constant); validation loss 0.190, 0.226, 0.766.
decay = schedule_runs["exponential"]["history"]["learning_rate"]
assert all(later < earlier for earlier, later in zip(decay, decay[1:]))
late = {name: run["late_loss"] for name, run in schedule_runs.items()}
assert late["exponential"] < late["constant"] / 3 and late["step"] < late["constant"] / 3, late
# Early stopping: 6 of 6 epochs in the quick run, best epoch 6 (full run: 20 of 100, best 15).
assert 1 <= result.best_epoch <= result.epochs_run == len(h["loss"])
assert h["val_loss"][result.best_epoch - 1] == min(h["val_loss"])
""",
    "04_overfitting": """
# Measured with TFPIPELINE_SMALL=1 (40 epochs, seed 0): the baseline's lowest validation loss
# at epoch 17 of 40 (0.259, final 0.282), training accuracy 1.000 against 0.939; early
# stopping ran 22 epochs; test accuracy 0.911 (smaller model) to 0.944 (combination), 5x more
# data 0.983; the wrong 6% of validation images carry 85% of its loss.
assert data.splits.sizes() == {"train": TRAIN_SIZE, "val": 180, "test": 180}
assert np.bincount(data.splits.train.y).tolist() == [TRAIN_SIZE // 10] * 10  # stratified
for name, fits in runs.items():  # validation and test fixed, the training subset as asked
    for f in fits:
        splits = f["data"].splits
        assert np.array_equal(splits.val.indices, data.splits.val.indices), name
        assert np.array_equal(splits.test.indices, data.splits.test.indices), name
        assert len(splits.train) == (5 if name == "5x more data" else 1) * TRAIN_SIZE, name
x_small = data.splits.train.arrays()[0]
assert np.allclose(data.stats.mean, x_small.mean(), rtol=1e-4)  # refitted on the subset
assert data.augment is None and augmented.augment is not None
assert runs["baseline"][0] is baseline
h = baseline["result"].history
best = int(np.argmin(h["val_loss"])) + 1
assert 5 <= best < baseline["result"].epochs_run == EPOCHS, best
assert h["val_loss"][-1] > min(h["val_loss"]) and h["loss"][-1] < h["val_loss"][-1] / 10
assert h["accuracy"][-1] >= 0.99 and h["val_accuracy"][-1] <= 0.97
assert share > 0.5 and wrong.sum() >= 3
for f in runs["early stopping"]:
    r = f["result"]
    assert r.stopped_early and r.epochs_run < EPOCHS, r.epochs_run  # early stopping fired
    assert r.best_epoch == r.epochs_run - PATIENCE, (r.best_epoch, r.epochs_run)
    assert r.best_epoch == int(np.argmin(r.history["val_loss"])) + 1
assert np.allclose(stopped, first)  # early stopping trained exactly like the baseline
assert table["early stopping"]["loss gap"] < table["baseline"]["loss gap"]
assert all(row["test accuracy"] >= 0.85 for row in table.values()), table
assert table["5x more data"]["test accuracy"] > table["baseline"]["test accuracy"] + 0.03
assert reach["baseline"] is not None and reach["baseline"] < EPOCHS
""",
    "05_compression": """
rows = {row["variant"]: row for row in results}
float32, int8 = rows["uncompressed / float32"], rows["uncompressed / int8"]
pcqat = rows["prune 90% + cluster 8 + QAT / int8"]
assert int8["kib"] < float32["kib"] / 2.5  # int8 weights
assert pcqat["gzip_kib"] < int8["gzip_kib"] / 2  # the zeros and clusters compress
# Measured with TFPIPELINE_SMALL=1: 0.956 to 0.972, and PCQAT after one epoch 0.711.
assert all(row["accuracy"] >= float32["accuracy"] - 0.03 for row in results if row != pcqat)
assert pcqat["accuracy"] >= 0.6, pcqat  # chance is 0.1
assert [step.technique for step in result.steps] == ["prune", "cluster", "qat"]
# Two epochs are 90 steps of a schedule that reaches 0.75 at step 200 (eight, 360): measured
# 0.625 then, the same in every kernel.
sparsity = tp.kernel_sparsity(pruned)
assert all(0.6 <= v <= 0.76 for v in sparsity.values()), sparsity
assert max(sparsity.values()) - min(sparsity.values()) <= 0.01, sparsity
assert all(2 <= n <= 16 for n in tp.unique_weights(clustered).values())
assert sweep.chosen["gzip_compression_ratio"] > 2
# The sweep chooses on the validation split, within 1 point (its default) of float32.
assert sweep.chosen["val_accuracy"] >= sweep.baseline["val_accuracy"] - 0.01
# Each technique against the same export of the uncompressed model. Measured with
# TFPIPELINE_SMALL=1: float32 gzip 91% of raw; pruning raw 1.00x, gzip 0.62x; clustering raw
# 1.00x, gzip 0.45x; PCQAT gzip 4.6x below int8's.
assert float32["gzip_kib"] > 0.8 * float32["kib"]  # float weights hardly compress
assert abs(pruned_row["kib"] - dense["dynamic"]["kib"]) < 0.05 * dense["dynamic"]["kib"]
assert pruned_row["gzip_kib"] < 0.8 * dense["dynamic"]["gzip_kib"]
assert clustered_row["gzip_kib"] < 0.6 * dense["float16"]["gzip_kib"]
assert all(min(step.sparsity.values()) >= 0.89 for step in result.steps)  # zeros kept
""",
    "06_deploy": """
x_test, y_test = data.splits.test.arrays()
android = tp.Predictor.load(run_dir / "android" / "model.tflite")
int8 = next(a for a in manifest["artifacts"] if a["path"] == "model_int8.tflite")
assert manifest["status"] == "passed", manifest["failures"]
assert card["input"]["shape"] == [-1, 64] and card["input"]["dtype"] == "int8"
assert np.mean(android.predict(x_test).argmax(1) == y_test) == int8["test_accuracy"]
assert int8["test_accuracy"] >= 0.9 and int8["float_ops"] == []
assert table_card["input"]["dtype"] == "float32"  # grams beside millimetres: float input
assert table_predictor.predict_classes(new_birds) == ["Gentoo", "Adelie"]
assert all(a["latency_ms_p50"] > 0 for a in manifest["artifacts"])
assert timing["predict_ms_p50"] > timing["call_ms_p50"]
# The card's formula read backwards: raw 0..16 fills int8 -128..127.
assert as_int8 == [-128, 127]
assert max(accuracies.values()) - min(accuracies.values()) <= 0.03, accuracies
# Measured with TFPIPELINE_SMALL=1: predict 34-51x a direct call, a direct call 420-735x the
# float32 .tflite (p50).
assert timing["call_ms_p50"] > lite["latency_ms_p50"]
""",
    "07_inference": """
assert set(files) == {"small", "wide"}
assert all(list(files[name]) == VARIANTS and len(VARIANTS) == 7 for name in files)
for name in ("small", "wide"):
    raw = {v: sizes[name, v][0] for v in VARIANTS}
    assert raw["int8"] < raw["float32"] / 2.5  # small 72.0 -> 25.9 KB, wide 4509 -> 1185 KB
    assert raw["onnx_int8"] < raw["onnx"] / 2.5  # small 71.1 -> 23.4 KB, wide 4508 -> 1138 KB
    assert raw["float16"] < raw["float32"] / 1.5  # 1.9x, 2.0x
    assert all(sizes[name, v][1] < sizes[name, v][0] for v in VARIANTS)  # gzip saves 7-9%
    # float16 holds its own weights and float32 copies: 104 vs 69 KB, 6759 vs 4506 KB
    assert memory[name, "float16"][0] > memory[name, "float32"][0]
    assert memory[name, "int8"][1] * 3 < memory[name, "float32"][1]  # activations 404 vs 1616 B
    assert accuracies[name, "float32"] > 0.85  # 0.950, 0.978
    assert abs(accuracies[name, "int8"] - accuracies[name, "float32"]) <= 0.05  # -0.011, 0.000
assert all(t > 0 for pair in latency.values() for t in pair)
assert gain["small", 1] < 2.0  # best 2-thread speed-up, small model, one sample: 1.04-1.07x
assert speedup["wide", 1] > 1.4  # wide int8 vs float32, one sample: 5.0-16.8x
for v in ("float32", "int8"):
    on, off = xnnpack["wide", v, 32]
    assert off > 1.5 * on  # XNNPACK gain, wide batch 32: float32 5.9-11.9x, int8 12.9-15.7x
# Graph optimization: 11 -> 8 (basic) -> 6 nodes (extended); int8 23 -> 8.
assert nodes["tp.optimize_onnx"] <= nodes["onnxruntime basic"] <= nodes["as exported (tf2onnx)"]
assert nodes["int8, extended"] < nodes["int8 (tp.quantize_onnx)"]
assert counts["tp.optimize_onnx"] == counts["onnxruntime extended"]
assert "MatMul" not in counts["onnxruntime basic"] and counts["onnxruntime basic"]["Gemm"] == 3
assert counts["onnxruntime extended"].get("FusedGemm", 0) >= 1
assert counts["int8, extended"].get("DynamicQuantizeMatMul", 0) >= 1
assert same  # the wide model's graph has the small one's nodes
assert all(t > 0 for pair in fusion.values() for t in pair)
if resident:  # Linux: XNNPACK's repacked copy of the wide float32 weights, 4.12-4.16 MB
    assert extra["float32"] > 0.5 * sizes["wide", "float32"][0] / 1e6
# numpy's float -> int8 -> float around the small int8 model: +5.6 to +10.1 µs (float32: ~+1)
assert edges["int8", "Predictor"] - edges["int8", "alone"] > 1.0
for r in records.values():
    assert 0 < r["latency_ms_p50"] <= r["latency_ms_p95"] <= r["latency_ms_p99"]
""",
    "08_interpretability": """
# Measured with TFPIPELINE_SMALL=1: digits run accuracy 0.972 (5 of 180 misread, 8->1 twice).
assert manifest["status"] == "passed" and report["accuracy"] >= 0.9
assert mistakes.sum() == len(wrong) == int(round((1 - report["accuracy"]) * len(y_test)))
assert set(manifest["evaluation"]["attributions"]) >= {"method", "samples", "features"}
assert attributions["samples"] == len(x_test) == 180
assert attributions["baseline"] == "training mean"
# IG shares add up to p(digit) - p(baseline): within 0.0027 (average digit), 0.0048 (blank).
ig_sum = maps["IG from the average digit"].sum(axis=1)
p_avg = model(average_digit[None]).numpy()[0, predicted[shown]]
np.testing.assert_allclose(ig_sum, p_digit - p_avg, atol=0.05)
assert all(m.shape == (len(shown), 64) for m in maps.values())
assert np.all(maps["IG from the average digit"][:, [0, 32, 39]] == 0)  # the constant pixels
assert shares["saliency"] > 0.6 > 0.35 > shares["IG"]  # 87% vs 19% on the 28 edge pixels
# Deletion test: IG 0.682, saliency 0.004, random 0.033.
assert drops["IG (largest positive)"] > 0.3 > 0.05 > drops["random pixels"]
assert drops["saliency (largest)"] < drops["random pixels"] * 3
# Wine: IG ~ LR +0.88, IG ~ permutation +0.75, IG ~ raw saliency -0.08, per std +0.88.
assert agreement["IG ~ logistic regression"] >= 0.5
assert agreement["IG ~ permutation importance"] >= 0.5
assert agreement["IG ~ raw saliency (per unit)"] < 0.3 < agreement["IG ~ saliency per std"]
assert tops["IG"][0] == "proline" and proline_rank >= 10  # 13 of 13 by raw saliency
assert wine_accuracy >= 0.9  # 1.000
assert len(leaked) == 1  # the average training digit, read from the .tflite
# Membership: run AUC 0.53 (gap 0.010), memorizer AUC 0.67 (gap 0.111).
assert run_signal["attack AUC"] < 0.6 < memorizer_signal["attack AUC"]
assert memorizer_signal["confidence gap"] > 2 * run_signal["confidence gap"]
assert memorizer_signal["training rows"] < run_signal["training rows"] / 5
""",
    "09_transfer_learning": """
import hashlib

# Measured with TFPIPELINE_SMALL=1: source test accuracy 0.906; split 32 / 4 / 59 (one test
# crop duplicates another); linear classifier on pooled features: random 0.339, random with
# statistics set 0.593, pretrained 0.881, mean colour 1.000; transfer 0.695, int8 0.678
# (agreement 0.983); from scratch 0.339 as trained (one class), 0.983 with its statistics
# set, which beats the transfer here and is not asserted either way.
assert source.class_names == ("lake", "pagoda", "sky", "trees") and source_accuracy > 0.5
assert first.momentum == 0.9 and abs(moving_variance / input_variance - 1) < 0.3
assert target.class_names == ("centre", "leaves", "petals")
assert target.splits.sizes() == {"train": 32, "val": 4, "test": 59}
# The transfer: every layer of backbone.h5 loaded exactly and unchanged by the head phase.
assert loaded and len(saved) == 104 and kept == list(saved)
assert spread["random, as built"] < 1e-6 < 0.1 < spread["pretrained"]
assert accuracy["pretrained"] > accuracy["random, statistics set"]
assert [p["trainable_weights"] for p in phases] == [3843, 3843 + 302768]
assert [p["epochs_run"] for p in phases] == [EPOCHS, FINE_TUNE_EPOCHS]
assert phases[1]["unfrozen_layers"] == len(top) == 13 and phases[1]["learning_rate"] == 1e-4
assert top[0].name == "block_13_expand" and top[-1].name == "Conv_1"
assert set(changed) == unfrozen | {"probabilities"}  # fine-tuning moved these, nothing else
assert pretrained_statistics == batch_norm and len(batch_norm) == 52
assert evaluation["accuracy"] > evaluation["baseline"]["accuracy"] + 0.2
# From scratch as trained: the moving statistics off by a factor growing with depth, every
# test photo the same answer, below the transfer.
assert as_trained["Conv_1_bn"] > 2 * as_trained["bn_Conv1"]
assert scratch_accuracy < evaluation["accuracy"]
assert scratch_weights == 399971 and len(scratch.history["loss"]) == EPOCHS + FINE_TUNE_EPOCHS
# The int8 file passed the gate and runs in integers; the bundle ships that very file.
assert manifest["status"] == "passed", manifest["failures"]
assert [a["variant"] for a in manifest["artifacts"]] == ["int8"]
assert int8["passed"] and int8["decisive_agreement"] >= 0.9 and int8["float_ops"] == []
assert int8["size_bytes"] < weights_size / 2.4  # 608.2 KiB against 1534.9 KiB of float32
assert counts["CONV_2D"] == 35 and counts["DEPTHWISE_CONV_2D"] == 17
assert ops[0]["inputs"] == ["uint8"] and ops[-1]["outputs"] == ["uint8"]
shipped = hashlib.sha256((bundle / "model.tflite").read_bytes()).hexdigest()
assert shipped == int8["sha256"] == card["model"]["sha256"]
assert card["input"]["dtype"] == "uint8" and card["input"]["shape"] == [-1, SIZE, SIZE, 3]
# Predictor on JPEG files: the labels.txt names of the argmax, the run's int8 accuracy.
assert labels == ["centre", "leaves", "petals"]
assert predicted == [labels[i] for i in probabilities.argmax(axis=1)]
assert [path.parent.name for path in new_photos] == labels and predicted[1] == "leaves"  # 0.996
assert np.array_equal(from_files, from_arrays)
assert math.isclose(file_accuracy, int8["test_accuracy"])
""",
    "10_text": """
# Measured with TFPIPELINE_SMALL=1 (numpy 2.4, scikit-learn 1.9, Python 3.11): 1127 texts,
# numpy 496, python 443, scikit-learn 188; other versions give a few more or fewer.
assert set(counts) == {"numpy", "python", "scikit-learn"} and 800 <= len(docs) <= 1600, counts
assert toy.vocabulary == (
    "[PAD]", "[UNK]", "the", "array", "of", "return", "a", "data", "elements", "fit"
)
assert toy_ids.tolist() == [[5, 2, 1, 4, 2, 1, 1, 2], [9, 1, 0, 0, 0, 0, 0, 0]]
assert longer < 0.1  # 4.8% of the texts have more than 24 words
assert manifest["status"] == "passed", manifest["failures"]
assert manifest["data"]["input"]["vocab_size"] < 2000  # 1,587: every training word kept
# bag 0.885 against the baseline's 0.920
assert baseline["kind"] == "TF-IDF + logistic regression" and baseline["accuracy"] >= 0.85
assert baseline["accuracy"] - 0.06 <= evaluation["accuracy"] <= baseline["accuracy"]
assert any("no better than the baseline" in line for line in log)  # the run says so
# float / int8 / agreement: bag 0.885 / 0.885 / 0.991, cnn 0.894 / 0.894 / 1.000,
# lstm 0.584 / 0.584 / 0.982, transformer 0.885 / 0.885 / 1.000
assert all(record["status"] == "passed" for record in runs.values())
assert list(rows) == ["bag", "cnn", "lstm", "transformer"]
for name, row in rows.items():
    assert row["agreement"] >= 0.97 and abs(row["int8"] - row["float"]) <= 0.02, (name, row)
for name in ("cnn", "transformer"):
    assert abs(rows[name]["float"] - rows["bag"]["float"]) <= 0.04, rows
assert 0.5 < rows["lstm"]["float"] < rows["bag"]["float"] - 0.1, rows  # four epochs
assert rows["lstm"]["KiB"] > 2 * rows["bag"]["KiB"]  # 164.8 vs 55.6 KiB
# The bundle: tokenized from the card and vocab.txt alone, run in LiteRT = Predictor.
assert spec["dtype"] == "int32" and spec["shape"] == [-1, 24] and spec["kind"] == "text"
assert vocabulary[:2] == ["[PAD]", "[UNK]"] and len(vocabulary) == spec["vocab_size"]
assert np.array_equal(hand_ids, package_ids)
np.testing.assert_array_equal(hand_probabilities, from_predictor)  # the same int8 output
assert predictor.predict_classes(checked) == ["numpy", "scikit-learn", "python"]
assert (hand_ids == 1).sum() == 1  # "too"
# The folder: one .md skipped, one Windows-1252 file read right, 7,509 words for 2,000 ids.
assert len(caught) == 1 and "(1 .md)" in str(caught[0].message)
assert folder_data.class_names == ("numpy", "python", "scikit-learn")
assert folder_data.cleaning["encodings"] == "texts not in UTF-8 read as windows-1252 (1)"
assert cafe == "Return the café's menu as a list."
assert sum(folder_data.splits.sizes().values()) == len(docs) + 1
assert tokenizer.vocab_size == 2000 < len(distinct) and 0 < unknown_share < 0.2  # 7.6%
""",
    "11_audio": """
# Measured with TFPIPELINE_SMALL=1: 120 files (12 at 16 kHz, 12 stereo), 24 frames x 40 mel
# bins, a 1000 Hz tone in bin 18 (centred at 1018 Hz), zero samples 27.3% -> 0.0% augmented.
assert dict(formats) == {"16 kHz mono": 12, "8 kHz stereo": 12, "8 kHz mono": 96}
assert data.class_names == ("no", "stop", "up", "yes")
assert data.splits.sizes() == {"train": 72, "val": 24, "test": 24}
assert (frame, step, fft, log_mel.mel_bins, frames) == (240, 160, 256, 40, 24)
assert spectrograms.shape == (4, 24, 40)
assert peak == int(np.argmin(np.abs(centres_hz - 1000))) and abs(centres_hz[peak] - 1000) < 40
assert copies == 0 and untouched and silent_augmented < silent_raw / 10
assert manifest["status"] == "passed" and manifest["data"]["cleaning"]["rows_out"] == 120
assert manifest["data"]["augmentation"] and manifest["data"]["input"]["kind"] == "audio"
# The int8 file: the front end and normalization in float, one QUANTIZE, then int8 only.
assert {"RFFT2D", "COMPLEX_ABS", "LOG", "FULLY_CONNECTED"} <= set(int8["float_ops"])
assert "CONV_2D" not in int8["float_ops"]
q = sequence.index("QUANTIZE(float32)")
assert not any("int8" in op for op in sequence[:q]), sequence
assert not any("float32" in op for op in sequence[q + 1 : -1]), sequence
assert sequence[-1] == "DEQUANTIZE(int8)"
# Sizes (KiB): float32 49.4, float16 32.9, dynamic 24.4, int8 39.9; the float mel matrix
# (5,160 values) outweighs the 3,916 trained weights.
kib = {v: artifacts[f"model_{v}.tflite"]["size_bytes"] for v in mel_storage}
assert kib["dynamic"] < kib["int8"] < kib["float32"] and kib["float16"] < kib["float32"]
assert mel_storage == {
    "float32": ["float32"],
    "float16": ["float16", "float32"],
    "dynamic": ["int8"],
    "int8": ["float32"],
}
assert np.prod(mel_shape) > weights
# max abs diff: int8 4.0e-02, dynamic 3.9e-01 (the FFT magnitudes quantized on the fly)
assert int8["max_abs_diff"] < artifacts["model_dynamic.tflite"]["max_abs_diff"]
assert int8["top1_agreement"] >= 0.95 and int8["test_accuracy"] >= 0.85, int8  # 0.958
assert not any(run_dir.glob("*.onnx")) and "ComplexAbs" in card["input"]["onnx"]
# The card: what an app records and feeds.
assert (card["input"]["sample_rate"], card["input"]["samples"]) == (8000, 4000)
assert card["input"]["dtype"] == "float32" and card["input"]["quantization"] is None
front = card["input"]["front_end"]
assert (front["frame_length"], front["frame_step"], front["fft_length"]) == (240, 160, 256)
assert card["output"]["labels"] == list(data.class_names)
# Predictor on WAV paths (16 kHz and stereo included) gives the verify stage's accuracy.
assert abs(right / len(test_paths) - int8["test_accuracy"]) < 1e-9, right
assert abs(scaled_accuracy - int8["test_accuracy"]) < 1e-9
assert app_gap < 1e-6  # path, pcm / 32768 array and bare interpreter: 0.0
assert unscaled_accuracy < scaled_accuracy - 0.3  # 0.958; forgetting / 32768: 0.250, one class
assert "must lie in [-1, 1]" in refused and "Divide 16-bit PCM by 32768" in refused
""",
}


def _printed_splits(text):
    """02_data prints each built-in data set's splits: 80/10/10 of the rows kept (iris has
    one duplicate row, dropped)."""
    sizes = {
        "digits": (1437, 180, 180),
        "iris": (119, 15, 15),
        "wine": (142, 18, 18),
        "breast_cancer": (455, 57, 57),
    }
    for name, (train, val, test) in sizes.items():
        line = next(line for line in text.splitlines() if line.startswith(f"{name} "))
        assert f"{{'train': {train}, 'val': {val}, 'test': {test}}}" in line, line


def _printed_variances(text):
    """03_training prints each kernel's variance beside Glorot's 2 / (fan_in + fan_out)."""
    pairs = re.findall(r"variance ([0-9.]+), 2/\(fan_in\+fan_out\) ([0-9.]+)", text)
    assert len(pairs) == 3, text
    for measured, expected in pairs:
        assert 0.9 <= float(measured) / float(expected) <= 1.1, (measured, expected)


# Checks of what the notebook printed (its cells' text output, all cells together).
PRINTED = {"02_data": _printed_splits, "03_training": _printed_variances}


def test_there_are_notebooks_and_they_are_stored_without_outputs():
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


def test_every_notebook_is_a_lesson_that_starts_quiet():
    """Each opens with what it teaches, ends with exercises, and quiets TensorFlow's native
    logs before anything imports TensorFlow."""
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        assert cells[0].cell_type == "markdown" and "you will learn" in cells[0].source, path.name
        assert cells[-1].cell_type == "markdown" and "Exercises" in cells[-1].source, path.name
        code = "\n".join(cell.source for cell in cells if cell.cell_type == "code")
        quiet = code.find("tp.quiet_tensorflow()")
        first_tensorflow = re.search(r"^\s*(import|from) (tensorflow|tf_keras)\b", code, re.M)
        assert quiet >= 0, f"{path.name} never calls tp.quiet_tensorflow()"
        assert first_tensorflow is None or quiet < first_tensorflow.start(), path.name


def test_every_notebook_has_a_check():
    assert sorted(CHECKS) == [path.stem for path in NOTEBOOKS]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("TFPIPELINE_SMALL", "1")
    # As a learner runs it: TensorFlow's log level left alone, the notebook quiets it.
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECKS[path.stem]))
    client = NotebookClient(notebook, timeout=600, resources={"metadata": {"path": tmp_path}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell (or check) fails
    # Nothing on standard error: no TensorFlow C++ log lines and no warnings left unexplained
    # (a notebook that shows a warning on purpose catches it and prints it).
    for number, cell in enumerate(notebook.cells):
        errors = [
            output["text"]
            for output in cell.get("outputs", [])
            if output.output_type == "stream" and output.name == "stderr"
        ]
        assert not errors, f"{path.name} cell {number} wrote to standard error: {errors}"
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "stream"
    )
    PRINTED.get(path.stem, lambda text: None)(printed)
