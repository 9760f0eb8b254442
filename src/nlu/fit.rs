//! Fitting a complete classifier from embeddings: the head, temperature calibration on held-out
//! predictions, and answer / out-of-scope thresholds chosen for a target precision.
//!
//! Held-out predictions come either from k-fold cross-validation over the training data (the
//! catalog) or from a separate dev split (benchmarks). Labels are `Some(intent index)` or `None`
//! for out-of-scope examples; when there are any, the head gets an extra out-of-scope class.
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::decision::{Scores, Thresholds};
use super::encoder::Embeddings;
use super::error::NluError;
use super::head::{Head, HeadConfig};
use super::knn::NeighbourIndex;
use crate::catalog::Catalog;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitOptions {
    pub head: HeadConfig,
    /// Folds for cross-validated calibration (when no dev split is given).
    pub folds: usize,
    /// The answer threshold is the lowest that keeps held-out precision at or above this.
    pub target_precision: f32,
    /// Ambiguity margin between the top two intents.
    pub margin: f32,
    /// The out-of-scope gate must catch at least this share of held-out out-of-scope messages;
    /// among the settings that do, the one keeping the most in-scope messages right wins.
    #[serde(default = "default_min_oos_recall")]
    pub min_out_of_scope_recall: f32,
    /// The answer threshold is never below this, whatever the held-out precision: a few hundred
    /// held-out messages can meet the target at 0, and a top intent at 0.2 is still a guess.
    #[serde(default = "default_min_answer_threshold")]
    pub min_answer_threshold: f32,
    pub seed: u64,
    /// Intents a person always takes (`handoff: always`): the bot never answers their messages,
    /// so the answer threshold's precision and coverage leave out messages whose top intent is
    /// one of them. Set from the catalog for each fit; not part of a model's options.
    #[serde(skip)]
    pub always_handoff: Vec<usize>,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            head: HeadConfig::default(),
            folds: 5,
            target_precision: 0.95,
            margin: 0.1,
            min_out_of_scope_recall: default_min_oos_recall(),
            min_answer_threshold: default_min_answer_threshold(),
            seed: 7,
            always_handoff: Vec::new(),
        }
    }
}

impl FitOptions {
    /// These options for fitting `catalog`'s intents: with its always-handoff intents set.
    pub fn for_catalog(&self, catalog: &Catalog) -> FitOptions {
        FitOptions {
            always_handoff: catalog.always_handoff(),
            ..self.clone()
        }
    }
}

/// Issue 10's out-of-scope target: at 0.85 CLINC150 keeps 95 % of in-scope messages right (0.7:
/// 96 %, with a third of out-of-scope messages answered); the catalog's gate already catches more.
fn default_min_oos_recall() -> f32 {
    0.85
}

/// Below this the top intent is more often a guess than not on the catalog's held-out messages
/// (a run on 358 unseen messages met 95 % precision at 0 and chose it).
fn default_min_answer_threshold() -> f32 {
    0.3
}

/// Held-out data for calibration.
pub enum Calibration<'a> {
    CrossValidation,
    /// Cross-validation whose held-out predictions are only those of the examples marked `true`
    /// (index for index with the training data): the ones a fine-tuned encoder never trained on.
    /// The encoder has learnt the others, so their vectors would make the head look surer than it
    /// is on a customer's message, and the thresholds too low. With fewer than
    /// [`MIN_UNSEEN_EXAMPLES`] unseen examples it falls back to [`Calibration::CrossValidation`].
    CrossValidationOfUnseen(&'a [bool]),
    HeldOut {
        x: &'a Embeddings,
        labels: &'a [Option<usize>],
    },
}

impl<'a> Calibration<'a> {
    /// Cross-validation over every example, or over those `unseen` marks when the encoder was
    /// fine-tuned on some of them.
    pub fn cross_validation(unseen: Option<&'a [bool]>) -> Self {
        match unseen {
            Some(unseen) => Calibration::CrossValidationOfUnseen(unseen),
            None => Calibration::CrossValidation,
        }
    }
}

/// Calibration results measured on held-out predictions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrationStats {
    pub examples: usize,
    /// Top-1 accuracy on in-scope held-out examples (before any threshold).
    pub accuracy: f32,
    /// Among answered held-out messages, the fraction answered with the right intent.
    pub precision: f32,
    /// Fraction of all held-out messages answered.
    pub coverage: f32,
    /// Whether `precision` reached the target.
    pub target_met: bool,
}

