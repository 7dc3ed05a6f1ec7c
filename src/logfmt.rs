//! logfmt, both ways: the encoder every event line is built with (`Line`, in a fixed
//! buffer, so that logging a crossing allocates nothing) and the decoder that reads a
//! line back into pairs (`pairs`, `unescape`: journald's fields are the line read back).
//!
//! A value is bare when it is printable ASCII without space, `=`, `"` or `\`; else it
//! is quoted, with `\"`, `\\`, `\n`, `\r`, `\t` and `\uXXXX` escapes, so a line never
//! holds a control character and never a second `event=` that was not ours. A line that
//! does not fit is cut with a mark, never silently; the line budget (what a trigger line
//! may take, header and all, for BusyBox's 256-byte reads) is here too, with the room it
//! leaves a `cgroup=` value.

use std::fmt::{self, Write};

/// The longest body we send. RFC 3164 caps a whole datagram at 1024 bytes; the header
/// (`<PRI>Mmm dd hh:mm:ss IDENT[PID]: `) takes at most about 70 of them.
pub const LINE_CAPACITY: usize = 900;
/// What ends a line that did not fit, so a cut is never silent.
const TRUNCATION_MARK: &str = " truncated=1";
/// What a trigger line must fit in, header and all: BusyBox syslogd reads 256 bytes.
pub const LINE_BUDGET: usize = 240;
/// The longest header with the default ident: `<191>Mmm dd hh:mm:ss psi-syslogd[4194304]: `
/// (priority 191 is local7.debug; 4194304 is Linux's largest pid).
pub const HEADER_MAX: usize = 43;
/// The least room a `cgroup=` value gets, quotes and escapes included. The longest
/// ordinary trigger line, `event=ongoing` with the kernel's largest thresholds, 100%
/// averages, a day and 99999 crossings, pid 4194304 and the default ident, takes 197
/// bytes before ` cgroup=`, which leaves this much of `LINE_BUDGET` (the header's test,
/// sink/header.rs, measures it). Shorter lines leave the cgroup more.
pub const CGROUP_VALUE_MIN: usize = 35;

/// The room a `cgroup=` value has in a line whose body already holds `body_len` bytes:
/// what `LINE_BUDGET` leaves after the longest header and ` cgroup=`, never less than
/// `CGROUP_VALUE_MIN` (a custom ident, a `name=` or a long reason can then take a line
/// past the budget, by at most what they add).
pub fn cgroup_budget(body_len: usize) -> usize {
    LINE_BUDGET
        .saturating_sub(HEADER_MAX + body_len + " cgroup=".len())
        .max(CGROUP_VALUE_MIN)
}
/// What replaces the beginning of a cgroup path that was cut. Paths begin with `/`, so
/// a value that begins with this was cut.
pub const CUT_MARK: &str = "...";

/// One event's text.
pub struct Line {
    bytes: [u8; LINE_CAPACITY],
    len: usize,
    full: bool,
    /// Inside a quoted value: a cut there closes the quote before the mark.
    quoted: bool,
    /// Where the cut fell: how much the line kept, before the quote and mark it added.
    kept: usize,
}

impl Line {
    /// A line that starts `event=NAME`.
    pub fn event(name: &str) -> Line {
        let mut line = Line {
            bytes: [0; LINE_CAPACITY],
            len: 0,
            full: false,
            quoted: false,
            kept: 0,
        };
        line.push("event=");
        line.push(name);
        line
    }

    pub fn as_str(&self) -> &str {
        // Only whole `str`s are pushed and cuts fall on char boundaries.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("event=invalid")
    }

    /// Appends ` key=value` for a value we produce ourselves (numbers, fixed names).
    pub fn field(&mut self, key: &str, value: impl fmt::Display) -> &mut Line {
        self.pair(key, |line| {
            let _ = write!(line, "{value}");
        })
    }

    /// Appends ` key=value` for text from outside, quoted and escaped when needed.
    pub fn text(&mut self, key: &str, value: &str) -> &mut Line {
        self.pair(key, |line| line.value("", value))
    }

    /// Appends ` key=` and the value `write` writes. A cut keeps a pair only with some
    /// of its value: one that falls in ` key=`, or before the value's first character,
    /// takes the whole pair away, so a cut line never ends in part of a key or a key
    /// without a value (found by tests/fuzz: ` key` cut to ` ` left two spaces before
    /// the mark).
    fn pair(&mut self, key: &str, write: impl FnOnce(&mut Line)) -> &mut Line {
        let start = self.len;
        let was_full = self.full;
        self.push(" ");
        self.push(key);
        self.push("=");
        let value_start = self.len;
        write(self);
        if self.full && !was_full {
            let opened = self.bytes.get(value_start) == Some(&b'"');
            if self.kept <= value_start + usize::from(opened) {
                let mark = TRUNCATION_MARK.as_bytes();
                self.bytes[start..start + mark.len()].copy_from_slice(mark);
                self.len = start + mark.len();
                self.kept = start;
            }
        }
        self
    }

