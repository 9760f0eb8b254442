//! The one service configuration (`madoguchi serve`, `madoguchi chat`): every option is a flag with
//! an `MADOGUCHI_*` environment variable, over an optional TOML file (`--config`), over defaults.
//! Precedence: flag > env > file > default. Nothing below this module reads the environment.
//!
//! [`ServeArgs`] is what clap and the TOML file fill in (every field optional); [`Config`] is the
//! resolved, validated result the service runs with. Secrets never appear in [`Config::redacted`]
//! or in `Debug`.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

/// Service options, as given on the command line, in the environment or in the TOML file.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeArgs {
    /// TOML file with any of these options (keys as the long flags, with `_` for `-`).
    #[arg(long, env = "MADOGUCHI_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "MADOGUCHI_BIND")]
    pub bind: Option<SocketAddr>,
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "MADOGUCHI_DATABASE")]
    pub database: Option<String>,
    /// Bearer key of the developer API (`/v1/classify`); the API answers 401 when unset.
    #[arg(long, env = "MADOGUCHI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Bearer key of the agent API (`/v1/handoffs`); the API answers 401 when unset.
    #[arg(long, env = "MADOGUCHI_AGENT_KEY", hide_env_values = true)]
    pub agent_key: Option<String>,
    /// Messages that may wait for the classifier; beyond it the API answers 429.
    #[arg(long, env = "MADOGUCHI_QUEUE_CAPACITY")]
    pub queue_capacity: Option<usize>,
    /// Most messages classified in one forward pass (dynamic batching).
    #[arg(long, env = "MADOGUCHI_MAX_BATCH")]
    pub max_batch: Option<usize>,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "MADOGUCHI_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Longest customer message in characters (422 beyond).
    #[arg(long, env = "MADOGUCHI_MAX_MESSAGE_CHARS")]
    pub max_message_chars: Option<usize>,
    /// Live streams (SSE) one conversation may have open at once (its tabs and devices).
    #[arg(long, env = "MADOGUCHI_MAX_STREAMS_PER_CONVERSATION")]
    pub max_streams_per_conversation: Option<usize>,
    /// Live streams the server keeps open in total (customers and agent consoles).
    #[arg(long, env = "MADOGUCHI_MAX_STREAMS")]
    pub max_streams: Option<usize>,
    /// Average minutes a person needs per waiting ticket (for the expected wait told to customers).
    #[arg(long, env = "MADOGUCHI_MINUTES_PER_TICKET")]
    pub minutes_per_ticket: Option<f64>,
    /// URL that receives a signed JSON POST for every handoff (optional).
    #[arg(long, env = "MADOGUCHI_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// HMAC-SHA256 secret for `X-Madoguchi-Signature` (required with --webhook-url).
    #[arg(long, env = "MADOGUCHI_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Delivery attempts per webhook call (with exponential backoff from 1 s).
    #[arg(long, env = "MADOGUCHI_WEBHOOK_ATTEMPTS")]
    pub webhook_attempts: Option<u32>,
    /// Log format.
    #[arg(long, env = "MADOGUCHI_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Other sites that may embed the chat widget (comma-separated origins such as
    /// `https://shop.example`): CORS on the customer API and `frame-ancestors` on our pages.
    /// Default: our own origin only.
    #[arg(long, env = "MADOGUCHI_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// Mark the console's session cookie `Secure` (set when users reach the service over HTTPS,
    /// e.g. behind a TLS-terminating proxy).
    #[arg(long, env = "MADOGUCHI_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,
    /// Password of the `admin` account `serve` creates when there is no account yet (default: a
    /// random one, printed once to the terminal).
    #[arg(long, env = "MADOGUCHI_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// LINE channel secret (Basic settings of the Messaging API channel): verifies the
    /// `x-line-signature` of webhooks. The LINE channel is on when this and the token are set.
    #[arg(long, env = "MADOGUCHI_LINE_CHANNEL_SECRET", hide_env_values = true)]
    pub line_channel_secret: Option<String>,
    /// LINE channel access token (long-lived, from the Messaging API tab): authorizes replies
    /// and pushes.
    #[arg(
        long,
        env = "MADOGUCHI_LINE_CHANNEL_ACCESS_TOKEN",
        hide_env_values = true
    )]
    pub line_channel_access_token: Option<String>,
    /// Base URL of the LINE Messaging API (default `https://api.line.me`).
    #[arg(long, env = "MADOGUCHI_LINE_API_BASE")]
    pub line_api_base: Option<String>,
    /// Minutes without a message after which a LINE user's next message starts a new
    /// conversation (while the bot has it; a conversation with a person never times out).
    #[arg(long, env = "MADOGUCHI_LINE_IDLE_MINUTES")]
    pub line_idle_minutes: Option<u64>,
    /// Delete conversations (with their messages, tickets, notes, outbox events, inbox decisions
    /// and LINE data) this many days after their last activity; checked hourly. Default: off
    /// (kept until erased).
    #[arg(long, env = "MADOGUCHI_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
    /// Conversations one client address may start per minute (a burst of this many, then one
    /// every 60/N s; 429 beyond; 0: no limit). Default 60.
    #[arg(long, env = "MADOGUCHI_CONVERSATIONS_PER_IP_PER_MINUTE")]
    pub conversations_per_ip_per_minute: Option<u32>,
    /// Customer messages one conversation may send per minute over the HTTP API (0: no limit).
    /// Default 30.
    #[arg(long, env = "MADOGUCHI_MESSAGES_PER_CONVERSATION_PER_MINUTE")]
    pub messages_per_conversation_per_minute: Option<u32>,
    /// `/v1/classify` calls one API key may make per minute (0: no limit). Default 600.
    #[arg(long, env = "MADOGUCHI_CLASSIFY_PER_KEY_PER_MINUTE")]
    pub classify_per_key_per_minute: Option<u32>,
    /// Console login attempts per account name per minute (0: no limit). Default 5.
    #[arg(long, env = "MADOGUCHI_LOGIN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE")]
    pub login_attempts_per_account_per_minute: Option<u32>,
    /// Console login attempts per client address per minute (0: no limit). Default 30.
    #[arg(long, env = "MADOGUCHI_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE")]
    pub login_attempts_per_address_per_minute: Option<u32>,
    /// Header naming the client's address, set by a reverse proxy in front of the service (such as
    /// `X-Forwarded-For`; its last entry is taken). Only set it when every request comes through
    /// that proxy: otherwise clients choose their own address. Default: the peer address.
    #[arg(long, env = "MADOGUCHI_TRUSTED_PROXY_HEADER")]
    pub trusted_proxy_header: Option<String>,
    /// Who may read `/metrics`, `/docs` and `/openapi.json`: `open` (anyone, the default) or
    /// `admin` (a key with the admin scope, or an admin's console session). `/healthz` and
    /// `/readyz` stay open.
    #[arg(long, env = "MADOGUCHI_OPERATIONS_ACCESS", value_enum)]
    pub operations_access: Option<OperationsAccess>,
}

