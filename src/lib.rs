//! psi-syslogd: arms Linux PSI triggers and logs every real threshold crossing to syslog.
//!
//! The module map, one line per file (a unit test below holds it to the tree):
//!
//! - `main.rs`: wires the modules together and maps every error to its exit status.
//! - `lib.rs`: this map, and the house rules every file keeps.
//! - `error.rs`: the one error type: a message and the exit status it leads to.
//! - `config/mod.rs`: the configuration: command line and file merged, the former winning.
//! - `config/directives.rs`: the vocabulary, written once: every option and directive.
//! - `config/args.rs`: the command line: argh's `Args`, `--help`, what it asks for.
//! - `config/file.rs`: the configuration file, whose errors say FILE:LINE.
//! - `config/render.rs`: the effective configuration in the file's syntax (`--check`).
//! - `config/tests.rs`: their tests, and the vocabulary held to --help and the man page.
//! - `spec.rs`: a trigger spec, parsed strictly into the kernel's units.
//! - `pattern.rs`: cgroup paths, fixed or with wildcards: parsed, matched, walked.
//! - `pressure.rs`: a pressure file: its resource, its lines, the real-crossing rule.
//! - `roots.rs`: the proc root and the cgroup2 mount, and every kernel path from them.
//! - `cgroup.rs`: the cgroup2 mount in mountinfo, and the inotify watcher.
//! - `discovery.rs`: what each pattern matches now, kept current by the watcher.
//! - `trigger.rs`: one trigger: its scope and state, arming it, reading it back.
//! - `refusal.rs`: every errno of arming and scanning, mapped to a status and advice.
//! - `privilege.rs`: which of the kernel's rules refused, and what this kernel allows.
//! - `arming.rs`: arming when descriptors run out: the limit raised once, starvation said.
//! - `trigger_set/mod.rs`: every trigger: start, dispatch, timers, reload; returns events.
//! - `trigger_set/rescan.rs`: rescans: what the cgroup tree holds now, armed.
//! - `trigger_set/tests.rs`: the set on fixture trees whose pressure files are real.
//! - `reload.rs`: the reload plan, a pure function, and the moves that keep episodes.
//! - `episode.rs`: episodes: start, reminders, recovery, decided from time and readings.
//! - `message.rs`: `Event`, what the daemon says, and each line's keys and severity.
//! - `logfmt.rs`: logfmt both ways, encoder and decoder, and the line budget.
//! - `sink/mod.rs`: where lines go: syslog, journald or stderr.
//! - `sink/header.rs`: the RFC 3164 header, and the protocol of a socket.
//! - `sink/journal.rs`: journald's native protocol.
//! - `sink/queue.rs`: the lines that wait while the receiver is away.
//! - `sink/socket.rs`: a socket destination: connection, reconnection, back-off.
//! - `sink/stderr.rs`: lines on stderr, with the journal's priority prefix.
//! - `event_loop.rs`: poll, then dispatch; with main, the one place that logs.
//! - `check.rs`: `--check`: load, arm every trigger once, report.
//! - `report.rs`: `--print`: the pressure table.
//! - `notify.rs`: readiness for supervisors (sd_notify).
//! - `signals.rs`: signals as a descriptor in the poll set.
//! - `sys.rs`: every system call, and so every `unsafe` block.

pub mod arming;
pub mod cgroup;
pub mod check;
pub mod config;
pub mod discovery;
pub mod episode;
pub mod error;
pub mod event_loop;
pub mod logfmt;
pub mod message;
pub mod notify;
pub mod pattern;
pub mod pressure;
pub mod privilege;
pub mod refusal;
pub mod reload;
pub mod report;
pub mod roots;
pub mod signals;
pub mod sink;
pub mod spec;
pub mod sys;
pub mod trigger;
pub mod trigger_set;

/// The house rules, held to the tree: every source file is in the module map above,
/// opens with a comment that says what it owns (`//!`), and has at most 500 lines
/// before its tests (a `tests.rs` is all tests).
#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    const MAX_LINES_BEFORE_TESTS: usize = 500;

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_file_is_mapped_says_what_it_owns_and_stays_short() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let mut on_disk: Vec<String> = files
            .iter()
            .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
            .collect();
        on_disk.sort();
        let map = include_str!("lib.rs");
        let mut mapped: Vec<String> = map
            .lines()
            .filter_map(|line| line.strip_prefix("//! - `"))
            .map(|line| line.split('`').next().unwrap().to_string())
            .collect();
        mapped.sort();
        assert_eq!(
            mapped, on_disk,
            "the module map of lib.rs and the files differ"
        );
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            assert!(
                text.starts_with("//! "),
                "{}: no opening comment saying what it owns",
                file.display()
            );
            let before_tests = if file.ends_with("tests.rs") {
                0
            } else {
                text.lines()
                    .take_while(|line| *line != "#[cfg(test)]")
                    .count()
            };
            assert!(
                before_tests <= MAX_LINES_BEFORE_TESTS,
                "{}: {before_tests} lines before its tests, more than {MAX_LINES_BEFORE_TESTS}",
                file.display()
            );
        }
    }
}
