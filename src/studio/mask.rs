//! Masking personal data before a customer message becomes training data: order numbers, e-mail
//! addresses, phone and tracking numbers (the dialogue's entity patterns, `intents/_entities.yaml`)
//! become `{order_id}`-style placeholders, so the model learns the shape of the message and no
//! customer's data lands in a file that may be committed to git.
use crate::dialogue::EntityExtractor;

/// The entities that are personal data (others, such as dates, are kept).
pub const PERSONAL_ENTITIES: &[&str] = &["order_id", "email", "phone", "tracking_number"];

/// `text` with every personal entity replaced by `{name}`. The result is in NFKC form (as the
/// extractor reads messages) when anything was masked, else `text` unchanged.
pub fn mask_personal_data(extractor: &EntityExtractor, text: &str) -> String {
    let extraction = extractor.extract(text);
    let mut spans: Vec<(std::ops::Range<usize>, &str)> = Vec::new();
    for range in &extraction.claimed {
        let piece = &extraction.text[range.clone()];
        // A claimed stretch belongs to the entity whose (first) value was found there, or to the
        // one whose value it repeats.
        let owner = extraction
            .found
            .iter()
            .find(|f| f.span == *range)
            .or_else(|| {
                extraction
                    .found
                    .iter()
                    .find(|f| extraction.text[f.span.clone()] == *piece)
            });
        if let Some(found) = owner {
            if PERSONAL_ENTITIES.contains(&found.name.as_str()) {
                let span = if found.name == "order_id" {
                    order_number_span(&extraction.text, range.clone())
                } else {
                    range.clone()
                };
                spans.push((span, found.name.as_str()));
            }
        }
    }
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(extraction.text.len());
    let mut at = 0;
    for (range, name) in spans {
        if range.start < at {
            continue;
        }
        out.push_str(&extraction.text[at..range.start]);
        out.push('{');
        out.push_str(name);
        out.push('}');
        at = range.end;
    }
    out.push_str(&extraction.text[at..]);
    out
}

/// An order-number pattern may match its lead-in ("order MD12345678,", "注文番号12345678"): keep
/// the words and mask only the number (digits, with an `MD` prefix and separators in between).
fn order_number_span(text: &str, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let piece = &text[range.clone()];
    let (Some(first), Some(last)) = (
        piece.find(|c: char| c.is_ascii_digit()),
        piece.rfind(|c: char| c.is_ascii_digit()),
    ) else {
        return range;
    };
    let before = &piece[..first];
    let trimmed = before.trim_end_matches([' ', '-']);
    let start = if trimmed.to_ascii_uppercase().ends_with("MD") {
        trimmed.len() - 2
    } else {
        first
    };
    range.start + start..range.start + last + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_number_of_an_order_match_is_masked() {
        let text = "order MD12345678, thanks";
        let span = order_number_span(text, 0..17);
        assert_eq!(&text[span], "MD12345678");
        let text = "注文番号12345678です";
        let span = order_number_span(text, 0..text.len());
        assert_eq!(&text[span], "12345678");
        let text = "no md 1234-5678 here";
        let span = order_number_span(text, 3..15);
        assert_eq!(&text[span], "md 1234-5678");
    }
}
