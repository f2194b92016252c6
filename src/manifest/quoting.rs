//! Strings that start like a number and that serde-saphyr's emitter quotes
//! because a YAML reader could take them for a number, a timestamp or a
//! document marker: `8080`, `1_000`, `0x1F`, `1:20`, `1e3`, `.5`,
//! `2024-01-01T00:00:00Z`, `--- x`. [`super::writer`] must judge them exactly
//! as serde-saphyr does (its `ser/quoting.rs`), or its bytes would differ:
//! the judgement is syntax only, Go's YAML readers' generous one (underscores
//! anywhere, one-digit dates, a sign after `0b`), without reading a value.
//! The writer's differential tests hold it to serde-saphyr's output.

use std::ops::RangeInclusive;

/// Whether serde-saphyr's emitter takes `s` for a number: as a YAML 1.1
/// reader would (`yaml_12` false, what it writes for), or a YAML 1.2 one
/// (what it also weighs keys against).
pub(super) fn number(s: &str, yaml_12: bool) -> bool {
    if !s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | '_')) {
        return false;
    }
    let unsigned = unsign(s);
    if unsigned.eq_ignore_ascii_case(".inf") || unsigned.eq_ignore_ascii_case(".nan") {
        return true;
    }
    if !yaml_12 {
        if sexagesimal(s) {
            return true;
        }
        // YAML 1.1's radix forms take `[digits_]+`, even underscores alone.
        if let Some((radix, digits)) = radix(unsigned)
            && run(digits, radix, false)
        {
            return true;
        }
    }
    // Go's readers drop underscores before they look for a number, even
    // around a radix prefix or an exponent.
    let joined;
    let s = if !yaml_12 && s.contains('_') {
        joined = s.replace('_', "");
        joined.as_str()
    } else {
        s
    };
    let unsigned = unsign(s);
    if let Some((radix, digits)) = radix(unsigned) {
        // And they take a sign after an unsigned `0b` or `0o` (`0b-1`).
        let digits = if !yaml_12 && (s.starts_with("0b") || s.starts_with("0o")) { unsign(digits) } else { digits };
        return run(digits, radix, true);
    }
    let mantissa = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) if run(unsign(exponent), 10, true) => mantissa,
        Some(_) => return false,
        None => unsigned,
    };
    match mantissa.split_once('.') {
        Some((whole, _)) if !whole.is_empty() && !run(whole, 10, true) => false,
        // YAML 1.1's float takes `[0-9.]*` after the point, and no digit before it.
        Some((_, fraction)) if !yaml_12 => fraction.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
        Some((whole, "")) => !whole.is_empty(),
        Some((_, fraction)) => run(fraction, 10, true),
        None => run(mantissa, 10, true),
    }
}

/// `s` without one leading sign.
fn unsign(s: &str) -> &str {
    s.strip_prefix(['+', '-']).unwrap_or(s)
}

/// The radix and digits of `0b…`, `0o…` or `0x…`.
fn radix(s: &str) -> Option<(u32, &str)> {
    let radix = match s.as_bytes() {
        [b'0', b'b' | b'B', ..] => 2,
        [b'0', b'o' | b'O', ..] => 8,
        [b'0', b'x' | b'X', ..] => 16,
        _ => return None,
    };
    Some((radix, &s[2..]))
}

/// Whether `s` is a non-empty run of `radix` digits and underscores; with
/// `strict`, each underscore between two digits.
fn run(s: &str, radix: u32, strict: bool) -> bool {
    let digit = |b: u8| char::from(b).is_digit(radix);
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.iter().enumerate().all(|(i, &b)| {
            digit(b)
                || (b == b'_'
                    && (!strict || (i > 0 && digit(bytes[i - 1]) && bytes.get(i + 1).is_some_and(|&n| digit(n)))))
        })
}

/// YAML 1.1's base-60 integers and floats (`1:20`, `-1:30:00.5`).
fn sexagesimal(s: &str) -> bool {
    let unsigned = unsign(s);
    let (integer, fraction) = match unsigned.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (unsigned, None),
    };
    let Some((first, rest)) = integer.split_once(':') else { return false };
    let digit_or_underscore = |b: u8| b.is_ascii_digit() || b == b'_';
    match first.as_bytes() {
        [] => return false,
        // An integer starts with 1-9, a float with any digit.
        [lead, ..] if !lead.is_ascii_digit() || (fraction.is_none() && *lead == b'0') => return false,
        _ if !first.bytes().all(digit_or_underscore) => return false,
        _ => {}
    }
    // Every later part is 0-59, in one or two digits.
    rest.split(':').all(|part| match part.as_bytes() {
        [units] => units.is_ascii_digit(),
        [tens, units] => matches!(tens, b'0'..=b'5') && units.is_ascii_digit(),
        _ => false,
    }) && fraction.is_none_or(|f| f.bytes().all(digit_or_underscore))
}

