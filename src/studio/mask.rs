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
                spans.push((range.clone(), found.name.as_str()));
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