/// Who may read the operations endpoints (`/metrics`, `/docs`, `/openapi.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationsAccess {
    /// Anyone who reaches the service.
    #[default]
    Open,
    /// A key with the admin scope (`Authorization: Bearer`) or an admin's console session.
    Admin,
}

/// The resolved configuration the service runs with.
#[derive(Clone, Serialize)]
pub struct Config {
    pub bind: SocketAddr,
    pub database: String,
    #[serde(serialize_with = "redact")]
    pub api_key: Option<String>,
    #[serde(serialize_with = "redact")]
    pub agent_key: Option<String>,
    pub queue_capacity: usize,
    pub max_batch: usize,
    pub body_limit: usize,
    pub max_message_chars: usize,
    pub max_streams_per_conversation: usize,
    pub max_streams: usize,
    pub minutes_per_ticket: f64,
    pub webhook_url: Option<String>,
    #[serde(serialize_with = "redact")]
    pub webhook_secret: Option<String>,
    pub webhook_attempts: u32,
    pub log_format: LogFormat,
    /// Origins (`scheme://host[:port]`) that may embed the widget, besides our own.
    pub allowed_origins: Vec<String>,
    pub secure_cookies: bool,
    #[serde(serialize_with = "redact")]
    pub admin_password: Option<String>,
    #[serde(serialize_with = "redact")]
    pub line_channel_secret: Option<String>,
    #[serde(serialize_with = "redact")]
    pub line_channel_access_token: Option<String>,
    pub line_api_base: String,
    pub line_idle_minutes: u64,
    /// Days after their last activity that conversations are deleted (None: kept).
    pub retention_days: Option<u32>,
    /// Rate limits, per minute (0: none).
    pub conversations_per_ip_per_minute: u32,
    pub messages_per_conversation_per_minute: u32,
    pub classify_per_key_per_minute: u32,
    pub login_attempts_per_account_per_minute: u32,
    pub login_attempts_per_address_per_minute: u32,
    /// The header (lowercase) a trusted reverse proxy puts the client's address in.
    pub trusted_proxy_header: Option<String>,
    pub operations_access: OperationsAccess,
}

