//! Classification metrics: pure functions from predictions to a [`Report`], and its Markdown form.
//!
//! Nothing here knows about models or datasets: a caller runs a classifier, turns each example into a
//! [`Prediction`] and calls [`evaluate`]. Every ratio whose denominator is zero is reported as `0.0`
//! (or `None` where the field is optional), never NaN, so reports always serialize to valid JSON.
//!
//! Out of scope is `None` on both sides: a gold label `None` is an out-of-scope example, a predicted
//! `None` is a rejection (out of scope, or confidence below the threshold).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// How `None` (out of scope / rejected) is shown in confusions and Markdown. It matches the intent
/// name the catalog reserves for out-of-scope messages.
pub const OUT_OF_SCOPE_NAME: &str = "out_of_scope";

/// How many confusions [`Report::top_confusions`] keeps.
pub const TOP_CONFUSIONS: usize = 10;

/// The target precisions `madoguchi eval` reports coverage at, unless told otherwise.
pub const DEFAULT_TARGETS: [f32; 3] = [0.90, 0.95, 0.99];

/// The classifier's decision on one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The correct intent; `None` for an out-of-scope example.
    pub gold: Option<String>,
    /// The final decision; `None` = rejected (out of scope, or below the confidence threshold).
    pub predicted: Option<String>,
    /// The highest-scoring intent before any rejection.
    pub top_intent: String,
    /// The score of `top_intent` (calibrated probability, or whatever the threshold is applied to).
    pub confidence: f32,
}

/// Precision, recall and F1 of one in-scope intent, from the final predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentScore {
    pub intent: String,
    /// Of the examples predicted as this intent, the share whose gold is this intent (0 when none).
    pub precision: f32,
    /// Of the examples whose gold is this intent, the share predicted as it (0 when support is 0).
    pub recall: f32,
    /// Harmonic mean of precision and recall, `2·tp / (2·tp + fp + fn)` (0 when both are 0).
    pub f1: f32,
    /// Number of examples whose gold is this intent.
    pub support: usize,
}

/// A (gold, predicted) pair that differ, with how often it happened. `None` shows as
/// [`OUT_OF_SCOPE_NAME`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub gold: String,
    pub predicted: String,
    pub count: usize,
}

/// One point of the coverage/precision trade-off of a single confidence threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Examples with `confidence >= threshold` are answered with their `top_intent`.
    pub threshold: f32,
    /// Answered examples over **all** examples (out-of-scope ones included).
    pub coverage: f32,
    /// Answered in-scope examples over in-scope examples (right or wrong): how much of what the
    /// bot could answer it does answer. Equals `coverage` when nothing is out of scope; 0 when
    /// nothing is in scope.
    pub in_scope_coverage: f32,
    /// Of the answered examples, the share whose `top_intent` equals gold. An out-of-scope example
    /// that is answered is always wrong. 0 when nothing is answered.
    pub precision: f32,
}

/// A message answered with an intent other than its own (an out-of-scope one answered at all):
/// what a lead reads to find mislabelled or ambiguous training examples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mistake {
    pub text: String,
    /// The labelled intent ([`OUT_OF_SCOPE_NAME`] for an out-of-scope example).
    pub gold: String,
    pub predicted: String,
    pub confidence: f32,
}

/// The wrong answers of `preds`, whose texts are `texts` (same order), most confident first: an
/// example counts when it was not rejected as out of scope and its top intent is not its gold,
/// whatever the confidence threshold (the list shows what a lower threshold would let through).
pub fn confident_mistakes(preds: &[Prediction], texts: &[&str]) -> Vec<Mistake> {
    let mut wrong: Vec<Mistake> = preds
        .iter()
        .zip(texts)
        .filter(|(p, _)| p.predicted.is_some() && p.gold.as_deref() != Some(&p.top_intent))
        .map(|(p, text)| Mistake {
            text: (*text).to_string(),
            gold: display(p.gold.as_deref()).to_string(),
            predicted: p.top_intent.clone(),
            confidence: p.confidence,
        })
        .collect();
    wrong.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    wrong
}

