//! The one shape every validation failure takes, on the phone and on the
//! server: a list of fields, each with the rule it broke and a sentence a
//! person can read. Also the text rules shared by several record kinds.
//!
//! The rules themselves are declared once, with `validator` attributes on the
//! record types; this module turns `validator`'s report into
//! [`InvalidInput`] with camelCase field paths that match the JSON.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use validator::{ValidationError, ValidationErrorsKind};

/// One broken rule on one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldViolation {
    /// The field's path as it is spelled in JSON, e.g. `title`,
    /// `reflection.howItWent` or `tags[2]`.
    pub field: String,
    /// A stable, machine-readable name of the rule, e.g. `length`, `range`,
    /// `not_blank`, `single_line`, `unknown_prompt`.
    pub rule: String,
    /// What is wrong, in a sentence for people.
    pub message: String,
}

/// Input that breaks one or more rules. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct InvalidInput {
    /// Every broken rule, sorted by field.
    pub violations: Vec<FieldViolation>,
}

impl InvalidInput {
    /// Input broken on one field.
    pub fn single(
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            violations: vec![FieldViolation {
                field: field.into(),
                rule: rule.into(),
                message: message.into(),
            }],
        }
    }

    /// Adds a violation, keeping the list sorted by field.
    pub fn push(
        &mut self,
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.violations.push(FieldViolation {
            field: field.into(),
            rule: rule.into(),
            message: message.into(),
        });
        self.violations
            .sort_by(|a, b| a.field.cmp(&b.field).then(a.rule.cmp(&b.rule)));
    }

    /// Whether `field` broke `rule`.
    pub fn has(&self, field: &str, rule: &str) -> bool {
        self.violations
            .iter()
            .any(|v| v.field == field && v.rule == rule)
    }

    /// Joins this report with the rules checked outside `validator`
    /// (cross-field and catalog rules) into one result.
    pub(crate) fn collect(
        declared: Result<(), validator::ValidationErrors>,
        extra: Vec<FieldViolation>,
    ) -> Result<(), InvalidInput> {
        let mut violations = match declared {
            Ok(()) => Vec::new(),
            Err(errors) => InvalidInput::from(errors).violations,
        };
        violations.extend(extra);
        if violations.is_empty() {
            return Ok(());
        }
        violations.sort_by(|a, b| a.field.cmp(&b.field).then(a.rule.cmp(&b.rule)));
        Err(InvalidInput { violations })
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.message)?;
        }
        Ok(())
    }
}

impl From<validator::ValidationErrors> for InvalidInput {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut violations = Vec::new();
        flatten(&errors, "", &mut violations);
        violations.sort_by(|a, b| a.field.cmp(&b.field).then(a.rule.cmp(&b.rule)));
        InvalidInput { violations }
    }
}

fn flatten(errors: &validator::ValidationErrors, prefix: &str, out: &mut Vec<FieldViolation>) {
    for (name, kind) in errors.errors() {
        let field = if prefix.is_empty() {
            camel_case(name)
        } else {
            format!("{prefix}.{}", camel_case(name))
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                out.extend(list.iter().map(|e| FieldViolation {
                    field: field.clone(),
                    rule: e.code.to_string(),
                    message: message_for(e),
                }));
            }
            ValidationErrorsKind::Struct(inner) => flatten(inner, &field, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten(inner, &format!("{field}[{index}]"), out);
                }
            }
        }
    }
}

/// `sleep_hours` → `sleepHours`: the Rust field name as JSON spells it.
fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn message_for(error: &ValidationError) -> String {
    if let Some(message) = &error.message {
        return message.to_string();
    }
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match error.code.as_ref() {
        "length" => {
            // `value` is the checked value: a list counts items, text counts
            // characters.
            let unit = match error.params.get("value") {
                Some(serde_json::Value::Array(_)) => "items",
                _ => "characters",
            };
            match (param("min"), param("max")) {
                (Some(min), Some(max)) if min == "1" => {
                    format!("must not be empty and at most {max} {unit}")
                }
                (Some(min), Some(max)) => format!("must be between {min} and {max} {unit}"),
                (None, Some(max)) => format!("must be at most {max} {unit}"),
                (Some(min), None) => format!("must be at least {min} {unit}"),
                (None, None) => "has the wrong length".to_owned(),
            }
        }
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (None, Some(max)) => format!("must be at most {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, None) => "is out of range".to_owned(),
        },
        other => format!("breaks the rule {other}"),
    }
}

/// Builds a `validator` error with its rule name and message.
pub(crate) fn rule(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

fn is_forbidden_in_text(c: char, multi_line: bool) -> bool {
    if multi_line && matches!(c, '\n' | '\r' | '\t') {
        return false;
    }
    // Control characters corrupt displays and logs; U+FEFF and the bidi
    // overrides can make a text read differently from what it holds.
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Whether `text` holds a character [`is_forbidden_in_text`] refuses.
///
/// Every such character is an ASCII control or is encoded in UTF-8 from
/// the lead byte C2 (the C1 controls), E2 (the bidi marks) or EF (U+FEFF).
/// A text without any of those bytes, the usual case, is passed after one
/// pass over its bytes, which the compiler vectorises; one with them is
/// checked character by character.
fn holds_forbidden(text: &str, multi_line: bool) -> bool {
    let suspect = |b: u8| {
        (b < 0x20 && !(multi_line && matches!(b, b'\n' | b'\r' | b'\t')))
            | matches!(b, 0x7F | 0xC2 | 0xE2 | 0xEF)
    };
    let may_hold = text
        .as_bytes()
        .chunks(64)
        .any(|chunk| chunk.iter().fold(false, |seen, &b| seen | suspect(b)));
    may_hold && text.chars().any(|c| is_forbidden_in_text(c, multi_line))
}

/// Text on one line with something in it: titles, tags, emotion words.
pub(crate) fn single_line(text: &str) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(rule("not_blank", "must contain more than white space"));
    }
    if holds_forbidden(text, false) {
        return Err(rule(
            "single_line",
            "must be one line without control characters",
        ));
    }
    Ok(())
}

