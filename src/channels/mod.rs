//! Messaging channels: each translates its platform's events into conversation service calls
//! ([`crate::conversation::Conversations`]) and the service's messages back into the platform's,
//! so a LINE conversation is a conversation like any other (classification, templates, handoff,
//! agent console, KPIs with its own `channel`). One module per channel; a later one (e-mail,
//! Slack, WhatsApp) is one more module beside [`line`].
pub mod line;