    /// Appends ` cgroup=PATH`, the last key of every trigger line. A path whose logfmt
    /// form would take more than the room the line has left (`cgroup_budget`) keeps its
    /// end (the leaf names the service) behind `CUT_MARK`: a value that does not begin
    /// with `/` was cut.
    pub fn cgroup_path(&mut self, path: &str) -> &mut Line {
        let budget = cgroup_budget(self.len);
        if logfmt_len(path) <= budget {
            return self.pair("cgroup", |line| line.value("", path));
        }
        let tail = kept_end(path, budget);
        self.pair("cgroup", |line| line.value(CUT_MARK, tail))
    }

    /// Writes `prefix` (plain ASCII of ours) and `value` as one logfmt value.
    fn value(&mut self, prefix: &str, value: &str) {
        if !needs_quotes(value) && (!prefix.is_empty() || !value.is_empty()) {
            self.push(prefix);
            self.push(value);
            return;
        }
        self.push("\"");
        self.quoted = true;
        self.push(prefix);
        for c in value.chars() {
            // Every escape goes in as one write, so a cut never splits one.
            let mut utf8 = [0; 4];
            let mut unicode = *b"\\u0000";
            let _ = match c {
                '"' => self.write_str("\\\""),
                '\\' => self.write_str("\\\\"),
                '\n' => self.write_str("\\n"),
                '\r' => self.write_str("\\r"),
                '\t' => self.write_str("\\t"),
                c if is_line_breaking(c) => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    for (i, digit) in unicode[2..].iter_mut().enumerate() {
                        *digit = HEX[(c as usize >> (12 - 4 * i)) & 0xf];
                    }
                    self.write_str(std::str::from_utf8(&unicode).unwrap_or("\\ufffd"))
                }
                c => self.write_str(c.encode_utf8(&mut utf8)),
            };
        }
        // Still quoted while the closing quote goes in: if it does not fit, the cut
        // closes the quote in the byte kept for that (found by tests/fuzz: a value that
        // filled the line exactly was left open, the mark inside it).
        self.push("\"");
        self.quoted = false;
    }

    /// Appends ` key=S.T`: a duration in seconds with one decimal.
    pub fn seconds(&mut self, key: &str, us: u64) -> &mut Line {
        self.field(
            key,
            format_args!("{}.{}", us / 1_000_000, us / 100_000 % 10),
        )
    }

    fn push(&mut self, text: &str) {
        let _ = self.write_str(text);
    }
}

impl Write for Line {
    /// Copies what fits; once something does not, the line is closed with the truncation
    /// mark and later writes are dropped.
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.full {
            return Err(fmt::Error);
        }
        // One byte more is kept for the quote a cut inside a quoted value must close.
        let room = LINE_CAPACITY - TRUNCATION_MARK.len() - 1 - self.len;
        if text.len() <= room {
            self.bytes[self.len..self.len + text.len()].copy_from_slice(text.as_bytes());
            self.len += text.len();
            return Ok(());
        }
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if self.quoted && text.starts_with('\\') {
            cut = 0; // half an escape would escape the closing quote
        }
        self.bytes[self.len..self.len + cut].copy_from_slice(&text.as_bytes()[..cut]);
        self.len += cut;
        self.kept = self.len;
        if self.quoted {
            self.bytes[self.len] = b'"';
            self.len += 1;
        }
        let mark = TRUNCATION_MARK.as_bytes();
        self.bytes[self.len..self.len + mark.len()].copy_from_slice(mark);
        self.len += mark.len();
        self.full = true;
        Err(fmt::Error)
    }
}

/// Control characters, and the two Unicode line separators some viewers break on.
fn is_line_breaking(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// How many bytes `c` takes inside a quoted logfmt value.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' => 2,
        c if is_line_breaking(c) => 6,
        c => c.len_utf8(),
    }
}

