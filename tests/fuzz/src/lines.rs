//! Lines built by message.rs's own constructors from fuzzed inputs, the pairs each must
//! carry (README.md's key contract), and the check that a line carries them.

use std::rc::Rc;

use arbitrary::Arbitrary;
use psi_syslogd::logfmt::{self as daemon_logfmt, CUT_MARK, LINE_CAPACITY, Line};
use psi_syslogd::message;
use psi_syslogd::pattern::Pattern;
use psi_syslogd::pressure::{Hundredths, Reading, Resource, Stall};
use psi_syslogd::spec::{Level, NAME_MAX, Spec};
use psi_syslogd::trigger::Subject;

use crate::is_line_breaking;
use crate::logfmt::{self, Pair};

/// What ends a line that did not fit (the daemon's logfmt.rs's TRUNCATION_MARK).
pub const TRUNCATION_MARK: &str = " truncated=1";
/// The longest content before the mark: logfmt.rs keeps one byte for a closing quote.
pub const CONTENT_MAX: usize = LINE_CAPACITY - TRUNCATION_MARK.len() - 1;

/// What a pair of the line must hold.
#[derive(Clone, Debug)]
pub enum Want {
    /// Exactly this value.
    Exact(String),
    /// The cgroup path: itself if its logfmt form fits in the room the line leaves it
    /// (logfmt::cgroup_budget of what comes before), else CUT_MARK and the longest end
    /// of it that fits.
    Cgroup(String),
}

pub type Expected = Vec<(String, Want)>;

fn exact(key: &str, value: impl ToString) -> (String, Want) {
    (key.to_string(), Want::Exact(value.to_string()))
}

/// A trigger spec as message.rs sees it. Numbers are whatever the fuzzer gives (the
/// writer must not care); the name obeys spec.rs's rule, as every name that reaches a
/// line does (Spec::parse checks it); the cgroup is any text that parses as one (a `/`
/// and anything without a NUL, a `.` or `..` part or a lone `\` at its end).
#[derive(Arbitrary, Debug)]
pub struct SpecInput {
    resource: u8,
    stall: bool,
    threshold_us: u32,
    window_us: u32,
    cgroup: Option<String>,
    severity: u8,
    name: Option<Vec<u8>>,
}

impl SpecInput {
    pub fn spec(&self) -> Spec {
        const NAME_CHARS: &[u8] =
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
        let name = self.name.as_ref().map(|bytes| {
            let mut name: String = bytes
                .iter()
                .take(NAME_MAX)
                .map(|&b| NAME_CHARS[usize::from(b) % NAME_CHARS.len()] as char)
                .collect();
            if name.is_empty() {
                name.push('n');
            }
            name
        });
        Spec {
            resource: Resource::ALL[usize::from(self.resource) % Resource::ALL.len()],
            stall: if self.stall { Stall::Full } else { Stall::Some },
            threshold_us: self.threshold_us,
            window_us: self.window_us,
            cgroup: self
                .cgroup
                .as_ref()
                .and_then(|text| Pattern::parse(&format!("/{text}")).ok())
                .map(Box::new),
            severity: Level::ALL[usize::from(self.severity) % Level::ALL.len()],
            name,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct ReadingInput {
    avg10: u32,
    avg60: u32,
    avg300: u32,
    total_us: u64,
}

impl ReadingInput {
    fn reading(self) -> Reading {
        Reading {
            avg10: Hundredths(self.avg10),
            avg60: Hundredths(self.avg60),
            avg300: Hundredths(self.avg300),
            total_us: self.total_us,
        }
    }
}

#[derive(Arbitrary, Debug)]
pub struct TriggerInput {
    spec: SpecInput,
    /// The group as logged: any text (a hostile cgroup name, a path from the config).
    cgroup: String,
    /// The last reading taken, which `ongoing` carries.
    last_reading: ReadingInput,
}

impl TriggerInput {
    /// What the trigger's lines are about: its spec and its group.
    fn trigger(&self) -> Subject {
        Subject {
            spec: Rc::new(self.spec.spec()),
            group: self.cgroup.as_str().into(),
        }
    }
}

/// The keys message.rs writes; any of them may come in any order in a raw line.
const KEYS: [&str; 26] = [
    "resource",
    "kind",
    "threshold_us",
    "window_us",
    "avg10",
    "avg60",
    "avg300",
    "stall_us",
    "name",
    "cgroup",
    "reason",
    "message",
    "specs",
    "version",
    "triggers",
    "active",
    "uptime_s",
    "duration_s",
    "crossings",
    "peak_avg10",
    "state",
    "signal",
    "exit",
    "kept",
    "dropped",
    "x_9",
];
const EVENTS: [&str; 17] = [
    "start",
    "stop",
    "error",
    "pressure",
    "ongoing",
    "recovered",
    "lost",
    "rearmed",
    "reload",
    "reload_failed",
    "status",
    "heartbeat",
    "waiting",
    "armed",
    "removed",
    "unarmed",
    "warning",
];
const SIGNALS: [&str; 3] = ["SIGTERM", "SIGINT", "SIGQUIT"];
const STATES: [&str; 4] = ["idle", "active", "waiting", "lost"];

fn pick<'a>(table: &[&'a str], index: u8) -> &'a str {
    table[usize::from(index) % table.len()]
}