/// Everything [`evaluate`] measures. See the field docs for the exact definitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Number of predictions evaluated.
    pub examples: usize,
    /// How many of them are out of scope (gold `None`).
    pub out_of_scope_examples: usize,
    /// Over all examples: the share whose final `predicted` equals `gold`. A rejected out-of-scope
    /// example (`None == None`) is correct; a rejected in-scope example is wrong.
    pub accuracy: f32,
    /// Mean F1 over the intents that occur as gold (support > 0), from the final predictions.
    /// Out of scope is not a class: rejecting an in-scope example is a false negative of its intent,
    /// answering an out-of-scope one is a false positive of the intent answered. Intents that are only
    /// ever predicted are listed in `per_intent` but left out of the mean (scikit-learn's default
    /// would count them as F1 0).
    pub macro_f1: f32,
    /// Every intent that occurs as gold or as a final prediction, sorted by name.
    pub per_intent: Vec<IntentScore>,
    /// The [`TOP_CONFUSIONS`] most frequent (gold, predicted) pairs with gold ≠ predicted, most
    /// frequent first (ties by gold, then predicted). Rejections and answered out-of-scope examples
    /// are included, shown as [`OUT_OF_SCOPE_NAME`].
    pub top_confusions: Vec<Confusion>,
    /// CLINC150's in-scope accuracy: over the in-scope examples, the share whose final `predicted`
    /// equals gold (so a rejection is wrong). `None` when there is no in-scope example.
    pub in_scope_accuracy: Option<f32>,
    /// Over the out-of-scope examples, the share predicted `None`. `None` when there is no
    /// out-of-scope example.
    pub oos_recall: Option<f32>,
    /// Of the examples predicted `None`, the share that are out of scope. `None` when there is no
    /// out-of-scope example or nothing was predicted `None`.
    pub oos_precision: Option<f32>,
    /// Coverage and precision of one threshold on `confidence`, applied to `top_intent` (the final
    /// `predicted` is ignored here). Thresholds, ascending: the 101 points 0.00, 0.01, …, 1.00 plus the
    /// percentiles 0, 1, …, 100 of the confidences (so that clusters near 1.0 are resolved), deduplicated.
    /// NaN confidences are never answered. Empty when there are no predictions.
    pub coverage_curve: Vec<CurvePoint>,
    /// For each target precision, in the order given: the curve point with the highest coverage whose
    /// precision is at least the target (the lowest such threshold on ties), or `None` if no
    /// threshold reaches it.
    pub coverage_at_precision: Vec<(f32, Option<CurvePoint>)>,
}

/// `num / den`, or 0 when `den` is 0.
fn ratio(num: usize, den: usize) -> f32 {
    if den == 0 {
        0.0
    } else {
        (num as f64 / den as f64) as f32
    }
}

fn display(label: Option<&str>) -> &str {
    label.unwrap_or(OUT_OF_SCOPE_NAME)
}

/// Computes every metric of [`Report`] over `preds`; `targets` are the precisions for
/// [`Report::coverage_at_precision`] (e.g. [`DEFAULT_TARGETS`]). Never panics and never yields NaN:
/// empty input gives zeros, `None`s and an empty curve.
pub fn evaluate(preds: &[Prediction], targets: &[f32]) -> Report {
    let examples = preds.len();
    let in_scope = preds.iter().filter(|p| p.gold.is_some()).count();
    let out_of_scope_examples = examples - in_scope;
    let correct = preds.iter().filter(|p| p.predicted == p.gold).count();
    let in_scope_correct = preds
        .iter()
        .filter(|p| p.gold.is_some() && p.predicted == p.gold)
        .count();
    let rejected = preds.iter().filter(|p| p.predicted.is_none()).count();
    let oos_rejected = preds
        .iter()
        .filter(|p| p.gold.is_none() && p.predicted.is_none())
        .count();

    let (per_intent, macro_f1) = per_intent_scores(preds);
    let coverage_curve = coverage_curve(preds);
    let coverage_at_precision = targets
        .iter()
        .map(|&target| (target, best_coverage(&coverage_curve, target)))
        .collect();

    Report {
        examples,
        out_of_scope_examples,
        accuracy: ratio(correct, examples),
        macro_f1,
        per_intent,
        top_confusions: top_confusions(preds),
        in_scope_accuracy: (in_scope > 0).then(|| ratio(in_scope_correct, in_scope)),
        oos_recall: (out_of_scope_examples > 0).then(|| ratio(oos_rejected, out_of_scope_examples)),
        oos_precision: (out_of_scope_examples > 0 && rejected > 0)
            .then(|| ratio(oos_rejected, rejected)),
        coverage_curve,
        coverage_at_precision,
    }
}

