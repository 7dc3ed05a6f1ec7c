//! A strict reader of the lines the daemon writes (its logfmt.rs): `key=value` pairs
//! separated by one space; a value is bare (printable ASCII without space, `=`, `"` or
//! `\`) or quoted, with exactly the escapes its encoder uses (`\"`, `\\`, `\n`, `\r`,
//! `\t`, and `\uXXXX` in lowercase hex for every other control character and
//! U+2028/U+2029). Anything else is an error: a raw control character, an unknown
//! escape, an unclosed quote, a doubled space. A key without `=` (what a cut can leave)
//! reads as a value of `None`.

use crate::is_line_breaking;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub key: String,
    /// The value, escapes undone; `None` for a key without `=`.
    pub value: Option<String>,
    /// How many bytes the value took in the line, quotes and escapes included.
    pub written_len: usize,
}

pub fn read(line: &str) -> Result<Vec<Pair>, String> {
    let mut pairs = Vec::new();
    let mut rest = line;
    loop {
        let end = rest.find([' ', '=']).unwrap_or(rest.len());
        let key = &rest[..end];
        if key.is_empty() {
            return Err(format!("an empty key at {rest:?}"));
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!("key {key:?} is not [a-z0-9_]"));
        }
        rest = &rest[end..];
        let (value, written_len) = match rest.strip_prefix('=') {
            None => (None, 0),
            Some(after) => match after.strip_prefix('"') {
                Some(quoted) => {
                    let (value, after_quote) = read_quoted(quoted)?;
                    let written = after.len() - after_quote.len();
                    rest = after_quote;
                    (Some(value), written)
                }
                None => {
                    let end = after.find(' ').unwrap_or(after.len());
                    let bare = &after[..end];
                    if let Some(b) = bare.bytes().find(|&b| {
                        !(0x21..=0x7e).contains(&b) || b == b'=' || b == b'"' || b == b'\\'
                    }) {
                        return Err(format!("bare value {bare:?} holds byte {b:#04x}"));
                    }
                    rest = &after[end..];
                    (Some(bare.to_string()), bare.len())
                }
            },
        };
        pairs.push(Pair {
            key: key.to_string(),
            value,
            written_len,
        });
        if rest.is_empty() {
            return Ok(pairs);
        }
        rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("no space after the value of {key:?}: {rest:?}"))?;
    }
}

/// The inside of a quoted value up to its closing quote; returns it unescaped and what
/// follows the quote.
fn read_quoted(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[at + 1..])),
            '\\' => {
                let decoded = match chars.next().map(|(_, c)| c) {
                    Some('"') => '"',
                    Some('\\') => '\\',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    Some('u') => {
                        let hex: String = (0..4)
                            .filter_map(|_| chars.next())
                            .map(|(_, c)| c)
                            .collect();
                        if hex.len() != 4
                            || !hex
                                .bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                        {
                            return Err(format!("bad \\u escape {hex:?}"));
                        }
                        let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                        let c = char::from_u32(code)
                            .ok_or_else(|| format!("\\u{hex} is not a character"))?;
                        if !is_line_breaking(c) || matches!(c, '\n' | '\r' | '\t') {
                            return Err(format!("\\u{hex} escapes a character that needs none"));
                        }
                        c
                    }
                    other => return Err(format!("unknown escape \\{other:?}")),
                };
                value.push(decoded);
            }
            c if is_line_breaking(c) => {
                return Err(format!("raw {c:?} inside quotes"));
            }
            c => value.push(c),
        }
    }
    Err(format!("an unclosed quote: {text:?}"))
}

/// How many bytes `value` takes as a logfmt value, by the rule the daemon's logfmt.rs documents:
/// quoted when empty or holding a byte <= space, `=`, `"`, `\`, DEL or non-ASCII.
pub fn written_len(value: &str) -> usize {
    if needs_quotes(value) {
        2 + value.chars().map(escaped_len).sum::<usize>()
    } else {
        value.len()
    }
}

pub fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .bytes()
            .any(|b| b <= b' ' || b == b'=' || b == b'"' || b == b'\\' || b >= 0x7f)
}

pub fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' => 2,
        c if is_line_breaking(c) => 6,
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_daemon_writes_and_nothing_else() {
        let pairs = read("event=x a=1 b=\"two words\" c=\"\\u001b\\n\" d").unwrap();
        let values: Vec<_> = pairs.iter().map(|p| p.value.clone()).collect();
        assert_eq!(
            values,
            [
                Some("x".into()),
                Some("1".into()),
                Some("two words".into()),
                Some("\u{1b}\n".into()),
                None
            ]
        );
        assert_eq!(pairs[2].written_len, 11);
        for bad in [
            "event=x  a=1",
            "event=x a=\"open",
            "event=x a=\"\\x\"",
            "event=x a=\"\\u000a\"",
            "event=x a=\"\\u0041\"",
            "event=x a=\"\n\"",
            "event=x a=b\"c",
            "event=x ",
            "event=x a=\"q\"b",
        ] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
    }
}