/// A value message.rs writes with `field`: its own numbers and names, never text from
/// outside (that goes through `text`).
#[derive(Arbitrary, Debug)]
pub enum FieldValue {
    Unsigned(u64),
    Signed(i64),
    Percent(u32),
    Name(u8),
}

#[derive(Arbitrary, Debug)]
pub enum Op {
    Field(u8, FieldValue),
    Text(u8, String),
    Cgroup(String),
    Seconds(u8, u64),
}

/// One line, built by one of message.rs's constructors (or by its builder methods in
/// any order, `Raw`).
#[derive(Arbitrary, Debug)]
pub enum LineInput {
    Raw {
        event: u8,
        ops: Vec<Op>,
    },
    Pressure {
        trigger: TriggerInput,
        reading: ReadingInput,
        stall_us: u64,
    },
    Start {
        specs: Vec<SpecInput>,
    },
    Stop {
        signal: u8,
    },
    Error {
        exit: i32,
        message: String,
    },
    Lost {
        trigger: TriggerInput,
        reason: String,
    },
    Ongoing {
        trigger: TriggerInput,
        duration_us: u64,
        crossings: u64,
    },
    Recovered {
        trigger: TriggerInput,
        duration_us: u64,
        crossings: u64,
        peak: u32,
    },
    TriggerEvent {
        event: u8,
        trigger: TriggerInput,
    },
    Unarmed {
        trigger: TriggerInput,
        reason: String,
    },
    Warning {
        text: String,
    },
    Status {
        trigger: TriggerInput,
        state: u8,
        reading: Option<ReadingInput>,
        duration_us: u64,
    },
    Heartbeat {
        triggers: u32,
        active: u32,
        uptime_us: u64,
    },
    Reload {
        triggers: u32,
        kept: u32,
    },
    ReloadFailed {
        reason: String,
    },
}

/// The daemon's version, as `event=start` gives it: its Cargo.toml's.
pub fn daemon_version() -> &'static str {
    include_str!("../../../Cargo.toml")
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or("unknown")
}

fn seconds(us: u64) -> String {
    format!("{}.{}", us / 1_000_000, us / 100_000 % 10)
}

fn trigger_pairs(spec: &Spec) -> Expected {
    vec![
        exact("resource", spec.resource.name()),
        exact("kind", spec.stall.name()),
        exact("threshold_us", spec.threshold_us),
        exact("window_us", spec.window_us),
    ]
}

fn averages(reading: &Reading) -> Expected {
    vec![
        exact("avg10", reading.avg10),
        exact("avg60", reading.avg60),
        exact("avg300", reading.avg300),
    ]
}

fn origin(trigger: &Subject) -> Expected {
    let mut pairs = Vec::new();
    if let Some(name) = &trigger.spec.name {
        pairs.push(exact("name", name));
    }
    pairs.push(("cgroup".into(), Want::Cgroup(trigger.group.to_string())));
    pairs
}

