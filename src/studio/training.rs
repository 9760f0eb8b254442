//! Training runs started from the studio: one at a time per replica, in the background, with
//! their stage and progress readable at any time ([`ModelService::training_status`]). A run
//! embeds through the shared embedding cache, trains and saves a new version (not published),
//! writes its compare report (cross-validation against the published configuration on the same
//! folds, and the regression set against the published model) and an audit entry.
use std::time::Instant;

use chrono::Utc;
use serde_json::json;

use super::models::ModelService;
use super::models_error::ModelError;
use super::report::{self, CompareReport, REPORT_FILE};
use super::training_state::{RunState, TrainOptions, TrainingStatus};
use crate::nlu::cache::EmbeddingCache;
use crate::nlu::finetune::delta::TrainedOn;
use crate::nlu::fit::{fit, FitOptions};
use crate::nlu::train::{train_catalog_with_held_out, TrainRequest, TrainedWithHeldOut};
use crate::nlu::versions::read_manifest;

impl ModelService {
    pub fn training_status(&self) -> TrainingStatus {
        self.training().get()
    }

    /// Starts a training run in the background; Conflict while one runs.
    pub fn start_training(
        &self,
        actor: &str,
        options: TrainOptions,
    ) -> Result<TrainingStatus, ModelError> {
        let mut fit_options = FitOptions::default();
        if let Some(p) = options.target_precision {
            if !(0.5..=1.0).contains(&p) {
                return Err(ModelError::Invalid(format!(
                    "target_precision {p} is not between 0.5 and 1"
                )));
            }
            fit_options.target_precision = p;
        }
        let status = self.training().claim(actor)?;
        let this = self.clone();
        let actor = actor.to_string();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = this.run_training(&actor, fit_options).await;
            let seconds = started.elapsed().as_secs_f64();
            this.training().update(|s| {
                s.finished_at = Some(Utc::now());
                s.seconds = Some(seconds);
                match result {
                    Ok(version) => {
                        s.state = RunState::Succeeded;
                        s.stage = "done".into();
                        s.progress = 1.0;
                        s.version = Some(version);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "training run failed");
                        s.state = RunState::Failed;
                        s.error = Some(e.to_string());
                    }
                }
            });
        });
        Ok(status)
    }

    async fn run_training(&self, actor: &str, options: FitOptions) -> Result<String, ModelError> {
        let published = self.conversations().store().published_model().await?;
        let this = self.clone();
        let published_version = published.as_ref().map(|p| p.version.clone());
        let mut report = tokio::task::spawn_blocking(move || {
            this.train_and_compare(options, published_version.as_deref())
        })
        .await
        .map_err(ModelError::internal)??;
        self.training().stage("regression", 0.95);
        report.regression = self.check_pins(&report.candidate).await?;
        let version = report.candidate.clone();
        self.save_report(&report).await?;
        let c = &report.candidate_cv.headline;
        let detail = json!({
            "examples": report.examples,
            "accuracy": c.accuracy,
            "coverage": c.coverage,
            "precision": c.precision,
            "published": report.published,
        });
        self.conversations()
            .store()
            .record_audit(actor, "model.train", &version, detail)
            .await?;
        Ok(version)
    }

    /// Trains, saves the version, and computes the cross-validation part of its report.
    fn train_and_compare(
        &self,
        options: FitOptions,
        published: Option<&str>,
    ) -> Result<CompareReport, ModelError> {
        let slot = self.training();
        let paths = self.paths();
        let (catalog, data, _warnings) = crate::catalog::load(&paths.intents, &paths.training_data)
            .map_err(|e| ModelError::Invalid(format!("the catalog cannot be trained on: {e}")))?;
        slot.stage("embedding", 0.1);
        let encoder = self.loader().encoder().map_err(ModelError::Internal)?;
        let mut cache =
            EmbeddingCache::open(&paths.cache, encoder.as_ref()).map_err(ModelError::internal)?;
        let mut sources: Vec<std::path::PathBuf> =
            catalog.intents.iter().map(|i| i.source.clone()).collect();
        let mut data_files: Vec<_> = data
            .examples
            .iter()
            .map(|u| u.path.as_ref().clone())
            .collect();
        data_files.dedup();
        sources.extend(data_files);
        let encoder_trained_on = TrainedOn::of_encoder(encoder.fingerprint(), &paths.models)
            .map_err(|e| ModelError::Internal(format!("cannot read the fine-tuned layers: {e}")))?;
        slot.stage("fitting", 0.3);
        let trained = train_catalog_with_held_out(
            &catalog,
            &data,
            TrainRequest {
                encoder: encoder.as_ref(),
                encoder_weights: paths.encoder_weights.as_deref(),
                cache: &mut cache,
                options: options.clone(),
                source_files: sources,
                progress: false,
                encoder_trained_on,
            },
        )
        .map_err(|e| ModelError::Internal(format!("training failed: {e}")))?;
        trained
            .model
            .save(&paths.models)
            .map_err(|e| ModelError::Internal(format!("cannot save the model: {e}")))?;
        slot.update(|s| s.version = Some(trained.model.manifest.version.clone()));
        slot.stage("comparing", 0.6);
        let names: Vec<String> = catalog
            .names()
            .iter()
            .map(|n| n.as_str().to_string())
            .collect();
        self.compare(&trained, &names, published)
    }

    /// Cross-validation of the candidate (the held-out scores of its own calibration) against
    /// the published configuration on the same folds of the same data.
    fn compare(
        &self,
        trained: &TrainedWithHeldOut,
        names: &[String],
        published: Option<&str>,
    ) -> Result<CompareReport, ModelError> {
        let m = &trained.model.manifest;
        let cand_preds = report::predictions(&trained.held_out, names, &m.thresholds);
        let (cand_side, cand_report) = report::side(&cand_preds, m.thresholds.answer);
        let published_manifest =
            published.and_then(|v| read_manifest(&self.paths().models, v).ok());
        let same = published_manifest
            .as_ref()
            .is_some_and(|p| same_options(&p.options, &m.options));
        let published_side = match &published_manifest {
            None => None,
            Some(_) if same => Some((cand_side.clone(), cand_report.clone())),
            Some(p) => {
                // The published configuration, on the candidate's folds.
                let mut options = p.options.clone();
                options.folds = m.options.folds;
                options.seed = m.options.seed;
                let fitted = fit(
                    &trained.embeddings,
                    &trained.labels,
                    names.len(),
                    trained.calibration(),
                    &options,
                )
                .map_err(|e| ModelError::Internal(format!("cross-validation failed: {e}")))?;
                let preds = report::predictions(&fitted.held_out, names, &fitted.thresholds);
                Some(report::side(&preds, fitted.thresholds.answer))
            }
        };
        Ok(CompareReport {
            candidate: m.version.clone(),
            published: published.map(str::to_string),
            created_at: m.created_at.clone(),
            examples: m.metrics.examples,
            folds: m.options.folds,
            same_configuration: same,
            intents: report::intent_rows(&cand_report, published_side.as_ref().map(|p| &p.1)),
            delta: published_side
                .as_ref()
                .map(|p| report::headline_delta(&cand_side.headline, &p.0.headline)),
            published_cv: published_side.map(|p| p.0),
            candidate_cv: cand_side,
            regression: Vec::new(),
        })
    }

    async fn save_report(&self, report: &CompareReport) -> Result<(), ModelError> {
        let path = self
            .paths()
            .models
            .join(&report.candidate)
            .join(REPORT_FILE);
        let text = serde_json::to_string(report).map_err(ModelError::internal)?;
        tokio::fs::write(&path, text)
            .await
            .map_err(|e| ModelError::Internal(format!("cannot write {}: {e}", path.display())))
    }

    /// The compare report of `version` (written by a studio training run).
    pub async fn report(&self, version: &str) -> Result<CompareReport, ModelError> {
        crate::nlu::versions::check_version_name(version)
            .map_err(|e| ModelError::Invalid(e.to_string()))?;
        let path = self.paths().models.join(version).join(REPORT_FILE);
        let text = tokio::fs::read_to_string(&path).await.map_err(|_| {
            ModelError::NotFound(format!(
                "no compare report for {version} (reports are written by studio training runs)"
            ))
        })?;
        serde_json::from_str(&text)
            .map_err(|e| ModelError::Internal(format!("{}: {e}", path.display())))
    }
}

/// Same configuration: the options serialise alike.
fn same_options(a: &FitOptions, b: &FitOptions) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}
