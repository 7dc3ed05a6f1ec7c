//! psi-syslogd: arms Linux PSI triggers and logs every real threshold crossing to syslog.
//!
//! The modules, one concept each: `spec` (what a trigger asks for, parsed strictly),
//! `pattern` (cgroup paths with wildcards), `pressure` (the pressure file: resources,
//! its lines, reading and deciding), `trigger` (one armed trigger), `trigger_set` (every
//! trigger, the cgroup watcher, arming and the reload diff), `episode` (start, reminders,
//! recovery), `cgroup` (the cgroup2 mount and the inotify watcher), `message` (the
//! logfmt text), `sink` (syslog, journald or stderr, and the queue), `journal`
//! (journald's native protocol), `notify` (readiness for supervisors), `signals` (the
//! self-pipe), `event_loop` (poll, then dispatch), `config` (command line and file),
//! `report` (--print), `privilege` (which of the kernel's rules refused a trigger), `sys`
//! (every system call).

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