/// The longest end of `path` that, behind `CUT_MARK`, takes at most `budget` bytes as a
/// logfmt value: bare while no character needs quoting, then quoted and escaped (found
/// by tests/fuzz: the end was measured either all bare or all quoted, which kept a
/// character less than fits when the quoted end lost what needed quotes).
fn kept_end(path: &str, budget: usize) -> &str {
    let budget = budget - CUT_MARK.len();
    let (mut start, mut bare, mut escaped, mut quoted) = (path.len(), 0, 2, false);
    for (index, c) in path.char_indices().rev() {
        bare += c.len_utf8();
        escaped += escaped_len(c);
        let mut utf8 = [0; 4];
        quoted |= needs_quotes(c.encode_utf8(&mut utf8));
        // Never less for a longer end: each character adds to both measures.
        if (if quoted { escaped } else { bare }) > budget {
            break;
        }
        start = index;
    }
    &path[start..]
}

/// How many bytes `value` takes as a logfmt value, quotes included.
fn logfmt_len(value: &str) -> usize {
    if needs_quotes(value) {
        2 + value.chars().map(escaped_len).sum::<usize>()
    } else {
        value.len()
    }
}

/// logfmt quotes a value that is empty or holds a space, `=`, a quote, a backslash, a
/// control character or anything outside ASCII.
fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .bytes()
            .any(|b| b <= b' ' || b == b'=' || b == b'"' || b == b'\\' || b >= 0x7f)
}

/// The `key=value` pairs of a logfmt line, values still escaped and without quotes.
pub fn pairs(line: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = line;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return None;
        }
        let key_end = rest.find(['=', ' ']).unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        let Some(after) = rest.strip_prefix('=') else {
            return Some((key, ""));
        };
        if let Some(quoted) = after.strip_prefix('"') {
            let bytes = quoted.as_bytes();
            let mut end = 0;
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = end.min(bytes.len());
            rest = quoted.get(end + 1..).unwrap_or("");
            Some((key, quoted.get(..end).unwrap_or(quoted)))
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            rest = &after[end..];
            Some((key, &after[..end]))
        }
    })
}