impl LineInput {
    /// The line and the pairs it must carry.
    pub fn build(&self) -> (Line, Expected) {
        let mut want: Expected;
        let line = match self {
            LineInput::Raw { event, ops } => {
                let event = pick(&EVENTS, *event);
                let mut line = Line::event(event);
                want = vec![exact("event", event)];
                for op in ops {
                    match op {
                        Op::Field(key, value) => {
                            let key = pick(&KEYS, *key);
                            let value = match value {
                                FieldValue::Unsigned(n) => n.to_string(),
                                FieldValue::Signed(n) => n.to_string(),
                                FieldValue::Percent(n) => Hundredths(*n).to_string(),
                                FieldValue::Name(n) => pick(&STATES, *n).to_string(),
                            };
                            line.field(key, &value);
                            want.push(exact(key, value));
                        }
                        Op::Text(key, text) => {
                            let key = pick(&KEYS, *key);
                            line.text(key, text);
                            want.push(exact(key, text));
                        }
                        Op::Cgroup(path) => {
                            line.cgroup_path(path);
                            want.push(("cgroup".into(), Want::Cgroup(path.clone())));
                        }
                        Op::Seconds(key, us) => {
                            let key = pick(&KEYS, *key);
                            line.seconds(key, *us);
                            want.push(exact(key, seconds(*us)));
                        }
                    }
                }
                return (line, want);
            }
            LineInput::Pressure {
                trigger,
                reading,
                stall_us,
            } => {
                let (trigger, reading) = (trigger.trigger(), reading.reading());
                want = trigger_pairs(&trigger.spec);
                want.extend(averages(&reading));
                want.push(exact("stall_us", stall_us));
                want.extend(origin(&trigger));
                want.insert(0, exact("event", "pressure"));
                message::pressure(&trigger, &reading, *stall_us)
            }
            LineInput::Start { specs } => {
                let specs: Vec<Spec> = specs.iter().map(SpecInput::spec).collect();
                let list: Vec<String> = specs.iter().map(ToString::to_string).collect();
                want = vec![
                    exact("event", "start"),
                    exact("version", daemon_version()),
                    exact("triggers", specs.len()),
                    exact("specs", list.join(",")),
                ];
                message::start(&specs)
            }
            LineInput::Stop { signal } => {
                let signal = pick(&SIGNALS, *signal);
                want = vec![exact("event", "stop"), exact("signal", signal)];
                message::stop(signal)
            }
            LineInput::Error { exit, message } => {
                want = vec![
                    exact("event", "error"),
                    exact("exit", exit),
                    exact("message", message),
                ];
                message::error(*exit, message)
            }
            LineInput::Lost { trigger, reason } => {
                let trigger = trigger.trigger();
                want = vec![exact("event", "lost")];
                want.extend(trigger_pairs(&trigger.spec));
                want.push(exact("reason", reason));
                want.extend(origin(&trigger));
                message::lost(&trigger, reason)
            }
            LineInput::Ongoing {
                trigger,
                duration_us,
                crossings,
            } => {
                let (last_reading, trigger) = (trigger.last_reading.reading(), trigger.trigger());
                want = vec![exact("event", "ongoing")];
                want.extend(trigger_pairs(&trigger.spec));
                want.extend(averages(&last_reading));
                want.push(exact("duration_s", seconds(*duration_us)));
                want.push(exact("crossings", crossings));
                want.extend(origin(&trigger));
                message::ongoing(&trigger, &last_reading, *duration_us, *crossings)
            }
            LineInput::Recovered {
                trigger,
                duration_us,
                crossings,
                peak,
            } => {
                let trigger = trigger.trigger();
                want = vec![exact("event", "recovered")];
                want.extend(trigger_pairs(&trigger.spec));
                want.push(exact("duration_s", seconds(*duration_us)));
                want.push(exact("crossings", crossings));
                want.push(exact("peak_avg10", Hundredths(*peak)));
                want.extend(origin(&trigger));
                message::recovered(&trigger, *duration_us, *crossings, Hundredths(*peak))
            }
            LineInput::TriggerEvent { event, trigger } => {
                let event = pick(&["rearmed", "waiting", "armed", "removed"], *event);
                let trigger = trigger.trigger();
                want = vec![exact("event", event)];
                want.extend(trigger_pairs(&trigger.spec));
                want.extend(origin(&trigger));
                message::trigger_event(event, &trigger)
            }
            LineInput::Unarmed { trigger, reason } => {
                let trigger = trigger.trigger();
                want = vec![exact("event", "unarmed")];
                want.extend(trigger_pairs(&trigger.spec));
                want.push(exact("reason", reason));
                want.extend(origin(&trigger));
                message::unarmed(&trigger, reason)
            }
            LineInput::Warning { text } => {
                want = vec![exact("event", "warning"), exact("message", text)];
                message::warning(text)
            }
            LineInput::Status {
                trigger,
                state,
                reading,
                duration_us,
            } => {
                let trigger = trigger.trigger();
                let state = pick(&STATES, *state);
                let reading = reading.map(ReadingInput::reading);
                want = vec![exact("event", "status")];
                want.extend(trigger_pairs(&trigger.spec));
                want.push(exact("state", state));
                if let Some(reading) = &reading {
                    want.extend(averages(reading));
                }
                want.push(exact("duration_s", seconds(*duration_us)));
                want.extend(origin(&trigger));
                message::status(&trigger, state, reading.as_ref(), *duration_us)
            }
            LineInput::Heartbeat {
                triggers,
                active,
                uptime_us,
            } => {
                want = vec![
                    exact("event", "heartbeat"),
                    exact("triggers", triggers),
                    exact("active", active),
                    exact("uptime_s", seconds(*uptime_us)),
                ];
                message::heartbeat(*triggers as usize, *active as usize, *uptime_us)
            }
            LineInput::Reload { triggers, kept } => {
                want = vec![
                    exact("event", "reload"),
                    exact("triggers", triggers),
                    exact("kept", kept),
                ];
                message::reload(*triggers as usize, *kept as usize)
            }
            LineInput::ReloadFailed { reason } => {
                want = vec![exact("event", "reload_failed"), exact("reason", reason)];
                message::reload_failed(reason)
            }
        };
        (line, want)
    }
}

