//! The support leads' studio: the application logic behind `/studio` (its pages and JSON API
//! live in `web::studio`). Sits between the faces and the conversation service.
//!
//! - `kpis`: the KPI dashboard's figures over a date range, locale and channel.
pub mod kpis;