pub struct Fitted {
    pub head: Head,
    pub index: NeighbourIndex,
    pub temperature: f32,
    pub thresholds: Thresholds,
    pub stats: CalibrationStats,
    pub has_out_of_scope_class: bool,
    /// The head's learning rate (chosen on a held-out split, else the configured one).
    pub head_learning_rate: f64,
    /// The held-out predictions calibration was done on (out-of-fold ones under
    /// cross-validation), scored with the fitted temperature: what the compare report reads.
    pub held_out: HeldOutScores,
}

/// Held-out scores with their true labels, index for index.
#[derive(Debug, Clone, Default)]
pub struct HeldOutScores {
    pub scores: Vec<Scores>,
    pub labels: Vec<Option<usize>>,
}

/// Fits the final model on all of `x` and calibrates it on held-out predictions.
pub fn fit(
    x: &Embeddings,
    labels: &[Option<usize>],
    n_intents: usize,
    calibration: Calibration<'_>,
    options: &FitOptions,
) -> Result<Fitted, NluError> {
    if x.len() != labels.len() {
        return Err(NluError::Training(
            "embeddings and labels differ in length".into(),
        ));
    }
    let has_oos = labels.iter().any(Option::is_none);
    let n_classes = n_intents + usize::from(has_oos);
    let class_of = |l: &Option<usize>| l.unwrap_or(n_intents);

    let targets: Vec<usize> = labels.iter().map(class_of).collect();
    let mut held = match calibration {
        Calibration::CrossValidation => {
            let folds = folds(labels, options.folds, options.seed);
            cross_validated(x, labels, n_classes, &class_of, options, folds)?
        }
        Calibration::CrossValidationOfUnseen(unseen) => {
            let folds = unseen_folds(labels, unseen, options)?;
            cross_validated(x, labels, n_classes, &class_of, options, folds)?
        }
        Calibration::HeldOut { .. } => HeldOut::default(),
    };
    let (head, head_learning_rate) = match &calibration {
        Calibration::HeldOut { x: dx, labels: dl } => {
            let held_targets: Vec<usize> = dl.iter().map(class_of).collect();
            best_on_held_out(x, &targets, n_classes, &options.head, (dx, &held_targets))?
        }
        _ => (
            Head::fit(x, &targets, n_classes, &options.head)?,
            options.head.learning_rate,
        ),
    };
    let index = in_scope_index(x, labels);
    if let Calibration::HeldOut { x: dx, labels: dl } = calibration {
        for (i, l) in dl.iter().enumerate() {
            held.push(&head, &index, dx.row(i), *l);
        }
    }
    if held.logits.is_empty() {
        return Err(NluError::Training(
            "no held-out examples to calibrate on".into(),
        ));
    }
    let HeldOut {
        logits: held_logits,
        sims: held_sims,
        labels: held_labels,
    } = held;

    let temperature = fit_temperature(
        &held_logits,
        &held_labels.iter().map(class_of).collect::<Vec<_>>(),
    );
    let scores: Vec<Scores> = held_logits
        .iter()
        .zip(&held_sims)
        .map(|(l, &s)| Scores::from_logits(l, temperature, n_intents, s))
        .collect();
    let (thresholds, stats) = choose_thresholds(&scores, &held_labels, options);
    Ok(Fitted {
        head,
        index,
        temperature,
        thresholds,
        stats,
        has_out_of_scope_class: has_oos,
        head_learning_rate,
        held_out: HeldOutScores {
            scores,
            labels: held_labels,
        },
    })
}