/// Free text that may span lines but must say something: entry bodies,
/// intentions.
pub(crate) fn required_text(text: &str) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(rule("not_blank", "must contain more than white space"));
    }
    free_text(text)
}

/// Free text that may span lines and may be empty: notes, reflections.
pub(crate) fn free_text(text: &str) -> Result<(), ValidationError> {
    if holds_forbidden(text, true) {
        return Err(rule(
            "control_characters",
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(())
}

/// A list of short labels (tags, emotion words): each one line, 1–40
/// characters, no two the same ignoring case.
pub(crate) fn labels(items: &[String]) -> Result<(), ValidationError> {
    let mut seen = std::collections::HashSet::new();
    for item in items {
        single_line(item)?;
        if item.chars().count() > MAX_LABEL_CHARS {
            return Err(rule("label_length", "each must be at most 40 characters"));
        }
        if !seen.insert(item.trim().to_lowercase()) {
            return Err(rule("unique", "must not repeat the same word"));
        }
    }
    Ok(())
}

/// The longest tag or emotion word, in characters.
pub const MAX_LABEL_CHARS: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_pass_agrees_with_the_character_check() {
        let forbidden = [
            '\0', '\u{7}', '\u{1B}', '\u{7F}', '\u{85}', '\u{9F}', '\u{202A}', '\u{202E}',
            '\u{2066}', '\u{2069}', '\u{FEFF}',
        ];
        // Allowed, though some share a lead byte with forbidden ones.
        let allowed = [
            'a', ' ', '\u{A0}', 'é', '\u{2014}', '\u{2029}', '\u{2065}', '\u{FEFE}', '\u{FF01}',
            '😀',
        ];
        for multi_line in [false, true] {
            for c in forbidden.iter().chain(&allowed).chain(&['\n', '\r', '\t']) {
                // Placed past the first 64-byte chunk too.
                for prefix in [
                    "",
                    "a long enough line of plain text to fill one chunk of bytes ",
                ] {
                    let text = format!("{prefix}calm {c} now");
                    assert_eq!(
                        holds_forbidden(&text, multi_line),
                        text.chars().any(|c| is_forbidden_in_text(c, multi_line)),
                        "{c:?} multi_line={multi_line}"
                    );
                }
            }
        }
        assert!(holds_forbidden("x\u{202E}", true));
        assert!(!holds_forbidden("line\nline\ttab \u{2014} é", true));
    }

    #[test]
    fn camel_cases_rust_field_names() {
        assert_eq!(camel_case("sleep_hours"), "sleepHours");
        assert_eq!(camel_case("title"), "title");
        assert_eq!(camel_case("how_it_went"), "howItWent");
    }

    #[test]
    fn single_line_text_rules() {
        assert!(single_line("calm").is_ok());
        assert!(single_line("a b").is_ok());
        assert_eq!(single_line("  ").unwrap_err().code, "not_blank");
        assert_eq!(single_line("").unwrap_err().code, "not_blank");
        assert_eq!(single_line("two\nlines").unwrap_err().code, "single_line");
        assert_eq!(single_line("bell\u{7}").unwrap_err().code, "single_line");
        assert_eq!(
            single_line("evil\u{202E}txt").unwrap_err().code,
            "single_line"
        );
    }

    #[test]
    fn free_text_allows_line_breaks_but_not_control_characters() {
        assert!(free_text("").is_ok());
        assert!(free_text("line one\nline two\r\n\tindented").is_ok());
        assert_eq!(free_text("nul\0").unwrap_err().code, "control_characters");
        assert_eq!(required_text(" \n\t").unwrap_err().code, "not_blank");
        assert!(required_text("x").is_ok());
    }

    #[test]
    fn label_lists() {
        let ok = vec!["hope".to_owned(), "fear".to_owned()];
        assert!(labels(&ok).is_ok());
        let repeated = vec!["Hope".to_owned(), "hope".to_owned()];
        assert_eq!(labels(&repeated).unwrap_err().code, "unique");
        assert!(labels(&["x".repeat(40)]).is_ok());
        assert_eq!(labels(&["x".repeat(41)]).unwrap_err().code, "label_length");
        assert_eq!(labels(&[" ".to_owned()]).unwrap_err().code, "not_blank");
    }

    #[test]
    fn display_lists_every_field() {
        let mut invalid = InvalidInput::single("mood", "range", "must be between 0 and 10");
        invalid.push("body", "not_blank", "must contain more than white space");
        assert_eq!(
            invalid.to_string(),
            "body: must contain more than white space; mood: must be between 0 and 10"
        );
        assert!(invalid.has("mood", "range"));
        assert!(!invalid.has("mood", "length"));
    }
}