fn redact<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("<redacted>"),
        None => s.serialize_none(),
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    BadFile { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: "sqlite://data/madoguchi.db".into(),
            api_key: None,
            agent_key: None,
            queue_capacity: 256,
            max_batch: 32,
            body_limit: 64 * 1024,
            max_message_chars: 4000,
            max_streams_per_conversation: 4,
            max_streams: 2000,
            minutes_per_ticket: 5.0,
            webhook_url: None,
            webhook_secret: None,
            webhook_attempts: 5,
            log_format: LogFormat::Text,
            allowed_origins: Vec::new(),
            secure_cookies: false,
            admin_password: None,
            line_channel_secret: None,
            line_channel_access_token: None,
            line_api_base: "https://api.line.me".into(),
            line_idle_minutes: 24 * 60,
            retention_days: None,
            conversations_per_ip_per_minute: 60,
            messages_per_conversation_per_minute: 30,
            classify_per_key_per_minute: 600,
            login_attempts_per_account_per_minute: 5,
            login_attempts_per_address_per_minute: 30,
            trusted_proxy_header: None,
            operations_access: OperationsAccess::Open,
        }
    }
}

impl ServeArgs {
    /// Reads a TOML file of options.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::BadFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// `self` (flags and env) over the `--config` file over the defaults, validated.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        let d = Config::default();
        let config = Config {
            bind: self.bind.or(file.bind).unwrap_or(d.bind),
            database: self.database.or(file.database).unwrap_or(d.database),
            api_key: self.api_key.or(file.api_key).filter(|k| !k.is_empty()),
            agent_key: self.agent_key.or(file.agent_key).filter(|k| !k.is_empty()),
            queue_capacity: self
                .queue_capacity
                .or(file.queue_capacity)
                .unwrap_or(d.queue_capacity),
            max_batch: self.max_batch.or(file.max_batch).unwrap_or(d.max_batch),
            body_limit: self.body_limit.or(file.body_limit).unwrap_or(d.body_limit),
            max_message_chars: self
                .max_message_chars
                .or(file.max_message_chars)
                .unwrap_or(d.max_message_chars),
            max_streams_per_conversation: self
                .max_streams_per_conversation
                .or(file.max_streams_per_conversation)
                .unwrap_or(d.max_streams_per_conversation),
            max_streams: self
                .max_streams
                .or(file.max_streams)
                .unwrap_or(d.max_streams),
            minutes_per_ticket: self
                .minutes_per_ticket
                .or(file.minutes_per_ticket)
                .unwrap_or(d.minutes_per_ticket),
            webhook_url: self.webhook_url.or(file.webhook_url),
            webhook_secret: self.webhook_secret.or(file.webhook_secret),
            webhook_attempts: self
                .webhook_attempts
                .or(file.webhook_attempts)
                .unwrap_or(d.webhook_attempts),
            log_format: self.log_format.or(file.log_format).unwrap_or_default(),
            allowed_origins: normalize_origins(self.allowed_origins.or(file.allowed_origins)),
            secure_cookies: self
                .secure_cookies
                .or(file.secure_cookies)
                .unwrap_or(d.secure_cookies),
            admin_password: self
                .admin_password
                .or(file.admin_password)
                .filter(|p| !p.is_empty()),
            line_channel_secret: self
                .line_channel_secret
                .or(file.line_channel_secret)
                .filter(|s| !s.is_empty()),
            line_channel_access_token: self
                .line_channel_access_token
                .or(file.line_channel_access_token)
                .filter(|t| !t.is_empty()),
            line_api_base: self
                .line_api_base
                .or(file.line_api_base)
                .map(|b| b.trim_end_matches('/').to_string())
                .unwrap_or(d.line_api_base),
            line_idle_minutes: self
                .line_idle_minutes
                .or(file.line_idle_minutes)
                .unwrap_or(d.line_idle_minutes),
            retention_days: self.retention_days.or(file.retention_days),
            conversations_per_ip_per_minute: self
                .conversations_per_ip_per_minute
                .or(file.conversations_per_ip_per_minute)
                .unwrap_or(d.conversations_per_ip_per_minute),
            messages_per_conversation_per_minute: self
                .messages_per_conversation_per_minute
                .or(file.messages_per_conversation_per_minute)
                .unwrap_or(d.messages_per_conversation_per_minute),
            classify_per_key_per_minute: self
                .classify_per_key_per_minute
                .or(file.classify_per_key_per_minute)
                .unwrap_or(d.classify_per_key_per_minute),
            login_attempts_per_account_per_minute: self
                .login_attempts_per_account_per_minute
                .or(file.login_attempts_per_account_per_minute)
                .unwrap_or(d.login_attempts_per_account_per_minute),
            login_attempts_per_address_per_minute: self
                .login_attempts_per_address_per_minute
                .or(file.login_attempts_per_address_per_minute)
                .unwrap_or(d.login_attempts_per_address_per_minute),
            trusted_proxy_header: self
                .trusted_proxy_header
                .or(file.trusted_proxy_header)
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
            operations_access: self
                .operations_access
                .or(file.operations_access)
                .unwrap_or_default(),
        };
        config.validate()?;
        Ok(config)
    }
}