/// With a separate held-out split (a benchmark's dev), the head whose learning rate does best on
/// it: the configured one or a third of it. Measured on the fine-tuned vectors, the slower rate
/// was better on dev for both MASSIVE ja-JP and HWU64 (+0.8 / +0.2 points), so the choice is left
/// to each benchmark's dev split rather than fixed; cross-validated fits keep the configured rate.
fn best_on_held_out(
    x: &Embeddings,
    targets: &[usize],
    n_classes: usize,
    config: &HeadConfig,
    held_out: (&Embeddings, &[usize]),
) -> Result<(Head, f64), NluError> {
    let (dx, dy) = held_out;
    let slower = HeadConfig {
        learning_rate: config.learning_rate / 3.0,
        ..config.clone()
    };
    let mut best: Option<(usize, Head, f64)> = None;
    for candidate in [config, &slower] {
        let head = Head::fit(x, targets, n_classes, candidate)?;
        let right = right_on(&head, dx, dy);
        tracing::debug!(
            learning_rate = candidate.learning_rate,
            right,
            "head on held-out data"
        );
        if best.as_ref().is_none_or(|(r, _, _)| right > *r) {
            best = Some((right, head, candidate.learning_rate));
        }
    }
    best.map(|(_, head, learning_rate)| (head, learning_rate))
        .ok_or_else(|| NluError::Training("no head candidate".into()))
}

/// How many rows of `x` the head's top class gets right.
fn right_on(head: &Head, x: &Embeddings, y: &[usize]) -> usize {
    (0..x.len())
        .filter(|&i| argmax(&head.logits(x.row(i))) == y[i])
        .count()
}

/// The index of the largest value (the last of equals, as `max_by` gives; 0 when empty).
pub(crate) fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Held-out logits and similarities, with the true labels, for calibration.
#[derive(Default)]
struct HeldOut {
    logits: Vec<Vec<f32>>,
    sims: Vec<f32>,
    labels: Vec<Option<usize>>,
}

impl HeldOut {
    fn push(&mut self, head: &Head, index: &NeighbourIndex, row: &[f32], label: Option<usize>) {
        self.logits.push(head.logits(row));
        self.sims.push(index.max_similarity(row));
        self.labels.push(label);
    }
}

/// Below this many examples unseen by the encoder, calibration uses every example instead.
pub const MIN_UNSEEN_EXAMPLES: usize = 20;

/// Stratified folds over the examples marked in `unseen` (indices into all of `labels`); every
/// example when too few are unseen.
fn unseen_folds(
    labels: &[Option<usize>],
    unseen: &[bool],
    options: &FitOptions,
) -> Result<Vec<Vec<usize>>, NluError> {
    if unseen.len() != labels.len() {
        return Err(NluError::Training(
            "the unseen-example mask and the labels differ in length".into(),
        ));
    }
    let idx: Vec<usize> = (0..labels.len()).filter(|&i| unseen[i]).collect();
    if idx.len() < MIN_UNSEEN_EXAMPLES {
        tracing::warn!(
            unseen = idx.len(),
            "too few examples unseen by the fine-tuned encoder: calibrating on all of them"
        );
        return Ok(folds(labels, options.folds, options.seed));
    }
    let sub: Vec<Option<usize>> = idx.iter().map(|&i| labels[i]).collect();
    Ok(folds(&sub, options.folds, options.seed)
        .into_iter()
        .map(|fold| fold.into_iter().map(|j| idx[j]).collect())
        .collect())
}

/// Each fold predicted by a head and an index trained on every example outside it.
fn cross_validated(
    x: &Embeddings,
    labels: &[Option<usize>],
    n_classes: usize,
    class_of: &dyn Fn(&Option<usize>) -> usize,
    options: &FitOptions,
    folds: Vec<Vec<usize>>,
) -> Result<HeldOut, NluError> {
    let mut held = HeldOut::default();
    for fold in folds {
        let in_fold: std::collections::HashSet<usize> = fold.iter().copied().collect();
        let train_idx: Vec<usize> = (0..x.len()).filter(|i| !in_fold.contains(i)).collect();
        let (xt, yt) = subset(x, labels, &train_idx);
        let targets: Vec<usize> = yt.iter().map(class_of).collect();
        let head = Head::fit(&xt, &targets, n_classes, &options.head)?;
        let index = in_scope_index(&xt, &yt);
        for &i in &fold {
            held.push(&head, &index, x.row(i), labels[i]);
        }
    }
    Ok(held)
}

fn subset(
    x: &Embeddings,
    labels: &[Option<usize>],
    idx: &[usize],
) -> (Embeddings, Vec<Option<usize>>) {
    let mut e = Embeddings::new(x.dim);
    let mut l = Vec::with_capacity(idx.len());
    for &i in idx {
        e.push(x.row(i));
        l.push(labels[i]);
    }
    (e, l)
}

