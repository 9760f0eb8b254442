//! The longest text each field may hold: one place for every channel (the HTTP API, the web
//! pages, the LINE channel and the studio all go through the conversation service or check here).
//! A field over its limit is refused as `Invalid` (422 over HTTP), naming the field and the limit.
//! The customer's message limit is a setting (`max_message_chars`); the request body as a whole is
//! capped by `body_limit` (413).
use super::ConversationError;
use crate::catalog::Intent;

/// An agent's reply or note.
pub const MAX_AGENT_TEXT_CHARS: usize = 10_000;
/// A feedback or CSAT comment.
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// The customer metadata of a new conversation (`id`, `name`, `email`, …), as JSON.
pub const MAX_CUSTOMER_JSON_BYTES: usize = 8 * 1024;
/// An intent's description in the studio.
pub const MAX_INTENT_DESCRIPTION_CHARS: usize = 1_000;
/// One template of an intent (one answer in one locale).
pub const MAX_TEMPLATE_CHARS: usize = 4_000;
/// A follow-up question or a variable's prompt of an intent.
pub const MAX_PROMPT_CHARS: usize = 1_000;

/// `Invalid` when `text` has more than `max` characters.
pub fn check_chars(field: &str, text: &str, max: usize) -> Result<(), ConversationError> {
    let chars = text.chars().count();
    if chars > max {
        return Err(ConversationError::Invalid(format!(
            "{field} is {chars} characters long; the limit is {max}"
        )));
    }
    Ok(())
}

/// An optional comment.
pub fn check_comment(field: &str, comment: Option<&str>) -> Result<(), ConversationError> {
    match comment {
        Some(text) => check_chars(field, text, MAX_COMMENT_CHARS),
        None => Ok(()),
    }
}

/// The customer metadata of a new conversation.
pub fn check_customer(
    customer: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<(), ConversationError> {
    let Some(customer) = customer else {
        return Ok(());
    };
    let bytes = serde_json::to_string(customer)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if bytes > MAX_CUSTOMER_JSON_BYTES {
        return Err(ConversationError::Invalid(format!(
            "customer is {bytes} bytes of JSON; the limit is {MAX_CUSTOMER_JSON_BYTES}"
        )));
    }
    Ok(())
}

/// An intent edited in the studio: its description, templates and prompts.
pub fn check_intent(intent: &Intent) -> Result<(), ConversationError> {
    check_chars(
        "description",
        &intent.description,
        MAX_INTENT_DESCRIPTION_CHARS,
    )?;
    for (locale, templates) in &intent.templates {
        for (i, t) in templates.iter().enumerate() {
            check_chars(&format!("templates.{locale}[{i}]"), t, MAX_TEMPLATE_CHARS)?;
        }
    }
    for (locale, text) in &intent.follow_up {
        check_chars(&format!("follow_up.{locale}"), text, MAX_PROMPT_CHARS)?;
    }
    for (name, spec) in &intent.variables {
        for (locale, text) in &spec.prompt {
            let field = format!("variables.{name}.prompt.{locale}");
            check_chars(&field, text, MAX_PROMPT_CHARS)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_field_and_the_limit() {
        let err = check_chars("comment", &"あ".repeat(11), 10).expect_err("over");
        assert_eq!(
            err.to_string(),
            "comment is 11 characters long; the limit is 10"
        );
        assert!(check_chars("comment", &"あ".repeat(10), 10).is_ok());
        let mut big = serde_json::Map::new();
        big.insert("name".into(), "x".repeat(MAX_CUSTOMER_JSON_BYTES).into());
        assert!(check_customer(Some(&big)).is_err());
        assert!(check_customer(None).is_ok());
    }
}