/// The longest end of `path` that, behind CUT_MARK, takes at most `budget` bytes as a
/// logfmt value (the cost of a longer end is never smaller).
pub fn longest_kept_end(path: &str, budget: usize) -> &str {
    let mut start = path.len();
    for (index, _) in path.char_indices().rev() {
        let candidate = format!("{CUT_MARK}{}", &path[index..]);
        if logfmt::written_len(&candidate) > budget {
            break;
        }
        start = index;
    }
    &path[start..]
}

/// Whether a cgroup value was written in full: the path itself if its logfmt form fits
/// in `budget`, else CUT_MARK and the longest end of the path that fits.
pub fn check_cgroup(path: &str, pair: &Pair, budget: usize) -> Result<(), String> {
    let Some(value) = pair.value.as_deref() else {
        return Err("cgroup without '='".into());
    };
    if logfmt::written_len(path) <= budget {
        return if value == path {
            Ok(())
        } else {
            Err(format!(
                "a path that fits must be kept whole: {path:?} -> {value:?}"
            ))
        };
    }
    if pair.written_len > budget {
        return Err(format!(
            "cgroup= takes {} bytes, over its budget of {budget}: {path:?} -> {value:?}",
            pair.written_len
        ));
    }
    let Some(kept) = value.strip_prefix(CUT_MARK) else {
        return Err(format!(
            "a cut path must begin with {CUT_MARK:?}: {path:?} -> {value:?}"
        ));
    };
    if !path.ends_with(kept) {
        return Err(format!(
            "the cut must keep the path's end: {path:?} -> {value:?}"
        ));
    }
    if kept != longest_kept_end(path, budget) {
        return Err(format!(
            "the cut must keep as much of the end as fits: {path:?} -> {value:?}, not {:?}",
            longest_kept_end(path, budget)
        ));
    }
    Ok(())
}

fn matches_fully(pair: &Pair, key: &str, want: &Want, budget: usize) -> Result<(), String> {
    if pair.key != key {
        return Err(format!("key {:?}, not {key:?}", pair.key));
    }
    match (want, &pair.value) {
        (Want::Exact(value), Some(got)) if got == value => Ok(()),
        (Want::Cgroup(path), Some(_)) => check_cgroup(path, pair, budget),
        _ => Err(format!("{pair:?} is not {key}={want:?}")),
    }
}

/// What a cut can leave of the pair it falls in: the key with part of its value (a cut
/// cgroup value is cut from its beginning's side); never part of a key, nor a key alone.
fn is_partial(pair: &Pair, key: &str, want: &Want) -> bool {
    let Some(got) = &pair.value else {
        return false;
    };
    pair.key == key
        && !got.is_empty()
        && match want {
            Want::Exact(value) => value.starts_with(got.as_str()),
            Want::Cgroup(path) => {
                path.starts_with(got.as_str())
                    || CUT_MARK.starts_with(got.as_str())
                    || got
                        .strip_prefix(CUT_MARK)
                        .is_some_and(|kept| path.contains(kept))
            }
        }
}