/// The neighbour index holds in-scope examples only: being close to an out-of-scope example must not
/// make a message look answerable.
fn in_scope_index(x: &Embeddings, labels: &[Option<usize>]) -> NeighbourIndex {
    let mut e = Embeddings::new(x.dim);
    for (i, l) in labels.iter().enumerate() {
        if l.is_some() {
            e.push(x.row(i));
        }
    }
    NeighbourIndex::new(e)
}

/// Stratified k-fold split: each label's examples are dealt round-robin over the folds after a
/// seeded shuffle, so every fold sees every intent.
pub fn folds(labels: &[Option<usize>], k: usize, seed: u64) -> Vec<Vec<usize>> {
    let k = k.max(2);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut by_label: std::collections::BTreeMap<Option<usize>, Vec<usize>> = Default::default();
    for (i, l) in labels.iter().enumerate() {
        by_label.entry(*l).or_default().push(i);
    }
    let mut out = vec![Vec::new(); k];
    let mut next = 0;
    for (_, mut idx) in by_label {
        idx.shuffle(&mut rng);
        for i in idx {
            out[next % k].push(i);
            next += 1;
        }
    }
    out.retain(|f| !f.is_empty());
    out
}

/// Temperature minimising held-out negative log-likelihood (golden-section search on log T).
pub fn fit_temperature(logits: &[Vec<f32>], classes: &[usize]) -> f32 {
    let nll = |log_t: f64| -> f64 {
        let t = log_t.exp() as f32;
        logits
            .iter()
            .zip(classes)
            .map(|(l, &c)| {
                let p = super::head::softmax(l, t);
                -(p.get(c).copied().unwrap_or(1e-12).max(1e-12) as f64).ln()
            })
            .sum()
    };
    let (mut a, mut b) = ((0.05f64).ln(), (20.0f64).ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (nll(c), nll(d));
    for _ in 0..40 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = nll(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = nll(d);
        }
    }
    (((a + b) / 2.0).exp()) as f32
}

/// Chooses the thresholds on held-out predictions, in two steps.
///
/// 1. The out-of-scope similarity threshold separates out-of-scope from in-scope messages: with
///    out-of-scope examples held out, it is the setting that keeps the most in-scope messages right
///    among those catching at least `min_out_of_scope_recall` of the out-of-scope ones (or, if none
///    does, the one catching the most); without any, nothing tells it where out of scope begins, so
///    it is off (−1) and only the explicit out-of-scope class (if trained) and the answer threshold
///    act.
/// 2. The answer threshold is the lowest that keeps the precision of answered messages at or above
///    the target (an answered out-of-scope message counts as wrong), i.e. the bot answers as much
///    as it can while staying that precise. When the target is out of reach, the most precise
///    threshold is taken and `target_met` is false.
fn choose_thresholds(
    scores: &[Scores],
    labels: &[Option<usize>],
    options: &FitOptions,
) -> (Thresholds, CalibrationStats) {
    let in_scope = labels.iter().filter(|l| l.is_some()).count();
    let top1 = scores
        .iter()
        .zip(labels)
        .filter(|(s, l)| l.is_some() && Some(s.top().0) == **l)
        .count() as f32
        / in_scope.max(1) as f32;
    let similarity = choose_similarity(scores, labels, options);
    let choice = choose_answer_threshold(scores, labels, similarity, options);
    (
        Thresholds {
            answer: choice.answer,
            similarity,
            margin: options.margin,
        },
        CalibrationStats {
            examples: scores.len(),
            accuracy: top1,
            precision: choice.precision,
            coverage: choice.coverage,
            target_met: choice.target_met,
        },
    )
}

