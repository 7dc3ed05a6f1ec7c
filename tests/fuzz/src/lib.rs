//! What the fuzz targets share: a strict reader of the daemon's logfmt lines, the
//! inputs that build lines with the daemon's own constructors (and the keys and values
//! each line must carry), and reference implementations to hold the daemon's code
//! against. A property that does not hold panics, which libFuzzer reports as a crash.

pub mod config;
pub mod glob;
pub mod lines;
pub mod logfmt;

/// The control characters and the two Unicode separators that no line may carry.
pub fn is_line_breaking(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Text from the fuzzer's bytes, lossily: every input is a string.
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}