/// The room logfmt.rs gives each pair's value if it is a cgroup path (what the budget
/// leaves after the pairs before it), and the bytes each pair takes with its separator,
/// had nothing been cut: exact, pair by pair, for a cut cgroup takes what its end needs.
fn layout(want: &Expected) -> Vec<(usize, usize)> {
    let mut body = 0;
    want.iter()
        .enumerate()
        .map(|(index, (key, value))| {
            let budget = daemon_logfmt::cgroup_budget(body);
            let written = match value {
                // message.rs writes its own values bare; `text` quotes the rest.
                Want::Exact(v) => logfmt::written_len(v),
                Want::Cgroup(path) => {
                    let whole = logfmt::written_len(path);
                    if whole <= budget {
                        whole
                    } else {
                        let kept = longest_kept_end(path, budget);
                        logfmt::written_len(&format!("{CUT_MARK}{kept}"))
                    }
                }
            };
            let taken = usize::from(index > 0) + key.len() + 1 + written;
            body += taken;
            (budget, taken)
        })
        .collect()
}

/// Every property of a line: valid, one line, no control character, no U+2028/U+2029,
/// within LINE_CAPACITY, read back strictly to exactly the wanted pairs; or, when it was
/// cut, to a prefix of them ending in `truncated=1`, cut only because it had to be and no
/// earlier than it had to be.
pub fn check_line(line: &Line, want: &Expected) {
    let text = line.as_str();
    assert_ne!(text, "event=invalid", "the line is not UTF-8");
    assert!(
        text.len() <= LINE_CAPACITY,
        "{} bytes: {text:?}",
        text.len()
    );
    if let Some(c) = text.chars().find(|&c| is_line_breaking(c)) {
        panic!("the line holds {c:?}: {text:?}");
    }
    let pairs = logfmt::read(text).unwrap_or_else(|why| panic!("{why}: {text:?}"));
    let layout = layout(want);
    let uncut: usize = layout.iter().map(|&(_, taken)| taken).sum();
    let cut = text.ends_with(TRUNCATION_MARK)
        && pairs
            .last()
            .is_some_and(|p| p.key == "truncated" && p.value.as_deref() == Some("1"));
    if !cut {
        assert!(
            uncut <= CONTENT_MAX,
            "{uncut} bytes needed, yet not cut: {text:?}"
        );
        assert_eq!(pairs.len(), want.len(), "{text:?}\nwanted {want:?}");
        for ((pair, (key, value)), &(budget, _)) in pairs.iter().zip(want).zip(&layout) {
            if let Err(why) = matches_fully(pair, key, value, budget) {
                panic!("{why}, in {text:?}");
            }
        }
        return;
    }
    assert!(
        uncut > CONTENT_MAX,
        "cut though only {uncut} bytes were needed: {text:?}"
    );
    let kept = &pairs[..pairs.len() - 1];
    assert!(!kept.is_empty() && kept.len() <= want.len(), "{text:?}");
    let (last, whole) = kept.split_last().unwrap_or_else(|| unreachable!());
    for ((pair, (key, value)), &(budget, _)) in whole.iter().zip(want).zip(&layout) {
        if let Err(why) = matches_fully(pair, key, value, budget) {
            panic!("{why}, in {text:?}");
        }
    }
    let (key, value) = &want[kept.len() - 1];
    let budget = layout[kept.len() - 1].0;
    let content = text.len() - TRUNCATION_MARK.len();
    if kept.len() < want.len() && matches_fully(last, key, value, budget).is_ok() {
        // Cut at a pair's end: the next pair, ` key=` and the start of its value (a
        // quote and an escape at most), did not fit.
        let next = &want[kept.len()].0;
        assert!(
            content + 1 + next.len() + 1 + 7 > CONTENT_MAX,
            "cut before {next}= with room for it: {text:?}"
        );
    } else {
        assert!(
            is_partial(last, key, value) || matches_fully(last, key, value, budget).is_ok(),
            "the cut pair {last:?} is not part of {key}={value:?}: {text:?}"
        );
        // Cut inside a value: at most an escape (6 bytes) or a character (4) is lost.
        assert!(
            content + 6 > CONTENT_MAX,
            "cut at {} bytes, earlier than it had to be: {text:?}",
            text.len()
        );
    }
}