impl Config {
    /// Checks values that would make the service misbehave.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.queue_capacity == 0 {
            return bad("queue_capacity must be at least 1");
        }
        if self.max_batch == 0 {
            return bad("max_batch must be at least 1");
        }
        if self.body_limit < 1024 {
            return bad("body_limit must be at least 1024 bytes");
        }
        if self.max_message_chars == 0 {
            return bad("max_message_chars must be at least 1");
        }
        if self.max_streams_per_conversation == 0 || self.max_streams == 0 {
            return bad("max_streams_per_conversation and max_streams must be at least 1");
        }
        if !(self.minutes_per_ticket.is_finite() && self.minutes_per_ticket >= 0.0) {
            return bad("minutes_per_ticket must be a non-negative number");
        }
        if let Some(origin) = self.allowed_origins.iter().find(|o| !is_origin(o)) {
            return Err(ConfigError::Invalid(format!(
                "allowed_origins: {origin:?} is not an origin like https://shop.example"
            )));
        }
        if self.webhook_url.is_some() && self.webhook_secret.as_deref().unwrap_or("").is_empty() {
            return bad("webhook_url needs webhook_secret (the HMAC key)");
        }
        if self.line_channel_secret.is_some() != self.line_channel_access_token.is_some() {
            return bad(
                "the LINE channel needs both line_channel_secret and line_channel_access_token",
            );
        }
        if !(self.line_api_base.starts_with("https://")
            || self.line_api_base.starts_with("http://"))
        {
            return bad("line_api_base must be an http(s) URL such as https://api.line.me");
        }
        if self.line_idle_minutes == 0 {
            return bad("line_idle_minutes must be at least 1");
        }
        if self.retention_days == Some(0) {
            return bad("retention_days must be at least 1 (leave it unset to keep conversations)");
        }
        if let Some(h) = &self.trusted_proxy_header {
            if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(ConfigError::Invalid(format!(
                    "trusted_proxy_header: {h:?} is not a header name"
                )));
            }
        }
        Ok(())
    }

    /// The configuration as one JSON line with secrets replaced by `<redacted>` (for the start log).
    /// Credentials in the database URL are masked too.
    pub fn redacted(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(db) = v.get_mut("database") {
            *db = serde_json::Value::String(mask_url_password(&self.database));
        }
        v.to_string()
    }
}