/// YAML 1.1's timestamps, syntax only, with Go's one-digit parts and comma
/// before a fraction: `2024-1-2`, `2024-01-02T03:04:05.6Z`,
/// `2024-01-02 3:04:05,6 +01:00`.
pub(super) fn timestamp(s: &str) -> bool {
    let mut rest = s;
    if !three_numbers(&mut rest, 4..=4, '-') {
        return false;
    }
    if rest.is_empty() {
        return true;
    }
    // The time follows a `T` or blanks.
    match rest.strip_prefix(['T', 't']) {
        Some(after) => rest = after,
        None => {
            let after = rest.trim_start_matches([' ', '\t']);
            if after.len() == rest.len() {
                return false;
            }
            rest = after;
        }
    }
    if !three_numbers(&mut rest, 1..=2, ':') {
        return false;
    }
    if take(&mut rest, '.') || take(&mut rest, ',') {
        digits(&mut rest, 0..=usize::MAX);
    }
    rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() || rest == "Z" {
        return true;
    }
    // A zone: `+1`, `-05`, `+01:00`.
    if !(take(&mut rest, '+') || take(&mut rest, '-')) || !digits(&mut rest, 1..=2) {
        return false;
    }
    if take(&mut rest, ':') && !digits(&mut rest, 2..=2) {
        return false;
    }
    rest.is_empty()
}

/// Takes three numbers joined by `joint` off the front of `s`, the first of
/// `first` digits and the others of one or two: a date's `2024-1-02`, a
/// time's `3:04:05`.
fn three_numbers(s: &mut &str, first: RangeInclusive<usize>, joint: char) -> bool {
    digits(s, first) && take(s, joint) && digits(s, 1..=2) && take(s, joint) && digits(s, 1..=2)
}

/// Takes `count` ASCII digits off the front of `s`, if that many are there.
fn digits(s: &mut &str, count: RangeInclusive<usize>) -> bool {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if !count.contains(&n) {
        return false;
    }
    *s = &s[n..];
    true
}

/// Takes `c` off the front of `s`, if it is there.
fn take(s: &mut &str, c: char) -> bool {
    match s.strip_prefix(c) {
        Some(rest) => {
            *s = rest;
            true
        }
        None => false,
    }
}

/// `---` or `...` alone or before a blank, which a reader takes for a document's start or end.
pub(super) fn document_marker(s: &str) -> bool {
    match s.strip_prefix("---").or_else(|| s.strip_prefix("...")) {
        Some(rest) => rest.bytes().next().is_none_or(|b| b.is_ascii_whitespace()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_serde_saphyr_judges_them() {
        for s in [
            "0",
            "-19",
            "+12",
            "01",
            "1_0",
            "1__0",
            "_1000",
            "1000_",
            "0b10",
            "-0B10",
            "0b1010_1010",
            "0b-1",
            "0o7",
            "0o_7",
            "0x3A",
            "+0X3A",
            "0x3_A",
            "0x3A_",
            "0x_",
            ".5",
            "+.5",
            "0.",
            ".",
            "1.2.3",
            "1..",
            "12e03",
            "12e0_3",
            "-2E+05",
            "12.34e-5",
            ".5e+1",
            "1:20",
            "-1:30:00.5",
            "190:20:30",
            ".inf",
            "-.INF",
            ".NaN",
            ".e5",
        ] {
            assert!(number(s, false), "{s:?} reads as a YAML 1.1 number");
        }
        for s in ["", "+", "-", "1e", "0x", "0b", "0x+1", "-0x-1", "1:60", "0:20", "1.5x", "5e6b1f", "1-2", "1Gi"] {
            assert!(!number(s, false), "{s:?} is no YAML 1.1 number");
        }
        // YAML 1.2 is stricter: no sexagesimal, underscores only between digits.
        for s in ["1:20", "1__0", "_1000", "0x3A_", ".", "1.2.3", "0b-1", ".e5"] {
            assert!(!number(s, true), "{s:?} is no YAML 1.2 number");
        }
        for s in ["1_0", "0x3_A", "0.", ".5", "-2E+05"] {
            assert!(number(s, true), "{s:?} reads as a YAML 1.2 number");
        }
    }

    #[test]
    fn timestamps_and_markers() {
        for s in [
            "2024-01-02",
            "2024-1-2",
            "2024-01-02T03:04:05Z",
            "2024-01-02t3:4:5",
            "2024-01-02 03:04:05.123456 +01:00",
            "2024-01-02\t03:04:05,5-5",
        ] {
            assert!(timestamp(s), "{s:?} is a timestamp");
        }
        for s in ["2024-01", "24-01-02", "2024-01-02x", "2024-01-02T03:04", "2024-01-02T03:04:05+1:0", "2024-001-02"] {
            assert!(!timestamp(s), "{s:?} is no timestamp");
        }
        assert!(document_marker("---") && document_marker("... x") && document_marker("---\tx"));
        assert!(!document_marker("---x") && !document_marker("..x") && !document_marker("-- -"));
    }
}
