//! Logs and metrics: the tracing subscriber (text or JSON lines) and the Prometheus recorder, with
//! every metric name and histogram bucket in one place.
//!
//! The `metrics` facade is process-global by design (the macros record into one recorder), so the
//! Prometheus recorder is installed once per process and its handle kept in a `OnceLock`: several
//! servers in one process (the tests) share it. That is the only global.
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub const HTTP_REQUESTS: &str = "madoguchi_http_requests_total";
pub const HTTP_DURATION: &str = "madoguchi_http_request_duration_seconds";
pub const TURNS: &str = "madoguchi_turns_total";
pub const HANDOFFS: &str = "madoguchi_handoffs_total";
pub const STALE_TURNS: &str = "madoguchi_turns_recomputed_total";
pub const QUEUE_LENGTH: &str = "madoguchi_queue_length";
pub const QUEUE_WAIT: &str = "madoguchi_queue_wait_seconds";
pub const QUEUE_REJECTED: &str = "madoguchi_queue_rejected_total";
pub const INFERENCE_SECONDS: &str = "madoguchi_inference_seconds";
pub const BATCH_SIZE: &str = "madoguchi_inference_batch_size";
pub const INFERENCE_RESTARTS: &str = "madoguchi_inference_restarts_total";
pub const INFERENCE_READY: &str = "madoguchi_inference_ready";
pub const CSAT: &str = "madoguchi_csat_score";
pub const CONTAINMENT_RATE: &str = "madoguchi_containment_rate";
pub const HANDOFF_RATE: &str = "madoguchi_handoff_rate";
pub const HANDOFF_QUEUE_LENGTH: &str = "madoguchi_handoff_queue_length";
pub const HANDOFF_MEAN_WAIT: &str = "madoguchi_handoff_mean_wait_seconds";
pub const WEBHOOK_DELIVERIES: &str = "madoguchi_webhook_deliveries_total";
pub const TURNS_REPLAYED: &str = "madoguchi_turns_replayed_total";
pub const OUTBOX_PENDING: &str = "madoguchi_outbox_pending";
pub const OUTBOX_DEAD: &str = "madoguchi_outbox_dead_letters";
pub const STREAMS_REFUSED: &str = "madoguchi_streams_refused_total";
pub const RATE_LIMITED: &str = "madoguchi_rate_limited_total";

const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];
const CSAT_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0];

/// Installs the tracing subscriber (stderr). `filter` is an EnvFilter directive such as `info`.
/// Fails when a subscriber is already installed.
pub fn init_tracing(filter: &str, format: LogFormat) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_on_stderr())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    }
    .map_err(|e| e.to_string())
}

/// Colours only for a person at a terminal: logs sent to a file or a pipe stay plain text (and
/// `NO_COLOR` turns them off everywhere).
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The Prometheus recorder, installed on first use. None when another recorder was installed
/// first (then `/metrics` says so).
pub fn metrics() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), BATCH_BUCKETS)
                })
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(CSAT.into()), CSAT_BUCKETS));
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the Prometheus recorder");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route and status");
    describe_counter!(RATE_LIMITED, "Requests refused by a rate limit, by limit");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request latency");
    describe_counter!(TURNS, "Bot turns by action and intent");
    describe_counter!(HANDOFFS, "Handoffs to a person by reason");
    describe_counter!(
        STALE_TURNS,
        "Bot turns recomputed because the conversation changed meanwhile"
    );
    describe_gauge!(QUEUE_LENGTH, "Messages waiting for the classifier");
    describe_histogram!(
        QUEUE_WAIT,
        Unit::Seconds,
        "Time a message waits for the classifier"
    );
    describe_counter!(QUEUE_REJECTED, "Requests refused with 429 (queue full)");
    describe_histogram!(
        INFERENCE_SECONDS,
        Unit::Seconds,
        "Classifier time per batch"
    );
    describe_histogram!(BATCH_SIZE, "Messages per classifier batch");
    describe_counter!(
        INFERENCE_RESTARTS,
        "Inference worker restarts after a panic or a failed load"
    );
    describe_gauge!(
        INFERENCE_READY,
        "1 while the model is loaded and the inference worker takes jobs, else 0"
    );
    describe_histogram!(CSAT, "Customer satisfaction scores (1-5)");
    describe_gauge!(
        CONTAINMENT_RATE,
        "Share of conversations resolved without a person"
    );
    describe_gauge!(HANDOFF_RATE, "Share of conversations handed to a person");
    describe_gauge!(HANDOFF_QUEUE_LENGTH, "Handoff tickets waiting for a person");
    describe_gauge!(
        HANDOFF_MEAN_WAIT,
        Unit::Seconds,
        "Mean wait from handoff to a person claiming the ticket"
    );
    describe_counter!(WEBHOOK_DELIVERIES, "Webhook deliveries by outcome");
    describe_counter!(
        TURNS_REPLAYED,
        "Resent messages (same client_message_id) answered from the stored turn"
    );
    describe_gauge!(OUTBOX_PENDING, "Webhook events waiting for delivery");
    describe_gauge!(OUTBOX_DEAD, "Webhook events given up (dead letters)");
    describe_counter!(STREAMS_REFUSED, "Live streams refused (too many open)");
}