fn per_intent_scores(preds: &[Prediction]) -> (Vec<IntentScore>, f32) {
    #[derive(Default)]
    struct Counts {
        tp: usize,
        predicted: usize,
        support: usize,
    }
    let mut counts: BTreeMap<&str, Counts> = BTreeMap::new();
    for p in preds {
        if let Some(gold) = p.gold.as_deref() {
            counts.entry(gold).or_default().support += 1;
        }
        if let Some(predicted) = p.predicted.as_deref() {
            let c = counts.entry(predicted).or_default();
            c.predicted += 1;
            if p.gold.as_deref() == Some(predicted) {
                c.tp += 1;
            }
        }
    }
    let scores: Vec<IntentScore> = counts
        .into_iter()
        .map(|(intent, c)| IntentScore {
            intent: intent.to_owned(),
            precision: ratio(c.tp, c.predicted),
            recall: ratio(c.tp, c.support),
            // 2tp / (2tp + fp + fn) with fp = predicted − tp and fn = support − tp.
            f1: ratio(2 * c.tp, c.predicted + c.support),
            support: c.support,
        })
        .collect();
    let with_support: Vec<f32> = scores
        .iter()
        .filter(|s| s.support > 0)
        .map(|s| s.f1)
        .collect();
    let macro_f1 = if with_support.is_empty() {
        0.0
    } else {
        (with_support.iter().map(|&f| f as f64).sum::<f64>() / with_support.len() as f64) as f32
    };
    (scores, macro_f1)
}

fn top_confusions(preds: &[Prediction]) -> Vec<Confusion> {
    let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
    for p in preds.iter().filter(|p| p.predicted != p.gold) {
        let key = (display(p.gold.as_deref()), display(p.predicted.as_deref()));
        *counts.entry(key).or_default() += 1;
    }
    let mut confusions: Vec<Confusion> = counts
        .into_iter()
        .map(|((gold, predicted), count)| Confusion {
            gold: gold.to_owned(),
            predicted: predicted.to_owned(),
            count,
        })
        .collect();
    confusions.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.gold.cmp(&b.gold))
            .then_with(|| a.predicted.cmp(&b.predicted))
    });
    confusions.truncate(TOP_CONFUSIONS);
    confusions
}

fn coverage_curve(preds: &[Prediction]) -> Vec<CurvePoint> {
    if preds.is_empty() {
        return Vec::new();
    }
    let in_scope = preds.iter().filter(|p| p.gold.is_some()).count();
    let mut confidences: Vec<f32> = preds
        .iter()
        .map(|p| p.confidence)
        .filter(|c| !c.is_nan())
        .collect();
    confidences.sort_by(f32::total_cmp);

    let mut thresholds: Vec<f32> = (0..=100).map(|i| i as f32 / 100.0).collect();
    if let Some(last) = confidences.len().checked_sub(1) {
        thresholds.extend((0..=100).map(|q| confidences[q * last / 100]));
    }
    thresholds.sort_by(f32::total_cmp);
    thresholds.dedup();

    thresholds
        .into_iter()
        .map(|threshold| {
            let (mut answered, mut answered_in_scope, mut right) = (0, 0, 0);
            for p in preds.iter().filter(|p| p.confidence >= threshold) {
                answered += 1;
                answered_in_scope += usize::from(p.gold.is_some());
                right += usize::from(p.gold.as_deref() == Some(p.top_intent.as_str()));
            }
            CurvePoint {
                threshold,
                coverage: ratio(answered, preds.len()),
                in_scope_coverage: ratio(answered_in_scope, in_scope),
                precision: ratio(right, answered),
            }
        })
        .collect()
}

