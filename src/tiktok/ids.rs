//! TikTok ids as they appear in JSON: one rule for the export, saved media and pages.

use serde_json::Value;

/// An id as text: TikTok writes ids as strings, sometimes as numbers.
pub fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// True for an id a link or an export may name: digits only, at most 32 of them.
/// (Looser than [`is_post_id`]: a link's path says it is an id, a file name does not.)
pub fn is_numeric_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit())
}

/// True for text shaped like a post id: 15 to 21 digits (19 today).
pub fn is_post_id(s: &str) -> bool {
    (15..=21).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_as_strings_or_numbers() {
        assert_eq!(id_text(Some(&json!("7301"))).as_deref(), Some("7301"));
        assert_eq!(id_text(Some(&json!(7301))).as_deref(), Some("7301"));
        assert_eq!(id_text(Some(&json!(""))), None);
        assert_eq!(id_text(None), None);
        assert!(is_post_id("7301234567890123456"));
        assert!(!is_post_id("73012345678901234x6") && !is_post_id("7301"));
        assert!(is_numeric_id("7301") && !is_numeric_id("") && !is_numeric_id("7x"));
        assert!(!is_numeric_id(&"1".repeat(33)));
    }
}
