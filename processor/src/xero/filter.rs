//! Values put into Xero's `where` filters. Xero documents string literals in double quotes but
//! not how a quote or backslash inside one is escaped (UNSURE: .NET's dynamic LINQ doubles the
//! quote, others take `\"`), so no escaping is attempted: a value is put in a literal only when
//! it holds neither, nor a control character, and is otherwise looked up another way. An outside
//! check put a customer's e-mail holding a quote into `EmailAddress=="…"` and landed the invoice
//! on another customer's contact.

/// `value` as a `where` string literal, or `None` when it cannot be one safely.
pub fn string_literal(value: &str) -> Option<String> {
    value
        .chars()
        .all(|c| !c.is_control() && c != '"' && c != '\\')
        .then(|| format!("\"{value}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_are_quoted_and_anything_that_could_end_the_literal_is_refused() {
        assert_eq!(
            string_literal("ann@example.com").as_deref(),
            Some("\"ann@example.com\"")
        );
        assert_eq!(
            string_literal("SH-1001-R7").as_deref(),
            Some("\"SH-1001-R7\"")
        );
        for hostile in [
            "x\" OR Name!=\"",
            "x\\\" OR 1==1",
            "a\u{0}b",
            "line\nbreak",
            "\"",
        ] {
            assert_eq!(string_literal(hostile), None, "{hostile:?}");
        }
    }
}
