//! Runs evaluations: k-fold cross-validation of the catalog, and train-on-train / tune-on-dev /
//! report-on-test for the public benchmarks. Embeddings go through the cache, so a second run only
//! fits heads.
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde::Serialize;

use super::datasets::{Dataset, Example};
use super::metrics::{confident_mistakes, evaluate, Mistake, Prediction, Report};
use crate::catalog::{Catalog, TrainingSet};
use crate::nlu::cache::EmbeddingCache;
use crate::nlu::decision::Scores;
use crate::nlu::fit::{fit, folds, Calibration, FitOptions, Fitted};
use crate::nlu::{Embeddings, Encoder, NluError};

/// The result of one evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub name: String,
    pub locale: String,
    pub train_examples: usize,
    pub test_examples: usize,
    pub intents: usize,
    pub report: Report,
    /// Precision and coverage on the test set at the threshold the trainer chose on held-out data.
    pub chosen_threshold: ThresholdOutcome,
    /// Seconds to fit (and calibrate) the classifier, embeddings excluded.
    pub train_seconds: f64,
    /// Texts embedded in this run (not cached before) and their rate.
    pub embedded_texts: usize,
    pub embed_texts_per_second: Option<f64>,
    /// Every wrong answer on the test texts, most confident first.
    pub mistakes: Vec<Mistake>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThresholdOutcome {
    pub answer_threshold: f32,
    pub similarity_threshold: f32,
    pub precision: f32,
    pub coverage: f32,
}

/// Embeds through the cache, timing what had to be computed.
fn embed(
    encoder: &dyn Encoder,
    cache: &mut EmbeddingCache,
    texts: &[&str],
    stats: &mut (usize, f64),
) -> Result<Embeddings, NluError> {
    let before = cache.len();
    let t = Instant::now();
    let e = cache.embed(encoder, texts, true)?;
    let new = cache.len() - before;
    if new > 0 {
        stats.0 += new;
        stats.1 += t.elapsed().as_secs_f64();
    }
    Ok(e)
}

/// Predictions of a fitted classifier on `x`, as the bot decides: out of scope → `None`.
fn predict(
    fitted: &Fitted,
    n_intents: usize,
    names: &[String],
    x: &Embeddings,
    gold: &[Option<usize>],
) -> (Vec<Prediction>, ThresholdOutcome) {
    let t = &fitted.thresholds;
    let (mut answered, mut correct) = (0usize, 0usize);
    let preds = (0..x.len())
        .map(|i| {
            let s = Scores::compute(
                &fitted.head,
                &fitted.index,
                fitted.temperature,
                n_intents,
                x.row(i),
            );
            let (top, p) = s.top();
            if s.answers(t, t.answer) {
                answered += 1;
                correct += usize::from(gold[i] == Some(top));
            }
            Prediction {
                gold: gold[i].map(|g| names[g].clone()),
                predicted: (!s.out_of_scope(t)).then(|| names[top].clone()),
                top_intent: names[top].clone(),
                confidence: p,
            }
        })
        .collect();
    let outcome = ThresholdOutcome {
        answer_threshold: t.answer,
        similarity_threshold: t.similarity,
        precision: if answered == 0 {
            0.0
        } else {
            correct as f32 / answered as f32
        },
        coverage: if x.is_empty() {
            0.0
        } else {
            answered as f32 / x.len() as f32
        },
    };
    (preds, outcome)
}

pub(crate) fn label_ids(examples: &[Example], names: &[String]) -> Vec<Option<usize>> {
    examples
        .iter()
        .map(|e| {
            e.label
                .as_ref()
                .and_then(|l| names.iter().position(|n| n == l))
        })
        .collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Train on `train`, calibrate on `dev`, report on `test`.
pub fn evaluate_dataset(
    encoder: &dyn Encoder,
    cache: &mut EmbeddingCache,
    data: &Dataset,
    options: &FitOptions,
    targets: &[f32],
) -> Result<Evaluation, NluError> {
    let mut stats = (0usize, 0.0f64);
    let texts = |ex: &[Example]| ex.iter().map(|e| e.text.clone()).collect::<Vec<_>>();
    let (tr, dv, te) = (texts(&data.train), texts(&data.dev), texts(&data.test));
    let xtr = embed(encoder, cache, &refs(&tr), &mut stats)?;
    let xdv = embed(encoder, cache, &refs(&dv), &mut stats)?;
    let xte = embed(encoder, cache, &refs(&te), &mut stats)?;
    evaluate_embedded(data, [&xtr, &xdv, &xte], stats, options, targets).map(|(e, _)| e)
}

/// [`evaluate_dataset`] on embeddings computed elsewhere (`x`: train, dev, test; `stats`: texts
/// embedded and seconds); also returns the fitted classifier.
pub(crate) fn evaluate_embedded(
    data: &Dataset,
    x: [&Embeddings; 3],
    stats: (usize, f64),
    options: &FitOptions,
    targets: &[f32],
) -> Result<(Evaluation, Fitted), NluError> {
    let names: Vec<String> = data.intents().into_iter().map(String::from).collect();
    let [xtr, xdv, xte] = x;
    let (ytr, ydv, yte) = (
        label_ids(&data.train, &names),
        label_ids(&data.dev, &names),
        label_ids(&data.test, &names),
    );

    let t = Instant::now();
    let fitted = fit(
        xtr,
        &ytr,
        names.len(),
        Calibration::HeldOut {
            x: xdv,
            labels: &ydv,
        },
        options,
    )?;
    let train_seconds = t.elapsed().as_secs_f64();
    let (preds, chosen) = predict(&fitted, names.len(), &names, xte, &yte);
    let test_texts: Vec<&str> = data.test.iter().map(|e| e.text.as_str()).collect();
    let evaluation = Evaluation {
        mistakes: confident_mistakes(&preds, &test_texts),
        name: data.name.clone(),
        locale: data.locale.clone(),
        train_examples: data.train.len(),
        test_examples: data.test.len(),
        intents: names.len(),
        report: evaluate(&preds, targets),
        chosen_threshold: chosen,
        train_seconds,
        embedded_texts: stats.0,
        embed_texts_per_second: (stats.1 > 0.0).then(|| stats.0 as f64 / stats.1),
    };
    Ok((evaluation, fitted))
}

/// k-fold cross-validation of the catalog: each fold's model is trained (and calibrated by an inner
/// cross-validation, as `madoguchi train` does) on the other folds, then judged on the fold.
pub fn evaluate_catalog(
    encoder: &dyn Encoder,
    cache: &mut EmbeddingCache,
    catalog: &Catalog,
    data: &TrainingSet,
    k: usize,
    options: &FitOptions,
    targets: &[f32],
) -> Result<Evaluation, NluError> {
    let names = catalog.names();
    let (texts, _) = data.texts_and_labels(&names);
    let mut stats = (0usize, 0.0f64);
    let x = embed(encoder, cache, &texts, &mut stats)?;
    let folds = CatalogFolds {
        catalog,
        data,
        k,
        options,
        targets,
    };
    folds.cross_validate(stats, |_| {
        Ok(FoldVectors {
            x: x.clone(),
            unseen: None,
        })
    })
}

/// One fold's vectors of every catalog text, and which texts its encoder never trained on (None:
/// a base encoder, every text is new to it).
pub(crate) struct FoldVectors {
    pub x: Embeddings,
    pub unseen: Option<Vec<bool>>,
}

/// The catalog's cross-validation, whichever encoder gives each fold its vectors.
pub(crate) struct CatalogFolds<'a> {
    pub catalog: &'a Catalog,
    pub data: &'a TrainingSet,
    pub k: usize,
    pub options: &'a FitOptions,
    pub targets: &'a [f32],
}

