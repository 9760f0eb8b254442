//! The compare report of a candidate model: candidate vs published on cross-validation of the
//! current training data (the same folds for both configurations) and on the regression set —
//! overall and per-intent precision / recall / F1 with deltas, the top confusion pairs, the
//! coverage-vs-precision curve, and the dial (target precision ↔ threshold and coverage).
//!
//! Cross-validation compares *configurations* (head options, target precision) trained on the
//! same data; the regression set compares the two *models* as they are. Kept as
//! `models/<version>/report.json`.
use serde::{Deserialize, Serialize};

use crate::eval::metrics::{evaluate, Prediction, Report};
use crate::nlu::decision::Scores;
use crate::nlu::fit::HeldOutScores;
use crate::nlu::Thresholds;

use super::regression::CaseResult;

/// The report file in a version's directory.
pub const REPORT_FILE: &str = "report.json";

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Prf {
    pub precision: f32,
    pub recall: f32,
    pub f1: f32,
}

/// The headline numbers of one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Headline {
    /// Final decisions right (a rejected out-of-scope message is right).
    pub accuracy: f32,
    /// Macro averages over the intents with examples.
    pub macro_avg: Prf,
    /// Messages answered at the side's trained threshold, and how many of them rightly.
    pub coverage: f32,
    pub precision: f32,
    pub answer_threshold: f32,
}

/// One intent's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IntentRow {
    pub intent: String,
    pub support: usize,
    pub candidate: Prf,
    pub published: Option<Prf>,
    /// candidate − published (None without a published side).
    pub delta: Option<Prf>,
}

/// A frequent mistake: messages of `gold` decided as `predicted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfusionPair {
    pub gold: String,
    pub predicted: String,
    pub count: usize,
}

/// One threshold of the curve: answering when confidence ≥ threshold covers `coverage` of all
/// messages at `precision`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CurvePoint {
    pub threshold: f32,
    pub coverage: f32,
    pub precision: f32,
}

/// One side of the comparison on cross-validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Side {
    pub headline: Headline,
    pub confusions: Vec<ConfusionPair>,
    pub curve: Vec<CurvePoint>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompareReport {
    pub candidate: String,
    /// The version published when the candidate was trained (None: nothing was).
    pub published: Option<String>,
    pub created_at: String,
    pub examples: usize,
    pub folds: usize,
    /// The published configuration equals the candidate's: the cross-validation sides are the
    /// same computation, so only the regression set can differ.
    pub same_configuration: bool,
    pub candidate_cv: Side,
    pub published_cv: Option<Side>,
    /// candidate − published headline (None without a published side).
    pub delta: Option<Headline>,
    pub intents: Vec<IntentRow>,
    /// Every pinned message under both models.
    pub regression: Vec<CaseResult>,
}

/// Turns held-out scores into the evaluator's predictions: a message is answered with its top
/// intent when it is not out of scope and its probability reaches the threshold; an
/// out-of-scope decision has confidence 0 (so no threshold answers it on the curve).
pub fn predictions(
    held: &HeldOutScores,
    names: &[String],
    thresholds: &Thresholds,
) -> Vec<Prediction> {
    held.scores
        .iter()
        .zip(&held.labels)
        .map(|(s, l)| prediction(s, *l, names, thresholds))
        .collect()
}

fn prediction(s: &Scores, label: Option<usize>, names: &[String], t: &Thresholds) -> Prediction {
    let (top, p) = s.top();
    let top_intent = names.get(top).cloned().unwrap_or_default();
    let oos = s.out_of_scope(t);
    Prediction {
        gold: label.and_then(|l| names.get(l).cloned()),
        predicted: s.answers(t, t.answer).then(|| top_intent.clone()),
        top_intent,
        confidence: if oos { 0.0 } else { p },
    }
}

/// One side from its predictions.
pub fn side(preds: &[Prediction], answer_threshold: f32) -> (Side, Report) {
    let report = evaluate(preds, &[]);
    let answered: Vec<&Prediction> = preds.iter().filter(|p| p.predicted.is_some()).collect();
    let right = answered.iter().filter(|p| p.predicted == p.gold).count();
    let with_support: Vec<_> = report.per_intent.iter().filter(|i| i.support > 0).collect();
    let mean = |f: &dyn Fn(&crate::eval::metrics::IntentScore) -> f32| {
        with_support.iter().map(|i| f(i)).sum::<f32>() / with_support.len().max(1) as f32
    };
    let headline = Headline {
        accuracy: report.accuracy,
        macro_avg: Prf {
            precision: mean(&|i| i.precision),
            recall: mean(&|i| i.recall),
            f1: report.macro_f1,
        },
        coverage: answered.len() as f32 / preds.len().max(1) as f32,
        precision: right as f32 / answered.len().max(1) as f32,
        answer_threshold,
    };
    let side = Side {
        headline,
        confusions: report
            .top_confusions
            .iter()
            .map(|c| ConfusionPair {
                gold: c.gold.clone(),
                predicted: c.predicted.clone(),
                count: c.count,
            })
            .collect(),
        curve: report
            .coverage_curve
            .iter()
            .map(|c| CurvePoint {
                threshold: c.threshold,
                coverage: c.coverage,
                precision: c.precision,
            })
            .collect(),
    };
    (side, report)
}

