//! The trigger set on fixture trees whose pressure files are symbolic links to the
//! kernel's /proc/pressure files: every trigger is armed for real, and the decisions
//! (what closes how, what a rescan arms, what a reload keeps) are checked from the
//! events the set returns. Only the kernel's POLLERR for a removed group is given by the
//! test (poll reports it only for a cgroup really removed; tests/patterns.rs removes
//! real ones).

use std::ffi::OsString;
use std::path::Path;

use super::*;
use crate::config::{self, Command};
use crate::episode::Episode;
use crate::pressure::{Reading, Resource};
use crate::roots::fixture::Fixture;
use crate::spec::Level;

const PACING: Pacing = Pacing {
    repeat_us: 60_000_000,
    recover_after_us: None,
};

/// A fixture whose system-wide cpu and io files, and `groups`' cpu.pressure, are the
/// kernel's.
fn fixture(name: &str, groups: &[&str]) -> Fixture {
    let fixture = Fixture::new(name);
    for resource in ["cpu", "io"] {
        let real = Path::new("/proc/pressure").join(resource);
        fixture.link(&format!("proc/pressure/{resource}"), &real);
    }
    for group in groups {
        add_group(&fixture, group);
    }
    fixture
}

fn add_group(fixture: &Fixture, group: &str) {
    let path = format!("cgroup{group}/cpu.pressure");
    fixture.link(&path, Path::new("/proc/pressure/cpu"));
}

fn config(fixture: &Fixture, args: &[&str]) -> Config {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    match config::parse(&args) {
        Ok(Command::Run(source)) => config::load(&source, &fixture.roots()).unwrap(),
        _ => panic!("not a run: {args:?}"),
    }
}

/// Each event as its name and group, for comparing.
fn said(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|event| {
            let line = event.line();
            let text = line.as_str();
            let name = text
                .split(' ')
                .next()
                .unwrap_or("")
                .trim_start_matches("event=");
            let group = text.rsplit_once(" cgroup=").map_or("", |(_, group)| group);
            format!("{name} {group}")
        })
        .collect()
}

fn scopes(set: &TriggerSet) -> Vec<(String, Scope, bool)> {
    let mut scopes: Vec<(String, Scope, bool)> = set
        .triggers()
        .iter()
        .map(|t| (t.group.to_string(), t.scope, t.is_armed()))
        .collect();
    scopes.sort_by(|a, b| a.0.cmp(&b.0));
    scopes
}

/// What the kernel's poll says of a removed group: POLLERR on each of `indexes`.
fn errors_on(set: &TriggerSet, indexes: &[usize]) -> Vec<libc::pollfd> {
    let mut ready = Vec::new();
    set.pollfds(&mut ready);
    for index in indexes {
        ready[*index].revents = libc::POLLERR | libc::POLLPRI;
    }
    ready
}

#[test]
fn each_scope_closes_its_own_way() {
    let groups = [
        "/system.slice/a.service",
        "/system.slice/b.service",
        "/fixed.service",
    ];
    let fixture = fixture("set-close", &groups);
    let config = config(
        &fixture,
        &[
            "-t",
            "cpu:some:50%:2s",
            "-t",
            "cpu:some:50%:2s:/system.slice/*.service",
            "-t",
            "cpu:some:50%:2s:/fixed.service",
        ],
    );
    let mut set = TriggerSet::start(&config, &fixture.roots(), false).unwrap();
    assert_eq!(
        scopes(&set),
        [
            ("/".into(), Scope::SystemWide, true),
            ("/fixed.service".into(), Scope::Fixed, true),
            (groups[0].into(), Scope::Instance, true),
            (groups[1].into(), Scope::Instance, true),
        ]
    );
    let mut events = Vec::new();
    set.settle(&mut events);
    assert_eq!(
        said(&events),
        Vec::<String>::new(),
        "armed before the start: not said"
    );
    // b.service is removed for good; the others come back at once.
    std::fs::remove_dir_all(fixture.cgroup().join("system.slice/b.service")).unwrap();
    let ready = errors_on(&set, &[0, 1, 2, 3]);
    set.dispatch(&ready, 0, PACING, &mut events);
    let mut said = said(&events);
    said[2..4].sort();
    assert_eq!(
        said,
        [
            "lost /",
            "rearmed /",
            "removed /system.slice/a.service",
            "removed /system.slice/b.service",
            "lost /fixed.service",
            // The rescan after a close: the fixed group is there, and so is a.service.
            "armed /system.slice/a.service",
            "rearmed /fixed.service",
        ]
    );
    assert_eq!(
        scopes(&set),
        [
            ("/".into(), Scope::SystemWide, true),
            ("/fixed.service".into(), Scope::Fixed, true),
            (groups[0].into(), Scope::Instance, true),
        ]
    );
}