/// Step 1: the out-of-scope similarity threshold (−1, off, without out-of-scope examples).
fn choose_similarity(scores: &[Scores], labels: &[Option<usize>], options: &FitOptions) -> f32 {
    let in_scope = labels.iter().filter(|l| l.is_some()).count();
    let out_of_scope = labels.len() - in_scope;
    if out_of_scope == 0 || in_scope == 0 {
        return -1.0;
    }
    let mut candidates: Vec<f32> = scores.iter().map(|s| s.similarity).collect();
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    let step = (candidates.len() / 400).max(1);
    let mut similarity = -1.0f32;
    let mut best_key = (false, f32::MIN, f32::MIN);
    for &sim in std::iter::once(&-1.0f32).chain(candidates.iter().step_by(step)) {
        let t = Thresholds {
            answer: 0.0,
            similarity: sim,
            margin: options.margin,
        };
        let (mut right, mut caught) = (0usize, 0usize);
        for (s, l) in scores.iter().zip(labels) {
            match l {
                Some(g) => right += usize::from(!s.out_of_scope(&t) && s.top().0 == *g),
                None => caught += usize::from(s.out_of_scope(&t)),
            }
        }
        let recall = caught as f32 / out_of_scope as f32;
        let accuracy = right as f32 / in_scope as f32;
        let reaches = recall >= options.min_out_of_scope_recall;
        // Settings that reach the recall floor beat those that do not; then in-scope accuracy
        // decides among the former and recall among the latter. Past the floor more recall is
        // no aim: of settings as accurate on the held-out messages, the loosest (the first, as
        // they rise) wins, since a gate just under the held-out in-scope messages' similarities
        // costs nothing there and turns away real ones worded unlike any example ("The vase
        // came broken, do I have to pay to ship it back?" at 0.685).
        let key = if reaches {
            (true, accuracy, 0.0)
        } else {
            (false, recall, accuracy)
        };
        if key > best_key {
            best_key = key;
            similarity = sim;
        }
    }
    similarity
}

/// The answer threshold chosen in step 2, with what it gives on the held-out messages.
struct AnswerChoice {
    answer: f32,
    precision: f32,
    coverage: f32,
    target_met: bool,
}

/// Bootstrap resamples of the held-out messages whose thresholds are pooled (see
/// [`choose_answer_threshold`]).
const THRESHOLD_RESAMPLES: usize = 101;