fn best_coverage(curve: &[CurvePoint], target: f32) -> Option<CurvePoint> {
    // Ascending thresholds: keeping only strictly better coverage picks the lowest threshold on ties.
    let mut best: Option<CurvePoint> = None;
    for point in curve.iter().filter(|p| p.precision >= target) {
        if best.is_none_or(|b| point.coverage > b.coverage) {
            best = Some(*point);
        }
    }
    best
}

fn percent(x: f32) -> String {
    format!("{:.1}%", x * 100.0)
}

fn optional_percent(x: Option<f32>) -> String {
    x.map_or_else(|| "n/a".to_owned(), percent)
}

/// Escapes what would break a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A Markdown section for one benchmark: a summary line, coverage at the target precisions, the
/// per-intent table (worst F1 first) and the top confusions.
pub fn to_markdown(name: &str, r: &Report) -> String {
    let mut md = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(md, "## {name}\n");
    let _ = write!(
        md,
        "{} examples ({} out of scope). Accuracy {}, macro-F1 {}",
        r.examples,
        r.out_of_scope_examples,
        percent(r.accuracy),
        percent(r.macro_f1)
    );
    if r.out_of_scope_examples > 0 {
        let _ = write!(
            md,
            ", in-scope accuracy {}, OOS recall {}, OOS precision {}",
            optional_percent(r.in_scope_accuracy),
            optional_percent(r.oos_recall),
            optional_percent(r.oos_precision)
        );
    }
    md.push_str(".\n");

    if !r.coverage_at_precision.is_empty() {
        md.push_str("\n### Coverage at target precision\n\n");
        md.push_str(
            "| target precision | threshold | coverage | in-scope answered | precision |\n|---:|---:|---:|---:|---:|\n",
        );
        for (target, point) in &r.coverage_at_precision {
            let _ = match point {
                Some(p) => writeln!(
                    md,
                    "| {} | {:.3} | {} | {} | {} |",
                    percent(*target),
                    p.threshold,
                    percent(p.coverage),
                    percent(p.in_scope_coverage),
                    percent(p.precision)
                ),
                None => writeln!(md, "| {} | unreachable | – | – | – |", percent(*target)),
            };
        }
    }

    if !r.per_intent.is_empty() {
        md.push_str("\n### Per intent (worst F1 first)\n\n");
        md.push_str("| intent | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|\n");
        let mut rows: Vec<&IntentScore> = r.per_intent.iter().collect();
        rows.sort_by(|a, b| a.f1.total_cmp(&b.f1).then_with(|| a.intent.cmp(&b.intent)));
        for s in rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                cell(&s.intent),
                percent(s.precision),
                percent(s.recall),
                percent(s.f1),
                s.support
            );
        }
    }

    if !r.top_confusions.is_empty() {
        md.push_str("\n### Top confusions\n\n");
        md.push_str("| gold | predicted | count |\n|---|---|---:|\n");
        for c in &r.top_confusions {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                cell(&c.gold),
                cell(&c.predicted),
                c.count
            );
        }
    }
    md
}