/// Undoes `Line`'s escapes (`\"`, `\\`, `\n`, `\r`, `\t`, `\uXXXX`) into `out`;
/// returns the length. `out` as long as `escaped` is always enough.
pub fn unescape(escaped: &str, out: &mut [u8]) -> usize {
    let mut len = 0;
    let mut push = |bytes: &[u8], len: &mut usize| {
        let end = (*len + bytes.len()).min(out.len());
        out[*len..end].copy_from_slice(&bytes[..end - *len]);
        *len = end;
    };
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        let mut utf8 = [0u8; 4];
        let decoded = if c != '\\' {
            c
        } else {
            match chars.next() {
                Some('n') => '\n',
                Some('r') => '\r',
                Some('t') => '\t',
                Some('u') => {
                    // Four hex digits exactly: from_str_radix alone would take a sign.
                    let hex = chars.as_str().get(..4).unwrap_or("");
                    let code = hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit())
                        .then(|| u32::from_str_radix(hex, 16).ok())
                        .flatten()
                        .and_then(char::from_u32);
                    if let Some(code) = code {
                        chars = chars.as_str()[4..].chars();
                        code
                    } else {
                        'u'
                    }
                }
                Some(other) => other,
                None => '\\',
            }
        };
        push(decoded.encode_utf8(&mut utf8).as_bytes(), &mut len);
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_is_quoted_and_escaped_onto_one_line() {
        let mut line = Line::event("x");
        line.text("a", "plain/path")
            .text("b", "two words")
            .text("c", "x\"y\\z")
            .text("d", "evil\nevent=pressure")
            .text("e", "")
            .text("f", "k=v")
            .text("g", "\u{1b}[31m\u{7f}")
            .text("h", "caf\u{e9}");
        assert_eq!(
            line.as_str(),
            "event=x a=plain/path b=\"two words\" c=\"x\\\"y\\\\z\" d=\"evil\\nevent=pressure\" \
             e=\"\" f=\"k=v\" g=\"\\u001b[31m\\u007f\" h=\"caf\u{e9}\""
        );
    }

    /// The `cgroup=` value of a line long enough to leave it only `CGROUP_VALUE_MIN`.
    fn cgroup_at_the_minimum(path: &str) -> String {
        let mut line = Line::event("x");
        line.field("pad", "p".repeat(150));
        assert_eq!(cgroup_budget(line.len), CGROUP_VALUE_MIN);
        line.cgroup_path(path);
        line.as_str().rsplit_once(" cgroup=").unwrap().1.to_string()
    }

    #[test]
    fn a_cgroup_takes_what_the_line_leaves_of_its_budget() {
        // A short line leaves a long path whole.
        let long = format!(
            "/kubepods.slice/pod-{}/cri-{}.scope",
            "a".repeat(36),
            "b".repeat(64)
        );
        let mut line = Line::event("removed");
        line.cgroup_path(&long);
        let whole = format!("event=removed cgroup={long}");
        assert_eq!(line.as_str(), whole);
        // Longer than the room: its end, the line exactly at the budget.
        let longer = format!("/x{}", "c".repeat(300));
        let mut line = Line::event("removed");
        line.cgroup_path(&longer);
        assert_eq!(
            HEADER_MAX + line.as_str().len(),
            LINE_BUDGET,
            "{}",
            line.as_str()
        );
        assert!(
            line.as_str().contains(" cgroup=...ccc"),
            "{}",
            line.as_str()
        );
    }

    #[test]
    fn a_long_cgroup_keeps_its_end_behind_the_cut_mark() {
        let cgroup = cgroup_at_the_minimum;
        assert_eq!(cgroup("/"), "/");
        let fits = format!("/{}", "a".repeat(CGROUP_VALUE_MIN - 1));
        assert_eq!(cgroup(&fits), fits);
        let long = format!("/system.slice/{}.scope", "0123456789abcdef".repeat(4));
        let cut = cgroup(&long);
        assert_eq!(cut.len(), CGROUP_VALUE_MIN, "{cut}");
        assert!(
            cut.starts_with(CUT_MARK) && long.ends_with(&cut[CUT_MARK.len()..]),
            "{cut}"
        );
        // Escapes count against the limit, and the cut never splits one.
        let hostile = format!("/{}", "\n\"\u{1b}\u{e9}".repeat(20));
        let cut = cgroup(&hostile);
        assert!(cut.len() <= CGROUP_VALUE_MIN, "{cut}");
        assert!(
            cut.starts_with("\"...") && cut.ends_with("\\u001b\u{e9}\""),
            "{cut}"
        );
        assert!(!cut.contains('\n'));
        // A newline from a cgroup name (the kernel refuses them, but a path given in
        // the config could hold one) never reaches the line.
        assert_eq!(cgroup("/a\nb"), "\"/a\\nb\"");
    }

    #[test]
    fn an_overlong_line_is_cut_with_a_mark() {
        let mut line = Line::event("x");
        line.text("long", &"\u{e9}".repeat(LINE_CAPACITY));
        line.field("after", 1);
        let text = line.as_str();
        assert!(text.len() <= LINE_CAPACITY);
        assert!(text.ends_with(" truncated=1"), "{text}");
        assert!(!text.contains("after"));
    }

    #[test]
    fn a_cut_inside_quotes_closes_them_and_never_splits_an_escape() {
        // Shift the cut across every position of the escapes.
        for shift in 0..8 {
            let mut line = Line::event("x");
            line.text("pad", &"p".repeat(shift));
            line.text("v", &"a\"\u{1b}\\".repeat(LINE_CAPACITY));
            let text = line.as_str();
            assert!(text.len() <= LINE_CAPACITY, "{shift}");
            let value = text
                .strip_suffix("\" truncated=1")
                .unwrap_or_else(|| panic!("{shift}: {text}"));
            let backslashes = value.bytes().rev().take_while(|&b| b == b'\\').count();
            assert_eq!(backslashes % 2, 0, "{shift}: an escape was split: {text}");
            assert!(
                !value.ends_with("\\u") && !value.contains("\\u0\""),
                "{shift}: {text}"
            );
        }
    }

    /// Found by tests/fuzz (logfmt): a quoted value that ended exactly where the room
    /// did lost its closing quote, and ` truncated=1` became part of the value.
    #[test]
    fn a_quoted_value_that_fills_the_line_keeps_its_closing_quote() {
        // `event=x v="` is 11 bytes; the value takes the rest of the room, so only its
        // closing quote does not fit.
        let room = LINE_CAPACITY - TRUNCATION_MARK.len() - 1;
        let value = format!(" {}", "a".repeat(room - 11 - 1));
        let mut line = Line::event("x");
        line.text("v", &value);
        assert_eq!(
            line.as_str(),
            format!("event=x v=\"{value}\" truncated=1"),
            "the quote must close before the mark"
        );
        // One byte shorter, it fits, quote and all.
        let mut line = Line::event("x");
        line.text("v", &value[1..]);
        assert_eq!(line.as_str(), format!("event=x v={}", &value[1..]));
        let mut line = Line::event("x");
        line.text("v", &value[..value.len() - 1]);
        assert_eq!(
            line.as_str(),
            format!("event=x v=\"{}\"", &value[..value.len() - 1])
        );
    }

    /// Found by tests/fuzz (logfmt): a cut in ` key=` kept part of it (` ke`, ` key`,
    /// or only the space, which left two spaces before the mark).
    #[test]
    fn a_cut_never_leaves_part_of_a_key_or_a_key_without_its_value() {
        let room = LINE_CAPACITY - TRUNCATION_MARK.len() - 1;
        // `event=x a=` is 10 bytes; the b's leave `left` bytes of room.
        let cut = |left: usize, last: &dyn Fn(&mut Line)| {
            let mut line = Line::event("x");
            line.text("a", &"b".repeat(room - 10 - left));
            last(&mut line);
            line.as_str().to_string()
        };
        for left in 1..=5 {
            let text = cut(left, &|line| {
                line.field("key", 1234567);
            });
            let expected = format!("event=x a={}", "b".repeat(room - 10 - left));
            assert_eq!(text, format!("{expected} truncated=1"), "{left}");
        }
        // With room for ` key=` and part of the value, the part is kept.
        let text = cut(7, &|line| {
            line.field("key", 1234567);
        });
        assert!(text.ends_with(" key=12 truncated=1"), "{text}");
        // A quoted value that keeps nothing but its quotes goes too.
        let text = cut(9, &|line| {
            line.text("v", "\u{1b}");
        });
        assert_eq!(
            text,
            format!("event=x a={} truncated=1", "b".repeat(room - 10 - 9))
        );
        assert!(!text.contains("  "), "{text}");
    }

    /// Found by tests/fuzz (logfmt): a cut path kept a character less than fits.
    #[test]
    fn a_cut_path_keeps_as_much_of_its_end_as_fits() {
        let cgroup = cgroup_at_the_minimum;
        // The last 32 characters hold a `=`, so they would need quotes; the last 31 do
        // not, and fit bare behind the mark.
        let end = format!("1{}", "b".repeat(30));
        let path = format!("/system.slice/x={end}");
        assert_eq!(cgroup(&path), format!("...{end}"));
        // A quoted end as long as fits: 30 bytes of escapes and characters.
        let end = format!("ab{}", "\u{e9}".repeat(14));
        let path = format!("/system.slice/x{end}");
        assert_eq!(cgroup(&path), format!("\"...{end}\""));
        assert_eq!(cgroup(&path).len(), CGROUP_VALUE_MIN);
    }

    #[test]
    fn unescape_undoes_every_escape() {
        let mut line = Line::event("x");
        let hostile = "a\"b\\c\nd\re\tf\u{1b}g\u{2028}h caf\u{e9}";
        line.text("v", hostile);
        let (_, raw) = pairs(line.as_str()).nth(1).unwrap();
        let mut out = [0u8; 64];
        let len = unescape(raw, &mut out);
        assert_eq!(std::str::from_utf8(&out[..len]).unwrap(), hostile);
    }

    #[test]
    fn a_unicode_escape_takes_four_hex_digits_and_no_sign() {
        let mut out = [0u8; 16];
        let len = unescape("\\u00e9\\u+041", &mut out);
        assert_eq!(std::str::from_utf8(&out[..len]).unwrap(), "\u{e9}u+041");
    }

    /// What the encoder writes, the decoder reads back: every key in order, every value
    /// as it was, bare or quoted.
    #[test]
    fn every_value_reads_back_as_written() {
        let values = [
            "plain/path",
            "",
            "two words",
            "k=v",
            "x\"y\\z",
            "evil\nevent=pressure",
            "\r\t\u{0}\u{1b}\u{7f}",
            "\u{2028}\u{2029}",
            "caf\u{e9} \u{1f600}",
            "\\u0041",
            "trailing\\",
        ];
        let mut line = Line::event("round");
        for (index, value) in values.iter().enumerate() {
            line.text(&format!("k{index}"), value);
        }
        line.field("n", 42).seconds("s", 1_250_000);
        let read: Vec<(String, String)> = pairs(line.as_str())
            .map(|(key, raw)| {
                let mut out = [0u8; LINE_CAPACITY];
                let len = unescape(raw, &mut out);
                (
                    key.to_string(),
                    String::from_utf8(out[..len].to_vec()).unwrap(),
                )
            })
            .collect();
        let mut expected = vec![("event".to_string(), "round".to_string())];
        for (index, value) in values.iter().enumerate() {
            expected.push((format!("k{index}"), value.to_string()));
        }
        expected.push(("n".into(), "42".into()));
        expected.push(("s".into(), "1.2".into()));
        assert_eq!(read, expected, "{}", line.as_str());
    }
}
