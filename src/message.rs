//! The text of every event: one logfmt line that begins with `event=`, built in a fixed
//! buffer so that logging a crossing allocates nothing.
//!
//! The keys are a contract that alert rules match on; README.md and the man page list
//! them. Values that come from outside are quoted and escaped, so a line never holds a
//! control character and never contains a second `event=` that was not ours.

use std::fmt::{self, Write};

use crate::pressure::Reading;
use crate::trigger::Spec;

/// The longest body we send. RFC 3164 caps a whole datagram at 1024 bytes; the header
/// (`<PRI>Mmm dd hh:mm:ss IDENT[PID]: `) takes at most about 70 of them.
pub const LINE_CAPACITY: usize = 900;
/// What ends a line that did not fit, so a cut is never silent.
const TRUNCATION_MARK: &str = " truncated=1";

/// One event's text.
pub struct Line {
    bytes: [u8; LINE_CAPACITY],
    len: usize,
    full: bool,
}

impl Line {
    /// A line that starts `event=NAME`.
    pub fn event(name: &str) -> Line {
        let mut line = Line {
            bytes: [0; LINE_CAPACITY],
            len: 0,
            full: false,
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
        self.push(" ");
        self.push(key);
        self.push("=");
        let _ = write!(self, "{value}");
        self
    }

    /// Appends ` key=value` for text from outside, quoted and escaped when needed.
    pub fn text(&mut self, key: &str, value: &str) -> &mut Line {
        self.push(" ");
        self.push(key);
        self.push("=");
        if !needs_quotes(value) {
            self.push(value);
            return self;
        }
        self.push("\"");
        for c in value.chars() {
            let mut utf8 = [0; 4];
            let _ = match c {
                '"' => self.write_str("\\\""),
                '\\' => self.write_str("\\\\"),
                '\n' => self.write_str("\\n"),
                '\r' => self.write_str("\\r"),
                '\t' => self.write_str("\\t"),
                c if c.is_control() => write!(self, "\\u{:04x}", c as u32),
                c => self.write_str(c.encode_utf8(&mut utf8)),
            };
        }
        self.push("\"");
        self
    }

    /// Appends the trigger's identity: resource, kind, threshold and window.
    pub fn trigger(&mut self, spec: &Spec) -> &mut Line {
        self.field("resource", spec.resource.name())
            .field("kind", spec.stall.name())
            .field("threshold_us", spec.threshold_us)
            .field("window_us", spec.window_us)
    }

    /// Appends the three averages of a reading.
    pub fn averages(&mut self, reading: &Reading) -> &mut Line {
        self.field("avg10", reading.avg10)
            .field("avg60", reading.avg60)
            .field("avg300", reading.avg300)
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
        let room = LINE_CAPACITY - TRUNCATION_MARK.len() - self.len;
        if text.len() <= room {
            self.bytes[self.len..self.len + text.len()].copy_from_slice(text.as_bytes());
            self.len += text.len();
            return Ok(());
        }
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.bytes[self.len..self.len + cut].copy_from_slice(&text.as_bytes()[..cut]);
        self.len += cut;
        let mark = TRUNCATION_MARK.as_bytes();
        self.bytes[self.len..self.len + mark.len()].copy_from_slice(mark);
        self.len += mark.len();
        self.full = true;
        Err(fmt::Error)
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

/// `event=pressure`: a real threshold crossing. `stall_us` is the growth of the
/// kind's `total=` counter since this trigger's previous reading.
pub fn pressure(spec: &Spec, reading: &Reading, stall_us: u64) -> Line {
    let mut line = Line::event("pressure");
    line.trigger(spec)
        .averages(reading)
        .field("stall_us", stall_us);
    line
}

/// `event=start`: every trigger is armed.
pub fn start(specs: &[Spec]) -> Line {
    let mut line = Line::event("start");
    line.field("version", env!("CARGO_PKG_VERSION"))
        .field("triggers", specs.len());
    let mut list = String::new();
    for spec in specs {
        if !list.is_empty() {
            list.push(',');
        }
        let _ = write!(list, "{spec}");
    }
    line.text("specs", &list);
    line
}

/// `event=stop`: a signal asked us to stop.
pub fn stop(signal: &str) -> Line {
    let mut line = Line::event("stop");
    line.field("signal", signal);
    line
}

/// `event=error`: why the daemon exits without running, for the log as well as stderr.
pub fn error(exit: i32, message: &str) -> Line {
    let mut line = Line::event("error");
    line.field("exit", exit).text("message", message);
    line
}

/// `event=lost`: the kernel reported an error on a trigger's descriptor; it is no longer
/// watched.
pub fn lost(spec: &Spec, reason: &str) -> Line {
    let mut line = Line::event("lost");
    line.trigger(spec).text("reason", reason);
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pressure::Hundredths;

    #[test]
    fn pressure_line_has_the_documented_keys_in_order() {
        let spec = Spec::parse("memory:some:150000:1000000").unwrap();
        let reading = Reading {
            avg10: Hundredths(1234),
            avg60: Hundredths(310),
            avg300: Hundredths(80),
            total_us: 99,
        };
        assert_eq!(
            pressure(&spec, &reading, 160_000).as_str(),
            "event=pressure resource=memory kind=some threshold_us=150000 window_us=1000000 \
             avg10=12.34 avg60=3.10 avg300=0.80 stall_us=160000"
        );
    }

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
    fn start_lists_the_triggers() {
        let specs = [
            Spec::parse("memory:some:10%:2s").unwrap(),
            Spec::parse("cpu:some:50%:2s").unwrap(),
        ];
        assert_eq!(
            start(&specs).as_str(),
            format!(
                "event=start version={} triggers=2 specs=memory:some:200000:2000000,cpu:some:1000000:2000000",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}