/// Trimmed, non-empty origins without a trailing slash.
fn normalize_origins(origins: Option<Vec<String>>) -> Vec<String> {
    origins
        .unwrap_or_default()
        .iter()
        .map(|o| o.trim().trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .collect()
}

/// `http(s)://host[:port]` with nothing after the authority (what browsers send as `Origin`).
fn is_origin(origin: &str) -> bool {
    let Some(authority) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// `scheme://user:secret@host` → `scheme://user:<redacted>@host`.
fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((creds, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match creds.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "database = \"sqlite://file.db\"\nqueue_capacity = 7\napi_key = \"k\"\n",
        )
        .expect("write");
        let args = ServeArgs {
            config: Some(path),
            queue_capacity: Some(9),
            ..Default::default()
        };
        let c = args.resolve().expect("resolve");
        assert_eq!(c.queue_capacity, 9);
        assert_eq!(c.database, "sqlite://file.db");
        assert_eq!(c.api_key.as_deref(), Some("k"));
        assert_eq!(c.max_batch, 32);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.toml");
        std::fs::write(&path, "no_such_option = 1\n").expect("write");
        let err = ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        }
        .resolve()
        .expect_err("unknown key");
        assert!(err.to_string().contains("m.toml"), "{err}");
        let err = ServeArgs {
            queue_capacity: Some(0),
            ..Default::default()
        }
        .resolve()
        .expect_err("zero capacity");
        assert!(err.to_string().contains("queue_capacity"), "{err}");
    }

    #[test]
    fn allowed_origins_are_trimmed_and_checked() {
        let c = ServeArgs {
            allowed_origins: Some(vec![" https://shop.example/ ".into(), "".into()]),
            ..Default::default()
        }
        .resolve()
        .expect("resolve");
        assert_eq!(c.allowed_origins, vec!["https://shop.example".to_string()]);
        let err = ServeArgs {
            allowed_origins: Some(vec!["shop.example/path".into()]),
            ..Default::default()
        }
        .resolve()
        .expect_err("not an origin");
        assert!(err.to_string().contains("allowed_origins"), "{err}");
    }

    #[test]
    fn the_line_channel_needs_secret_and_token_together() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "line_channel_secret = \"s\"\nline_channel_access_token = \"t\"\nline_api_base = \"http://127.0.0.1:9/\"\n",
        )
        .expect("write");
        let c = ServeArgs {
            config: Some(path),
            line_idle_minutes: Some(30),
            ..Default::default()
        }
        .resolve()
        .expect("resolve");
        assert_eq!(c.line_channel_secret.as_deref(), Some("s"));
        assert_eq!(c.line_api_base, "http://127.0.0.1:9");
        assert_eq!(c.line_idle_minutes, 30);
        assert_eq!(Config::default().line_api_base, "https://api.line.me");
        let err = ServeArgs {
            line_channel_secret: Some("s".into()),
            ..Default::default()
        }
        .resolve()
        .expect_err("no token");
        assert!(
            err.to_string().contains("line_channel_access_token"),
            "{err}"
        );
    }

    #[test]
    fn rate_limits_and_access_come_from_the_file_and_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "conversations_per_ip_per_minute = 0\ntrusted_proxy_header = \" X-Forwarded-For \"\noperations_access = \"admin\"\n",
        )
        .expect("write");
        let c = ServeArgs {
            config: Some(path),
            classify_per_key_per_minute: Some(7),
            ..Default::default()
        }
        .resolve()
        .expect("resolve");
        assert_eq!(c.conversations_per_ip_per_minute, 0);
        assert_eq!(c.classify_per_key_per_minute, 7);
        assert_eq!(c.messages_per_conversation_per_minute, 30);
        assert_eq!(c.trusted_proxy_header.as_deref(), Some("x-forwarded-for"));
        assert_eq!(c.operations_access, OperationsAccess::Admin);
        let err = ServeArgs {
            trusted_proxy_header: Some("not a header".into()),
            ..Default::default()
        }
        .resolve()
        .expect_err("bad header");
        assert!(err.to_string().contains("trusted_proxy_header"), "{err}");
    }

    #[test]
    fn secrets_are_redacted() {
        let c = Config {
            api_key: Some("sekrit-api".into()),
            agent_key: Some("sekrit-agent".into()),
            webhook_url: Some("https://h".into()),
            webhook_secret: Some("sekrit-hook".into()),
            line_channel_secret: Some("sekrit-line".into()),
            line_channel_access_token: Some("sekrit-line-token".into()),
            database: "postgres://bot:sekrit-db@db/m".into(),
            ..Default::default()
        };
        let shown = format!("{} {:?}", c.redacted(), c);
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
