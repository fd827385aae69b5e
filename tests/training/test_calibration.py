"""Calibration: the fitted temperature undoes a known distortion, ECE sees it, thresholds decide labels."""

import numpy as np
import pytest

from nlp.probability import calibrate, decide, softmax
from training.calibration import expected_calibration_error, fit_temperature, pr_table, truth_of

LABELS = ("genuine", "sponsored", "possibly_false")


def overconfident(n=3000, seed=0, temperature=2.5):
    """Labels drawn from true probabilities; the 'model' reports them sharpened by a temperature."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.2, (n, 3))
    true = softmax(logits)
    gold = np.array([rng.choice(3, p=p) for p in true])
    return softmax(logits * temperature), gold


def test_fitted_temperature_recovers_the_distortion_and_lowers_ece():
    probs, gold = overconfident()
    t = fit_temperature(probs, gold)
    assert t == pytest.approx(2.5, rel=0.1)
    fixed = calibrate(probs, t)
    assert (fixed.argmax(1) == probs.argmax(1)).all()  # labels never change
    truth = (gold == 1).astype(float)
    before, after = expected_calibration_error(probs[:, 1], truth), expected_calibration_error(fixed[:, 1], truth)
    assert before > 0.05 and after < before / 2


def test_truth_and_pr_table_use_one_sided_rows_honestly():
    truth = truth_of([("genuine",), ("genuine", "sponsored"), ("possibly_false",)], LABELS)
    assert truth["genuine"][0] == 1 and np.isnan(truth["genuine"][1]) and truth["possibly_false"][1] == 0
    probs = np.array([[0.8, 0.1, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    table = pr_table(probs, truth, LABELS, thresholds=(0.5,))
    assert table["possibly_false"][0] == {"threshold": 0.5, "precision": 1.0, "recall": 1.0, "flagged": 1}


def test_thresholds_decide_labels():
    p = np.array([0.25, 0.65, 0.10])
    assert decide(p, LABELS) == "sponsored"
    assert decide(p, LABELS, {"sponsored": 0.7}) == "genuine"
    assert decide(p, LABELS, {"sponsored": 0.6}) == "sponsored"
    assert decide(p, LABELS, {k: 0.9 for k in LABELS}) == "sponsored"  # nothing qualifies: the most probable


def test_classifier_applies_temperature_and_thresholds(tmp_path, tiny_model):
    import shutil

    from nlp import NoteClassifier
    from nlp.model_folder import update_model_spec

    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    texts = ["戳链接领券 私信我", "用了三个月 干皮", "根治 100%有效"]
    plain = NoteClassifier.load(folder, keywords=False).predict_proba(texts)
    update_model_spec(folder, calibration={"method": "temperature", "temperature": 2.0})
    clf = NoteClassifier.load(folder, keywords=False)
    assert clf.temperature == 2.0
    assert np.allclose(clf.predict_proba(texts), calibrate(plain, 2.0), atol=1e-5)
    with pytest.raises(ValueError, match="unknown label"):
        NoteClassifier.load(folder, keywords=False, thresholds={"spam": 0.5})
    strict = NoteClassifier.load(folder, thresholds={label: 0.999 for label in LABELS[1:]})
    assert all(p.label == "genuine" or max(p.scores.values()) >= 0.999 for p in strict.predict(texts))