#[test]
fn an_awaited_group_and_a_new_match_are_armed_when_they_appear() {
    let fixture = fixture("set-appear", &["/system.slice/a.service"]);
    let config = config(
        &fixture,
        &[
            "-t",
            "cpu:some:50%:2s:/late.service",
            "-t",
            "cpu:some:50%:2s:/system.slice/*.service",
            "--wait-for-cgroups",
        ],
    );
    let mut set = TriggerSet::start(&config, &fixture.roots(), false).unwrap();
    let census: Vec<(usize, usize)> = set.census().iter().map(|c| (c.triggers, c.armed)).collect();
    assert_eq!(census, [(1, 0), (1, 1)]);
    let mut events = Vec::new();
    set.settle(&mut events);
    assert_eq!(said(&events), ["waiting /late.service"]);
    events.clear();
    add_group(&fixture, "/late.service");
    add_group(&fixture, "/system.slice/c.service");
    // The watcher, last in the poll set, wakes.
    let mut ready = Vec::new();
    set.pollfds(&mut ready);
    assert_eq!(ready.len(), 3);
    assert_eq!(crate::sys::poll(&mut ready, 5_000).unwrap(), 1);
    assert_ne!(ready[2].revents, 0);
    set.dispatch(&ready, 0, PACING, &mut events);
    assert_eq!(
        said(&events),
        ["rearmed /late.service", "armed /system.slice/c.service"]
    );
    assert!(set.triggers().iter().all(Trigger::is_armed));
}

#[test]
fn a_reload_keeps_the_same_triggers_with_their_episodes() {
    let fixture = fixture("set-reload", &[]);
    let first = config(&fixture, &["-t", "cpu:some:50%:2s", "-t", "io:some:50%:2s"]);
    let mut set = TriggerSet::start(&first, &fixture.roots(), false).unwrap();
    let reading = Reading::default();
    for trigger in &mut set.triggers {
        trigger.episode.crossing(1_000_000, &reading, PACING);
    }
    let fd = set.triggers[0].raw_fd();
    // A missing group fails the reload, and nothing changes.
    let missing = config(&fixture, &["-t", "cpu:some:50%:2s:/gone.service"]);
    let mut events = Vec::new();
    let error = set.reload(&missing, &mut events).err().unwrap();
    assert_eq!(error.exit, Exit::Unavailable);
    assert!(events.is_empty());
    assert_eq!(set.triggers().len(), 2);
    // cpu some is kept, under its new severity, its episode going on; io closes and says
    // its episode is over; cpu full is armed afresh.
    let second = config(
        &fixture,
        &[
            "-t",
            "cpu:full:50%:2s",
            "-t",
            "cpu:some:50%:2s severity=crit",
        ],
    );
    let reloaded = set.reload(&second, &mut events).unwrap();
    assert_eq!((reloaded.triggers, reloaded.kept), (2, 1));
    assert_eq!(said(&events), ["recovered /"]);
    let io = |event: &Event| matches!(event, Event::Recovered { subject, .. } if subject.spec.resource == Resource::Io);
    assert!(io(&events[0]));
    let kept = &set.triggers()[1];
    assert_eq!(kept.raw_fd(), fd, "the same descriptor, still armed");
    assert_eq!(kept.spec.severity, Level::Crit);
    assert!(matches!(kept.episode, Episode::Active { crossings: 1, .. }));
    assert_eq!(set.triggers()[0].episode, Episode::Idle);
}