/// A Markdown section listing the first `n` of `mistakes` (nothing when there are none).
pub fn mistakes_markdown(mistakes: &[Mistake], n: usize) -> String {
    let mut md = String::new();
    if mistakes.is_empty() || n == 0 {
        return md;
    }
    let _ = write!(
        md,
        "\n### Most confident mistakes ({} of {})\n\n",
        n.min(mistakes.len()),
        mistakes.len()
    );
    md.push_str("| confidence | labelled | answered | text |\n|---:|---|---|---|\n");
    for m in mistakes.iter().take(n) {
        let _ = writeln!(
            md,
            "| {:.3} | {} | {} | {} |",
            m.confidence,
            cell(&m.gold),
            cell(&m.predicted),
            cell(&m.text)
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(gold: Option<&str>, predicted: Option<&str>, top: &str, confidence: f32) -> Prediction {
        Prediction {
            gold: gold.map(str::to_owned),
            predicted: predicted.map(str::to_owned),
            top_intent: top.to_owned(),
            confidence,
        }
    }

    /// Answered prediction: predicted = top_intent.
    fn a(gold: Option<&str>, top: &str, confidence: f32) -> Prediction {
        p(gold, Some(top), top, confidence)
    }

    fn close(x: f32, y: f32) -> bool {
        (x - y).abs() < 1e-6
    }

    fn score<'a>(r: &'a Report, intent: &str) -> &'a IntentScore {
        r.per_intent.iter().find(|s| s.intent == intent).unwrap()
    }

    fn assert_no_nan(r: &Report) {
        serde_json::to_string(r).unwrap();
        let mut all = vec![r.accuracy, r.macro_f1];
        all.extend(r.in_scope_accuracy);
        all.extend(r.oos_recall);
        all.extend(r.oos_precision);
        for s in &r.per_intent {
            all.extend([s.precision, s.recall, s.f1]);
        }
        for c in &r.coverage_curve {
            all.extend([c.threshold, c.coverage, c.precision]);
        }
        assert!(all.iter().all(|x| x.is_finite()), "{r:?}");
    }

    #[test]
    fn empty_input_gives_zeros_and_nones() {
        let r = evaluate(&[], &[0.9, 0.95]);
        assert_eq!(r.examples, 0);
        assert_eq!(r.accuracy, 0.0);
        assert_eq!(r.macro_f1, 0.0);
        assert!(r.per_intent.is_empty());
        assert!(r.top_confusions.is_empty());
        assert_eq!(r.in_scope_accuracy, None);
        assert_eq!(r.oos_recall, None);
        assert_eq!(r.oos_precision, None);
        assert!(r.coverage_curve.is_empty());
        assert_eq!(r.coverage_at_precision, vec![(0.9, None), (0.95, None)]);
        assert_no_nan(&r);
        let md = to_markdown("empty", &r);
        assert!(md.contains("0 examples"), "{md}");
        assert!(!md.contains("NaN"), "{md}");
    }

    /// Six in-scope examples over intents a, b, c, all answered:
    ///
    /// | gold | predicted |
    /// | a | a |, | a | a |, | a | b |, | b | b |, | b | a |, | c | a |
    ///
    /// a: tp 2, predicted 4, support 3 → P 1/2, R 2/3, F1 4/7.
    /// b: tp 1, predicted 2, support 2 → P 1/2, R 1/2, F1 1/2.
    /// c: tp 0, predicted 0, support 1 → P 0 (no prediction, not NaN), R 0, F1 0.
    /// macro-F1 = (4/7 + 1/2 + 0) / 3 = 15/42.
    #[test]
    fn per_intent_and_macro_f1_by_hand() {
        let preds = [
            a(Some("a"), "a", 0.9),
            a(Some("a"), "a", 0.8),
            a(Some("a"), "b", 0.7),
            a(Some("b"), "b", 0.6),
            a(Some("b"), "a", 0.5),
            a(Some("c"), "a", 0.4),
        ];
        let r = evaluate(&preds, &[]);
        assert!(close(r.accuracy, 3.0 / 6.0));
        assert_eq!(r.in_scope_accuracy, Some(r.accuracy));
        assert_eq!(r.oos_recall, None);
        assert_eq!(r.oos_precision, None);
        let names: Vec<&str> = r.per_intent.iter().map(|s| s.intent.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let sa = score(&r, "a");
        assert!(close(sa.precision, 0.5) && close(sa.recall, 2.0 / 3.0) && close(sa.f1, 4.0 / 7.0));
        assert_eq!(sa.support, 3);
        let sb = score(&r, "b");
        assert!(close(sb.precision, 0.5) && close(sb.recall, 0.5) && close(sb.f1, 0.5));
        let sc = score(&r, "c");
        assert_eq!(
            (sc.precision, sc.recall, sc.f1, sc.support),
            (0.0, 0.0, 0.0, 1)
        );
        assert!(close(r.macro_f1, 15.0 / 42.0));
        assert_no_nan(&r);
    }

    #[test]
    fn predicted_only_intent_is_listed_but_not_averaged() {
        let preds = [a(Some("a"), "a", 0.9), a(Some("a"), "z", 0.9)];
        let r = evaluate(&preds, &[]);
        let z = score(&r, "z");
        assert_eq!((z.precision, z.recall, z.f1, z.support), (0.0, 0.0, 0.0, 0));
        // Only a counts: P 1, R 1/2 → F1 2/3.
        assert!(close(r.macro_f1, 2.0 / 3.0));
    }

    /// CLINC150-style: 4 in-scope and 4 out-of-scope examples.
    ///
    /// in-scope: a→a, a→None (rejected), b→b, b→a  → in-scope accuracy 2/4.
    /// OOS: None→None ×2, None→a, None→b            → OOS recall 2/4.
    /// predicted None: 3, of which OOS 2            → OOS precision 2/3.
    /// accuracy over all: (2 + 2) / 8.
    #[test]
    fn out_of_scope_metrics_by_hand() {
        let preds = [
            a(Some("a"), "a", 0.9),
            p(Some("a"), None, "a", 0.3),
            a(Some("b"), "b", 0.8),
            a(Some("b"), "a", 0.7),
            p(None, None, "a", 0.2),
            p(None, None, "b", 0.1),
            a(None, "a", 0.6),
            a(None, "b", 0.5),
        ];
        let r = evaluate(&preds, &[]);
        assert_eq!((r.examples, r.out_of_scope_examples), (8, 4));
        assert!(close(r.accuracy, 0.5));
        assert!(close(r.in_scope_accuracy.unwrap(), 0.5));
        assert!(close(r.oos_recall.unwrap(), 0.5));
        assert!(close(r.oos_precision.unwrap(), 2.0 / 3.0));
        // a: tp 1, predicted 3 (a→a, b→a, None→a), support 2 → F1 2/5.
        // b: tp 1, predicted 2 (b→b, None→b), support 2 → F1 1/2.
        assert!(close(score(&r, "a").f1, 0.4));
        assert!(close(score(&r, "b").f1, 0.5));
        assert!(close(r.macro_f1, 0.45));
        assert_eq!(r.per_intent.len(), 2, "out of scope is not a class");
        assert_no_nan(&r);
    }

    #[test]
    fn oos_precision_is_none_when_nothing_rejected() {
        let preds = [a(None, "a", 0.9), a(Some("a"), "a", 0.9)];
        let r = evaluate(&preds, &[]);
        assert_eq!(r.oos_recall, Some(0.0));
        assert_eq!(r.oos_precision, None);
        // Only out-of-scope examples: no in-scope accuracy, no macro-F1 classes.
        let r = evaluate(&[p(None, None, "a", 0.1)], &[]);
        assert_eq!(r.in_scope_accuracy, None);
        assert_eq!(r.accuracy, 1.0);
        assert_eq!(r.macro_f1, 0.0);
        assert_eq!((r.oos_recall, r.oos_precision), (Some(1.0), Some(1.0)));
    }

    #[test]
    fn confusions_count_sort_and_name_out_of_scope() {
        let mut preds = vec![
            a(Some("b"), "a", 0.5),
            a(Some("b"), "a", 0.5),
            p(Some("a"), None, "a", 0.1),
            p(Some("a"), None, "a", 0.1),
            a(None, "c", 0.5),
            a(Some("a"), "a", 0.9),  // correct: not a confusion
            p(None, None, "c", 0.1), // correct rejection: not a confusion
            a(Some("c"), "b", 0.5),
        ];
        let r = evaluate(&preds, &[]);
        let got: Vec<(&str, &str, usize)> = r
            .top_confusions
            .iter()
            .map(|c| (c.gold.as_str(), c.predicted.as_str(), c.count))
            .collect();
        assert_eq!(
            got,
            [
                ("a", OUT_OF_SCOPE_NAME, 2),
                ("b", "a", 2),
                ("c", "b", 1),
                (OUT_OF_SCOPE_NAME, "c", 1),
            ]
        );
        // Only the top ten are kept.
        for i in 0..20 {
            preds.push(a(Some(&format!("g{i:02}")), "x", 0.5));
        }
        let r = evaluate(&preds, &[]);
        assert_eq!(r.top_confusions.len(), TOP_CONFUSIONS);
        assert_eq!(r.top_confusions[3].gold, "g00");
    }

    /// Five examples, top intents with confidences (✓ = top_intent is gold):
    /// 0.9 ✓, 0.8 ✓, 0.7 ✗, 0.6 ✓, 0.3 OOS (always wrong when answered).
    ///
    /// t ≤ 0.3: coverage 5/5, precision 3/5.  0.3 < t ≤ 0.6: 4/5, 3/4.  0.6 < t ≤ 0.7: 3/5, 2/3.
    /// 0.7 < t ≤ 0.8: 2/5, 1.  0.8 < t ≤ 0.9: 1/5, 1.  t > 0.9: nothing answered, precision 0.
    #[test]
    fn coverage_curve_by_hand() {
        let preds = [
            a(Some("a"), "a", 0.9),
            a(Some("b"), "b", 0.8),
            // Rejected by the model, but the curve uses top_intent and confidence only.
            p(Some("a"), None, "b", 0.7),
            a(Some("c"), "c", 0.6),
            p(None, None, "a", 0.3),
        ];
        let r = evaluate(&preds, &[0.5, 0.75, 1.0, 1.5]);
        let at = |t: f32| {
            *r.coverage_curve
                .iter()
                .find(|c| c.threshold == t)
                .unwrap_or_else(|| panic!("no threshold {t}"))
        };
        // In-scope coverage counts the four in-scope examples only: the out-of-scope one (0.3)
        // never adds to it.
        let check = |t: f32, coverage: f32, in_scope: f32, precision: f32| {
            let c = at(t);
            assert!(
                close(c.coverage, coverage)
                    && close(c.in_scope_coverage, in_scope)
                    && close(c.precision, precision),
                "{t}: {c:?}"
            );
        };
        check(0.0, 1.0, 1.0, 0.6);
        check(0.3, 1.0, 1.0, 0.6);
        check(0.5, 0.8, 1.0, 0.75);
        check(0.7, 0.6, 0.75, 2.0 / 3.0);
        check(0.75, 0.4, 0.5, 1.0);
        check(0.9, 0.2, 0.25, 1.0);
        check(0.95, 0.0, 0.0, 0.0);
        check(1.0, 0.0, 0.0, 0.0);
        // Thresholds ascend, are distinct, and include the grid and the observed confidences.
        assert!(r
            .coverage_curve
            .windows(2)
            .all(|w| w[0].threshold < w[1].threshold));
        assert_eq!(r.coverage_curve.first().unwrap().threshold, 0.0);
        assert_eq!(r.coverage_curve.last().unwrap().threshold, 1.0);
        assert!(r.coverage_curve.len() >= 101);
        // Coverage never increases with the threshold.
        assert!(r
            .coverage_curve
            .windows(2)
            .all(|w| w[0].coverage >= w[1].coverage));

        let best: Vec<(f32, Option<(f32, f32)>)> = r
            .coverage_at_precision
            .iter()
            .map(|(t, p)| (*t, p.map(|p| (p.threshold, p.coverage))))
            .collect();
        // 0.5: t = 0 already gives 3/5; 0.75: the lowest threshold with coverage 4/5 is 0.31;
        // 1.0: coverage 2/5 from t = 0.61; 1.5: unreachable.
        assert_eq!(best[0], (0.5, Some((0.0, 1.0))));
        assert_eq!(best[1], (0.75, Some((0.31, 0.8))));
        assert_eq!(best[2], (1.0, Some((0.71, 0.4))));
        assert_eq!(best[3], (1.5, None));
        assert_no_nan(&r);
    }

    #[test]
    fn curve_resolves_confidences_clustered_near_one() {
        // 100 examples with confidences 0.9900..0.9999: the 0.01 grid alone would lump them together.
        let preds: Vec<Prediction> = (0..100)
            .map(|i| {
                let top = if i < 10 { "wrong" } else { "a" };
                a(Some("a"), top, 0.99 + i as f32 * 0.0001)
            })
            .collect();
        let r = evaluate(&preds, &[0.99]);
        let (_, best) = r.coverage_at_precision[0];
        let best = best.unwrap();
        // Dropping the ten least confident (wrong) examples reaches precision 1 at coverage 0.9.
        assert!(close(best.coverage, 0.9), "{best:?}");
        assert_eq!(best.precision, 1.0);
    }

    #[test]
    fn nan_confidence_is_never_answered() {
        let preds = [a(Some("a"), "a", f32::NAN), a(Some("a"), "a", 0.5)];
        let r = evaluate(&preds, &[1.0]);
        assert!(close(r.coverage_curve[0].coverage, 0.5));
        assert_no_nan(&r);
    }

    #[test]
    fn markdown_has_summary_tables_and_escapes() {
        let preds = [
            a(Some("a|b"), "a|b", 0.9),
            a(Some("c"), "a|b", 0.8),
            p(None, None, "c", 0.2),
        ];
        let r = evaluate(&preds, &[0.9, 0.999]);
        let md = to_markdown("clinc150", &r);
        assert!(md.starts_with("## clinc150\n"), "{md}");
        assert!(md.contains("3 examples (1 out of scope). Accuracy 66.7%, macro-F1 33.3%, in-scope accuracy 50.0%, OOS recall 100.0%, OOS precision 100.0%."), "{md}");
        // One of three answered, one of the two in-scope ones.
        assert!(
            md.contains("| 90.0% | 0.810 | 33.3% | 50.0% | 100.0% |"),
            "{md}"
        );
        assert!(
            md.contains("| 99.9% | 0.810 | 33.3% | 50.0% | 100.0% |"),
            "{md}"
        );
        // Worst F1 first: c (0) before a|b (2/3).
        let c_row = md.find("| c | 0.0% | 0.0% | 0.0% | 1 |").unwrap();
        let ab_row = md.find("| a\\|b | 50.0% | 100.0% | 66.7% | 1 |").unwrap();
        assert!(c_row < ab_row, "{md}");
        assert!(md.contains("| c | a\\|b | 1 |"), "{md}");

        let unreachable = evaluate(&[a(Some("a"), "b", 0.5)], &[0.9]);
        let md = to_markdown("x", &unreachable);
        assert!(md.contains("| 90.0% | unreachable | – | – | – |"), "{md}");
        assert!(
            !md.contains("OOS"),
            "no OOS numbers without OOS examples: {md}"
        );
    }

    #[test]
    fn mistakes_are_wrong_answers_most_confident_first() {
        let preds = vec![
            a(Some("a"), "a", 0.99),           // right
            a(Some("a"), "b", 0.70),           // wrong
            p(Some("a"), None, "b", 0.95),     // rejected as out of scope: not an answer
            a(None, "c", 0.90),                // out of scope, answered
            p(Some("b"), Some("a"), "a", 0.2), // wrong, below any sensible threshold: still listed
        ];
        let texts = ["one", "two", "three", "four | pipe", "five"];
        let m = confident_mistakes(&preds, &texts);
        let got: Vec<(&str, &str, &str)> = m
            .iter()
            .map(|m| (m.text.as_str(), m.gold.as_str(), m.predicted.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("four | pipe", OUT_OF_SCOPE_NAME, "c"),
                ("two", "a", "b"),
                ("five", "b", "a")
            ]
        );
        let md = mistakes_markdown(&m, 2);
        assert!(md.contains("### Most confident mistakes (2 of 3)"), "{md}");
        assert!(
            md.contains("| 0.900 | out_of_scope | c | four \\| pipe |"),
            "{md}"
        );
        assert!(!md.contains("five"), "only the first two: {md}");
        assert_eq!(mistakes_markdown(&m, 0), "");
        assert_eq!(mistakes_markdown(&[], 30), "");
    }
}
