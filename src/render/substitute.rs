//! `${VAR}` substitution with Flux post-build syntax: `${VAR}`,
//! `${VAR:=default}` (also `:-`), and `$${VAR}` for a literal `${VAR}`.
//! Strict like Flux's `substituteFrom` strict mode: an unset variable with no
//! default is an error. Whole-line comments are left untouched.

use crate::error::{Error, Result};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Substitutes variables in `text`; `source` names the input in errors.
pub fn substitute<'a>(text: &'a str, vars: &BTreeMap<String, String>, source: &str) -> Result<Cow<'a, str>> {
    substitute_from(text, vars, source, 0)
}

/// As [`substitute`], for text that starts at 0-based line `first_line` of `source`.
pub fn substitute_from<'a>(
    text: &'a str,
    vars: &BTreeMap<String, String>,
    source: &str,
    first_line: usize,
) -> Result<Cow<'a, str>> {
    if !text.contains("${") {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') || !line.contains("${") {
            out.push_str(line);
            continue;
        }
        substitute_line(line, vars, source, first_line + i + 1, &mut out)?;
    }
    Ok(Cow::Owned(out))
}

fn substitute_line(
    line: &str,
    vars: &BTreeMap<String, String>,
    source: &str,
    line_no: usize,
    out: &mut String,
) -> Result<()> {
    let mut rest = line;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if after.starts_with("$${") {
            out.push('$');
            rest = &after[2..];
            // Copy the escaped `{...}` through untouched.
            let end = rest.find('}').map_or(rest.len(), |e| e + 1);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        if !after.starts_with("${") {
            out.push('$');
            rest = &after[1..];
            continue;
        }
        let Some(close) = after.find('}') else {
            return Err(Error::input(
                source,
                format!("line {line_no}: unterminated ${{ (no closing }}); escape a literal one as $${{"),
            ));
        };
        let expr = &after[2..close];
        let (name, default) = split_default(expr);
        if !is_var_name(name) {
            return Err(Error::input(
                source,
                format!(
                    "line {line_no}: ${{{expr}}} is not a supported expression (use ${{NAME}} or ${{NAME:=default}}); escape a literal one as $${{{expr}}}"
                ),
            ));
        }
        match (vars.get(name), default) {
            (Some(v), Some((true, d))) if v.is_empty() => out.push_str(d),
            (Some(v), _) => out.push_str(v),
            (None, Some((_, d))) => out.push_str(d),
            (None, None) => {
                return Err(Error::input(
                    source,
                    format!(
                        "line {line_no}: variable ${{{name}}} is not set; pass --set {name}=VALUE, set it in the Application's plugin env, \
                         give a default with ${{{name}:=VALUE}}, or escape it as $${{{name}}}"
                    ),
                ));
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(())
}

/// Splits `NAME:=default` / `NAME:-default` (`true`: also when empty) and
/// `NAME=default` / `NAME-default` (only when unset).
fn split_default(expr: &str) -> (&str, Option<(bool, &str)>) {
    let Some(idx) = expr.find([':', '=', '-']) else { return (expr, None) };
    let (name, op) = expr.split_at(idx);
    for (prefix, when_empty) in [(":=", true), (":-", true), ("=", false), ("-", false)] {
        if let Some(d) = op.strip_prefix(prefix) {
            return (name, Some((when_empty, d)));
        }
    }
    (expr, None)
}

/// Checks a `${VAR}` name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("TAG".to_string(), "v2".to_string()), ("EMPTY".to_string(), String::new())].into()
    }

    #[test]
    fn substitutes_defaults_and_escapes() {
        let s = substitute("image: app:${TAG}\nn: ${REPLICAS:=3}\ne: ${EMPTY:=x}\nf: ${EMPTY=x}\nlit: $${TAG} and $HOME\n# ${UNSET} in a comment\n", &vars(), "f").unwrap();
        assert_eq!(s, "image: app:v2\nn: 3\ne: x\nf: \nlit: ${TAG} and $HOME\n# ${UNSET} in a comment\n");
    }

    #[test]
    fn unset_variable_is_an_error_naming_it() {
        let err = substitute("a: 1\nb: ${MISSING}\n", &vars(), "app/x.yaml").unwrap_err().to_string();
        assert!(err.contains("app/x.yaml") && err.contains("line 2") && err.contains("${MISSING}"), "{err}");
    }

    #[test]
    fn unsupported_and_unterminated() {
        assert!(substitute("a: ${A#b}\n", &vars(), "f").is_err());
        assert!(substitute("a: ${TAG\n", &vars(), "f").is_err());
        assert!(matches!(substitute("plain: text\n", &vars(), "f").unwrap(), Cow::Borrowed(_)));
    }
}