impl CatalogFolds<'_> {
    /// Runs every fold; `vectors(held_out)` gives the vectors of every text for the fold whose
    /// texts are `held_out` (an encoder fine-tuned on the other folds may give new ones each time).
    /// Each fold's model is calibrated as `madoguchi train` would calibrate it with that encoder.
    pub(crate) fn cross_validate(
        &self,
        stats: (usize, f64),
        mut vectors: impl FnMut(&HashSet<usize>) -> Result<FoldVectors, NluError>,
    ) -> Result<Evaluation, NluError> {
        let names = self.catalog.names();
        let (texts, labels) = self.data.texts_and_labels(&names);
        // Predictions are reported by label text, like those of the public datasets.
        let label_names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let t = Instant::now();
        let mut preds = Vec::with_capacity(labels.len());
        // The texts of `preds`, in their order (each fold's held-out texts by index).
        let mut pred_texts: Vec<&str> = Vec::with_capacity(labels.len());
        let (mut answered, mut correct) = (0.0f32, 0.0f32);
        let mut thresholds = Vec::new();
        for fold in folds(&labels, self.k, self.options.seed) {
            let in_fold: HashSet<usize> = fold.iter().copied().collect();
            let FoldVectors { x, unseen } = vectors(&in_fold)?;
            let (mut xt, mut yt) = (Embeddings::new(x.dim), Vec::new());
            let (mut xh, mut yh) = (Embeddings::new(x.dim), Vec::new());
            for (i, label) in labels.iter().enumerate() {
                if in_fold.contains(&i) {
                    xh.push(x.row(i));
                    yh.push(*label);
                    pred_texts.push(texts[i]);
                } else {
                    xt.push(x.row(i));
                    yt.push(*label);
                }
            }
            // The training folds' share of the mask, in the order of `xt`.
            let unseen_t: Option<Vec<bool>> = unseen.map(|u| {
                (0..labels.len())
                    .filter(|i| !in_fold.contains(i))
                    .map(|i| u[i])
                    .collect()
            });
            let calibration = Calibration::cross_validation(unseen_t.as_deref());
            let options = self.options.for_catalog(self.catalog);
            let fitted = fit(&xt, &yt, names.len(), calibration, &options)?;
            let (p, outcome) = predict(&fitted, names.len(), &label_names, &xh, &yh);
            answered += outcome.coverage * xh.len() as f32;
            correct += outcome.precision * outcome.coverage * xh.len() as f32;
            thresholds.push((outcome.answer_threshold, outcome.similarity_threshold));
            preds.extend(p);
        }
        let n = thresholds.len().max(1) as f32;
        let total = labels.len();
        let chosen = ThresholdOutcome {
            answer_threshold: thresholds.iter().map(|t| t.0).sum::<f32>() / n,
            similarity_threshold: thresholds.iter().map(|t| t.1).sum::<f32>() / n,
            precision: if answered > 0.0 {
                correct / answered
            } else {
                0.0
            },
            coverage: answered / total.max(1) as f32,
        };
        let mut locales: BTreeMap<&str, usize> = BTreeMap::new();
        for u in &self.data.examples {
            *locales.entry(u.locale.as_str()).or_default() += 1;
        }
        Ok(Evaluation {
            name: "catalog".into(),
            locale: locales.keys().copied().collect::<Vec<_>>().join("+"),
            train_examples: total - total / self.k.max(2),
            test_examples: total,
            intents: names.len(),
            report: evaluate(&preds, self.targets),
            mistakes: confident_mistakes(&preds, &pred_texts),
            chosen_threshold: chosen,
            train_seconds: t.elapsed().as_secs_f64(),
            embedded_texts: stats.0,
            embed_texts_per_second: (stats.1 > 0.0).then(|| stats.0 as f64 / stats.1),
        })
    }
}