/// Step 2: the lowest answer threshold (`min_answer_threshold` .. 1.00) that keeps the target
/// precision, else the most precise one.
///
/// A few hundred held-out messages make that threshold jumpy: one more wrong answer among them
/// moves it by 0.1 (0.62–0.76 over a morning of retrains on one catalog). So it is chosen on
/// seeded bootstrap resamples of them and their median taken, raised to the first threshold
/// that keeps the target on all of them. (Their upper quartile, taken before, chose 0.80 on a
/// held-out curve at the target from 0.54 on: where precision hovers at the target, half the
/// resamples fall below it anywhere, and the quartile lands wherever the curve first clears it.)
///
/// Messages whose top intent a person always takes (`always_handoff`) are never answered, so
/// they count neither as answered nor as wrong answers here.
fn choose_answer_threshold(
    scores: &[Scores],
    labels: &[Option<usize>],
    similarity: f32,
    options: &FitOptions,
) -> AnswerChoice {
    let floor = options.min_answer_threshold.clamp(0.0, 1.0);
    let candidates: Vec<f32> = (0..=100)
        .map(|i| i as f32 / 100.0)
        .filter(|&a| a >= floor)
        .collect();
    // For every message and candidate: answered, and answered right.
    let outcomes: Vec<Vec<(bool, bool)>> = scores
        .iter()
        .zip(labels)
        .map(|(s, l)| {
            candidates
                .iter()
                .map(|&ans| {
                    let t = Thresholds {
                        answer: ans,
                        similarity,
                        margin: options.margin,
                    };
                    let answered =
                        s.answers(&t, ans) && !options.always_handoff.contains(&s.top().0);
                    (answered, answered && Some(s.top().0) == *l)
                })
                .collect()
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut chosen: Vec<usize> = (0..THRESHOLD_RESAMPLES)
        .map(|_| {
            let mut weights = vec![0u32; scores.len()];
            for _ in 0..scores.len() {
                weights[rng.random_range(0..scores.len())] += 1;
            }
            pick_threshold(&outcomes, &weights, candidates.len(), options)
        })
        .collect();
    // Candidates ascend, so the median of their indices is that of the thresholds. From there, the
    // first that keeps the target on the held-out messages themselves (the precision promised
    // must hold on them, not only on half of the resamples); the most precise when none does.
    chosen.sort_unstable();
    let all = vec![1; scores.len()];
    let median = chosen[chosen.len() / 2];
    let pooled = (median..candidates.len())
        .find(|&i| rates(&outcomes, &all, i).1 >= options.target_precision)
        .unwrap_or_else(|| pick_threshold(&outcomes, &all, candidates.len(), options));
    let (coverage, precision) = rates(&outcomes, &all, pooled);
    AnswerChoice {
        answer: candidates[pooled],
        precision,
        coverage,
        target_met: precision >= options.target_precision,
    }
}

/// Coverage and precision at candidate `i`, each message counted `weights` times.
fn rates(outcomes: &[Vec<(bool, bool)>], weights: &[u32], i: usize) -> (f32, f32) {
    let (mut total, mut answered, mut correct) = (0u32, 0u32, 0u32);
    for (o, &w) in outcomes.iter().zip(weights) {
        total += w;
        let (a, c) = o[i];
        answered += w * u32::from(a);
        correct += w * u32::from(c);
    }
    if answered == 0 {
        return (0.0, 0.0);
    }
    (
        answered as f32 / total.max(1) as f32,
        correct as f32 / answered as f32,
    )
}

/// The candidate (its index) answering the most at the target precision, else the most precise
/// one; the highest when none answers anything.
fn pick_threshold(
    outcomes: &[Vec<(bool, bool)>],
    weights: &[u32],
    n_candidates: usize,
    options: &FitOptions,
) -> usize {
    let mut best: Option<(f32, usize)> = None; // (coverage, candidate)
    let mut most_precise: Option<(f32, f32, usize)> = None; // (coverage, precision, candidate)
    for i in 0..n_candidates {
        let (coverage, precision) = rates(outcomes, weights, i);
        if coverage == 0.0 {
            continue;
        }
        if precision >= options.target_precision && best.is_none_or(|b| coverage > b.0) {
            best = Some((coverage, i));
        }
        if most_precise.is_none_or(|b| precision > b.1 || (precision == b.1 && coverage > b.0)) {
            most_precise = Some((coverage, precision, i));
        }
    }
    best.map(|b| b.1)
        .or(most_precise.map(|b| b.2))
        .unwrap_or(n_candidates - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_cover_everything_once_and_stratify() {
        let labels: Vec<Option<usize>> = (0..50)
            .map(|i| if i % 10 == 0 { None } else { Some(i % 3) })
            .collect();
        let f = folds(&labels, 5, 1);
        assert_eq!(f.len(), 5);
        let mut all: Vec<usize> = f.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        for fold in &f {
            assert!(fold.iter().any(|&i| labels[i] == Some(0)));
        }
    }

    /// 400 held-out messages, confidence spread over 0.30–0.99, wrong ones mostly at low
    /// confidence with a seeded scatter above.
    fn noisy_held_out(seed: u64) -> (Vec<Scores>, Vec<Option<usize>>) {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..400)
            .map(|i| {
                let p = 0.3 + 0.69 * (i as f32 / 399.0);
                let wrong = rng.random::<f32>() < 0.5 * (1.0 - p).powi(2) * 4.0;
                let score = Scores {
                    ranked: vec![(0, p), (1, (1.0 - p) / 2.0)],
                    p_out_of_scope: 0.0,
                    similarity: 1.0,
                };
                (score, Some(if wrong { 1 } else { 0 }))
            })
            .unzip()
    }

    #[test]
    fn one_held_out_message_more_or_less_barely_moves_the_answer_threshold() {
        let options = FitOptions::default();
        let (scores, labels) = noisy_held_out(3);
        let all = choose_answer_threshold(&scores, &labels, -1.0, &options);
        assert!(all.answer > options.min_answer_threshold && all.answer < 0.99);
        assert!(all.target_met, "{} at {}", all.precision, all.answer);
        let mut moved = 0.0f32;
        for drop in (0..scores.len()).step_by(7) {
            let keep = |i: &usize| *i != drop;
            let s: Vec<Scores> = (0..scores.len())
                .filter(keep)
                .map(|i| scores[i].clone())
                .collect();
            let l: Vec<Option<usize>> = (0..labels.len()).filter(keep).map(|i| labels[i]).collect();
            let without = choose_answer_threshold(&s, &l, -1.0, &options);
            moved = moved.max((without.answer - all.answer).abs());
        }
        // At most three candidate steps (0.01 each; f32 sums land a hair above 0.03).
        assert!(
            moved < 0.035,
            "the threshold moved by {moved} (from {})",
            all.answer
        );
    }

    #[test]
    fn messages_a_person_always_takes_are_not_answers_to_calibrate() {
        let score = |top: usize, p: f32| Scores {
            ranked: vec![(top, p), ((top + 1) % 3, 1.0 - p)],
            p_out_of_scope: 0.0,
            similarity: 1.0,
        };
        // Right answers of intent 0 from 0.5 up; between 0.5 and 0.8 a third of the messages go
        // to intent 2 wrongly, which a person always takes.
        let mut scores = Vec::new();
        let mut labels = Vec::new();
        for i in 0..300 {
            let p = 0.5 + 0.49 * (i as f32 / 299.0);
            if p < 0.8 && i % 3 == 0 {
                scores.push(score(2, p));
                labels.push(Some(1));
            } else {
                scores.push(score(0, p));
                labels.push(Some(0));
            }
        }
        let counted = choose_answer_threshold(&scores, &labels, -1.0, &FitOptions::default());
        let options = FitOptions {
            always_handoff: vec![2],
            ..FitOptions::default()
        };
        let left_out = choose_answer_threshold(&scores, &labels, -1.0, &options);
        assert!(counted.answer >= 0.7, "{}", counted.answer);
        assert!(left_out.answer < 0.55, "{}", left_out.answer);
        assert!(left_out.target_met && (left_out.precision - 1.0).abs() < 1e-6);
    }

    #[test]
    fn the_similarity_gate_stays_off_once_the_class_reaches_the_recall_floor() {
        let score = |top: usize, p_oos: f32, similarity: f32| Scores {
            ranked: vec![(top, 0.9), ((top + 1) % 2, 0.1)],
            p_out_of_scope: p_oos,
            similarity,
        };
        // Nine of ten out-of-scope messages caught by the class; the tenth, like every in-scope
        // one, is far from the training examples or near them: a gate at 0.6 would catch it too
        // and cost no held-out message, but the class alone reaches the floor (0.85).
        let mut scores = vec![score(0, 0.95, 0.5); 9];
        scores.push(score(0, 0.0, 0.5));
        let mut labels = vec![None; 10];
        for _ in 0..20 {
            scores.push(score(0, 0.0, 0.7));
            labels.push(Some(0));
        }
        let options = FitOptions::default();
        assert!(options.min_out_of_scope_recall <= 0.9);
        assert_eq!(choose_similarity(&scores, &labels, &options), -1.0);
        // Below the floor the gate is used, as loose as reaching it allows.
        let strict = FitOptions {
            min_out_of_scope_recall: 1.0,
            ..FitOptions::default()
        };
        let gate = choose_similarity(&scores, &labels, &strict);
        assert!(gate > 0.5 && gate <= 0.7, "{gate}");
    }

    #[test]
    fn the_answer_threshold_never_goes_below_the_floor() {
        let score = |p: f32| Scores {
            ranked: vec![(0, p), (1, 0.0)],
            p_out_of_scope: 0.0,
            similarity: 1.0,
        };
        // Every held-out message is right, even the unsure ones: the target holds at 0.
        let scores = vec![score(0.9), score(0.9), score(0.12), score(0.12)];
        let labels = vec![Some(0); 4];
        let options = FitOptions::default();
        let choice = choose_answer_threshold(&scores, &labels, -1.0, &options);
        assert!((choice.answer - 0.3).abs() < 1e-6, "{}", choice.answer);
        assert!((choice.coverage - 0.5).abs() < 1e-6);
        let no_floor = FitOptions {
            min_answer_threshold: 0.0,
            ..FitOptions::default()
        };
        let choice = choose_answer_threshold(&scores, &labels, -1.0, &no_floor);
        assert_eq!(choice.answer, 0.0);
    }

    #[test]
    fn temperature_softens_overconfident_logits() {
        // Logits that are right only 60% of the time but very peaked: T must grow above 1.
        let logits: Vec<Vec<f32>> = (0..100).map(|_| vec![10.0, 0.0]).collect();
        let classes: Vec<usize> = (0..100).map(|i| usize::from(i % 5 >= 3)).collect();
        assert!(fit_temperature(&logits, &classes) > 2.0);
    }

    #[test]
    fn fits_separable_data_with_oos() {
        let mut x = Embeddings::new(4);
        let mut labels = Vec::new();
        for i in 0..120 {
            let c = i % 4;
            let mut row = [0.05f32; 4];
            row[c] = 1.0 + (i as f32 % 7.0) * 0.01;
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            x.push(&row.iter().map(|v| v / norm).collect::<Vec<_>>());
            labels.push(if c == 3 { None } else { Some(c) });
        }
        let fitted = fit(
            &x,
            &labels,
            3,
            Calibration::CrossValidation,
            &FitOptions::default(),
        )
        .expect("fit");
        assert!(fitted.has_out_of_scope_class);
        assert!(fitted.stats.accuracy > 0.99, "{:?}", fitted.stats);
        assert!(fitted.stats.target_met);
    }

    #[test]
    fn a_held_out_split_picks_the_head_that_does_best_on_it() {
        // Three overlapping classes: the two learning rates end in different heads.
        let mut rng = StdRng::seed_from_u64(5);
        let mut sample = |n: usize| {
            let mut x = Embeddings::new(6);
            let mut y = Vec::new();
            for i in 0..n {
                let c = i % 3;
                let row: Vec<f32> = (0..6)
                    .map(|d| f32::from(u8::from(d % 3 == c)) + rng.random::<f32>() * 4.0)
                    .collect();
                x.push(&row);
                y.push(c);
            }
            (x, y)
        };
        let (x, y) = sample(90);
        let (dx, dy) = sample(150);
        let config = HeadConfig::default();
        let right = |head: &Head| right_on(head, &dx, &dy);
        let (chosen, _) = best_on_held_out(&x, &y, 3, &config, (&dx, &dy)).expect("fit");
        let slower = HeadConfig {
            learning_rate: config.learning_rate / 3.0,
            ..config.clone()
        };
        let each = [&config, &slower].map(|c| right(&Head::fit(&x, &y, 3, c).expect("fit")));
        assert_eq!(right(&chosen), each[0].max(each[1]), "{each:?}");
    }

    /// 150 "seen" examples tight around their class (what a fine-tuned encoder does to texts it
    /// trained on) and `unseen` ones of which every third looks like the next class.
    fn memorised_and_unseen(unseen: usize) -> (Embeddings, Vec<Option<usize>>, Vec<bool>) {
        let mut x = Embeddings::new(3);
        let (mut labels, mut mask) = (Vec::new(), Vec::new());
        for i in 0..150 + unseen {
            let class = i % 3;
            let is_unseen = i >= 150;
            let looks_like = if is_unseen && i % 9 < 3 {
                (class + 1) % 3
            } else {
                class
            };
            let mut row = [0.05 + (i % 5) as f32 * 0.01; 3];
            row[looks_like] = 1.0;
            x.push(&row);
            labels.push(Some(class));
            mask.push(is_unseen);
        }
        (x, labels, mask)
    }

    #[test]
    fn calibration_on_unseen_examples_sees_what_memorised_ones_hide() {
        let (x, labels, unseen) = memorised_and_unseen(90);
        let options = FitOptions::default();
        let all = fit(&x, &labels, 3, Calibration::CrossValidation, &options).expect("fit");
        let only = fit(
            &x,
            &labels,
            3,
            Calibration::CrossValidationOfUnseen(&unseen),
            &options,
        )
        .expect("fit");
        assert_eq!(all.held_out.labels.len(), 240);
        assert_eq!(only.held_out.labels.len(), 90);
        // A third of the unseen examples look like another intent: only their calibration says so.
        assert!(all.stats.accuracy > 0.85, "{:?}", all.stats);
        assert!(only.stats.accuracy < 0.75, "{:?}", only.stats);
        assert!(only.stats.examples == 90, "{:?}", only.stats);
    }

    #[test]
    fn too_few_unseen_examples_calibrate_on_all() {
        let (x, labels, unseen) = memorised_and_unseen(MIN_UNSEEN_EXAMPLES - 1);
        let options = FitOptions::default();
        let fitted = fit(
            &x,
            &labels,
            3,
            Calibration::CrossValidationOfUnseen(&unseen),
            &options,
        )
        .expect("fit");
        assert_eq!(fitted.held_out.labels.len(), labels.len());
        let short = fit(
            &x,
            &labels,
            3,
            Calibration::CrossValidationOfUnseen(&unseen[1..]),
            &options,
        );
        assert!(matches!(short, Err(NluError::Training(_))));
    }
}