fn prf_delta(a: &Prf, b: &Prf) -> Prf {
    Prf {
        precision: a.precision - b.precision,
        recall: a.recall - b.recall,
        f1: a.f1 - b.f1,
    }
}

/// candidate − published.
pub fn headline_delta(a: &Headline, b: &Headline) -> Headline {
    Headline {
        accuracy: a.accuracy - b.accuracy,
        macro_avg: prf_delta(&a.macro_avg, &b.macro_avg),
        coverage: a.coverage - b.coverage,
        precision: a.precision - b.precision,
        answer_threshold: a.answer_threshold - b.answer_threshold,
    }
}

/// Per-intent rows of both sides (intents with examples), by name.
pub fn intent_rows(candidate: &Report, published: Option<&Report>) -> Vec<IntentRow> {
    let prf = |i: &crate::eval::metrics::IntentScore| Prf {
        precision: i.precision,
        recall: i.recall,
        f1: i.f1,
    };
    candidate
        .per_intent
        .iter()
        .filter(|i| i.support > 0)
        .map(|c| {
            let p = published
                .and_then(|r| r.per_intent.iter().find(|i| i.intent == c.intent))
                .map(prf);
            let cand = prf(c);
            IntentRow {
                intent: c.intent.clone(),
                support: c.support,
                candidate: cand,
                delta: p.as_ref().map(|p| prf_delta(&cand, p)),
                published: p,
            }
        })
        .collect()
}

/// What the dial shows for one setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DialSetting {
    /// Publish with this answer threshold …
    pub threshold: f32,
    /// … to answer this share of messages …
    pub coverage: f32,
    /// … this precisely (cross-validated).
    pub precision: f32,
    /// Whether the asked-for precision is reached (false: the most precise setting is shown).
    pub reached: bool,
}

/// The dial, by target precision: the lowest threshold whose precision reaches `target` (the
/// most coverage that precise); when none does, the most precise point.
pub fn dial_for_precision(curve: &[CurvePoint], target: f32) -> Option<DialSetting> {
    let best = curve
        .iter()
        .filter(|p| p.precision >= target && p.coverage > 0.0)
        .max_by(|a, b| {
            a.coverage
                .total_cmp(&b.coverage)
                .then(b.threshold.total_cmp(&a.threshold))
        });
    match best {
        Some(p) => Some(setting(p, true)),
        None => curve
            .iter()
            .filter(|p| p.coverage > 0.0)
            .max_by(|a, b| a.precision.total_cmp(&b.precision))
            .map(|p| setting(p, false)),
    }
}

/// The dial, by threshold: the curve point at (or just above) `threshold`.
pub fn dial_for_threshold(curve: &[CurvePoint], threshold: f32) -> Option<DialSetting> {
    curve
        .iter()
        .filter(|p| p.threshold >= threshold)
        .min_by(|a, b| a.threshold.total_cmp(&b.threshold))
        .or_else(|| curve.last())
        .map(|p| setting(p, true))
}

fn setting(p: &CurvePoint, reached: bool) -> DialSetting {
    DialSetting {
        threshold: p.threshold,
        coverage: p.coverage,
        precision: p.precision,
        reached,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve() -> Vec<CurvePoint> {
        [
            (0.2, 0.9, 0.80),
            (0.5, 0.7, 0.93),
            (0.7, 0.5, 0.97),
            (0.9, 0.2, 0.99),
        ]
        .iter()
        .map(|&(threshold, coverage, precision)| CurvePoint {
            threshold,
            coverage,
            precision,
        })
        .collect()
    }

    #[test]
    fn the_dial_turns_both_ways() {
        let c = curve();
        let d = dial_for_precision(&c, 0.95).expect("setting");
        assert_eq!((d.threshold, d.coverage, d.reached), (0.7, 0.5, true));
        let d = dial_for_precision(&c, 0.999).expect("setting");
        assert_eq!((d.threshold, d.reached), (0.9, false));
        let d = dial_for_threshold(&c, 0.6).expect("setting");
        assert_eq!((d.threshold, d.precision), (0.7, 0.97));
        assert_eq!(dial_for_threshold(&c, 0.95).expect("last").threshold, 0.9);
        assert_eq!(dial_for_precision(&[], 0.9), None);
    }

    #[test]
    fn held_out_scores_become_predictions_with_the_out_of_scope_gate() {
        let t = Thresholds {
            answer: 0.6,
            similarity: 0.5,
            margin: 0.1,
        };
        let names = vec!["a".to_string(), "b".to_string()];
        let held = HeldOutScores {
            scores: vec![
                Scores::from_logits(&[5.0, 0.0], 1.0, 2, 0.9),
                Scores::from_logits(&[5.0, 0.0], 1.0, 2, 0.1),
                Scores::from_logits(&[0.1, 0.0], 1.0, 2, 0.9),
            ],
            labels: vec![Some(0), None, Some(1)],
        };
        let p = predictions(&held, &names, &t);
        assert_eq!(p[0].predicted.as_deref(), Some("a"));
        assert_eq!((p[1].predicted.clone(), p[1].confidence), (None, 0.0));
        assert_eq!(p[2].predicted, None);
        let (side, _) = side(&p, t.answer);
        assert!((side.headline.coverage - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(side.headline.precision, 1.0);
    }
}
