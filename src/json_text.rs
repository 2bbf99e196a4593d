//! How a JSON value is named in an error message: its kind and a short rendering, so every
//! message of the scenario loader, the front ends and the importers reads alike.

use serde_json::Value;

/// The JSON kind of a value: `null`, `a boolean`, `a number`, `a string`, `an array`,
/// `an object`.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value as JSON, cut after `max` bytes (at a character boundary) with `...`.
pub(crate) fn show_max(v: &Value, max: usize) -> String {
    let mut text = v.to_string();
    if text.len() > max {
        let cut = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

/// The value as JSON, cut after 60 bytes.
pub(crate) fn show(v: &Value) -> String {
    show_max(v, 60)
}

/// `a number `1e999``: the kind, then the value in backticks.
pub(crate) fn describe(v: &Value) -> String {
    format!("{} `{}`", kind(v), show(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        let v = Value::String("é".repeat(40));
        let s = show(&v);
        assert!(s.ends_with("...") && s.len() <= 63, "{s}");
        assert_eq!(describe(&serde_json::json!(7)), "a number `7`");
    }
}
