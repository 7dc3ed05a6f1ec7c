//! The logfmt line writer (logfmt.rs), through every line constructor (message.rs) and
//! through its builder methods in any order, with any text from outside (reasons,
//! messages, cgroup names, spec cgroups). Every line is one valid UTF-8 line without
//! control characters or U+2028/U+2029, at most LINE_CAPACITY bytes, and reads back
//! (strictly) to exactly the keys and values written, or, when cut, to a prefix of them
//! ending `truncated=1`. A cgroup= value stays within its budget and keeps the path's
//! end (src/lines.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use psi_syslogd_fuzz::lines::{LineInput, check_line};

fuzz_target!(|input: LineInput| {
    let (line, want) = input.build();
    check_line(&line, &want);
});
