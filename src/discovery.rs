//! Discovery of cgroups: what each pattern (or awaited fixed group) matches now, and
//! one inotify watcher, kept in the poll set only while something is looked for, that
//! wakes the loop when that may have changed. A look walks every pattern with the
//! watches going in before each directory is listed (`Pattern::scan`), so a group made
//! at any moment is either found or announced; the caller looks again on every wake-up
//! and compares what matches with what it holds (`appeared`).

use std::io;
use std::path::Path;

use crate::cgroup::Watcher;
use crate::pattern::{Match, Pattern, Scan};

/// The watcher and its failure, said once until one works again.
#[derive(Default)]
pub struct Discovery {
    /// Present while some directory is watched.
    watcher: Option<Watcher>,
    /// The lack of an inotify instance was said.
    failure_said: bool,
}

/// No inotify instance could be made: nothing was walked.
pub struct Unwatched {
    pub error: io::Error,
    /// The first failure since an instance was last made: say it.
    pub first: bool,
}

impl Discovery {
    /// Makes the inotify instance now if it will be `needed` and there is none: made
    /// before the triggers, it has its descriptor even when they take every other one.
    /// A failure here is said by the look that needs it.
    pub fn prepare(&mut self, needed: bool) {
        if needed && self.watcher.is_none() {
            self.watcher = Watcher::new().ok();
        }
    }

    /// One walk of `patterns` under the cgroup2 `mount`: for each, what it matches now
    /// (`Scan::complete` false when a directory vanished under it: look again), or why
    /// its directories could not be listed. The watches end up on exactly the
    /// directories where a new match can appear.
    pub fn look(
        &mut self,
        mount: &Path,
        patterns: &[&Pattern],
    ) -> Result<Vec<io::Result<Scan>>, Unwatched> {
        let mut watcher = match self.watcher.take().map_or_else(Watcher::new, Ok) {
            Ok(watcher) => watcher,
            Err(error) => {
                let first = !std::mem::replace(&mut self.failure_said, true);
                return Err(Unwatched { error, first });
            }
        };
        self.failure_said = false;
        watcher.begin();
        let found = patterns
            .iter()
            .map(|pattern| pattern.scan(mount, &mut |dir| watcher.watch(dir)))
            .collect();
        watcher.finish();
        self.watcher = (!watcher.is_empty()).then_some(watcher);
        Ok(found)
    }

    /// Nothing is looked for: no watch, and no descriptor.
    pub fn stop(&mut self) {
        self.watcher = None;
    }

    /// The watcher's slot in the poll set, while there is one.
    pub fn pollfd(&self) -> Option<libc::pollfd> {
        self.watcher.as_ref().map(|watcher| libc::pollfd {
            fd: watcher.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
    }

    /// Reads what woke the loop; the caller then looks again.
    pub fn drain(&mut self) {
        if let Some(watcher) = &mut self.watcher {
            watcher.drain();
        }
    }
}

/// The groups among `matches` that `known` does not hold yet.
pub fn appeared(matches: Vec<Match>, known: impl Fn(&str) -> bool) -> Vec<Match> {
    matches.into_iter().filter(|m| !known(&m.cgroup)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roots::fixture::Fixture;

    /// A look finds what each pattern matches, and a group made after it wakes the
    /// watcher, which the next look finds too; with nothing looked for, no descriptor.
    #[test]
    fn a_look_finds_the_matches_and_a_new_group_wakes_the_watcher() {
        let fixture = Fixture::new("discovery");
        fixture.group("/system.slice/a.service", &["cpu"]);
        fixture.group("/system.slice/b.socket", &["cpu"]);
        let services = Pattern::parse("/system.slice/*.service").unwrap();
        let awaited = Pattern::parse("/late.slice/x.service").unwrap();
        let mut discovery = Discovery::default();
        let groups = |found: &io::Result<Scan>| -> Vec<String> {
            let scan = found.as_ref().unwrap();
            assert!(scan.complete);
            let mut groups: Vec<String> = scan.matches.iter().map(|m| m.cgroup.clone()).collect();
            groups.sort();
            groups
        };
        let found = discovery
            .look(&fixture.cgroup(), &[&services, &awaited])
            .ok()
            .unwrap();
        assert_eq!(groups(&found[0]), ["/system.slice/a.service"]);
        assert_eq!(groups(&found[1]), Vec::<String>::new());
        let mut pollfd = discovery.pollfd().unwrap();
        assert_eq!(
            crate::sys::poll(std::slice::from_mut(&mut pollfd), 0).unwrap(),
            0
        );
        fixture.group("/system.slice/c.service", &["cpu"]);
        fixture.group("/late.slice/x.service", &["cpu"]);
        assert_eq!(
            crate::sys::poll(std::slice::from_mut(&mut pollfd), 0).unwrap(),
            1
        );
        discovery.drain();
        let found = discovery
            .look(&fixture.cgroup(), &[&services, &awaited])
            .ok()
            .unwrap();
        assert_eq!(
            groups(&found[0]),
            ["/system.slice/a.service", "/system.slice/c.service"]
        );
        assert_eq!(groups(&found[1]), ["/late.slice/x.service"]);
        let Ok(mut found) = discovery.look(&fixture.cgroup(), &[&services]) else {
            panic!("no watcher")
        };
        let matches = found.remove(0).unwrap().matches;
        let new = appeared(matches, |group| group == "/system.slice/a.service");
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].cgroup, "/system.slice/c.service");
        discovery.stop();
        assert!(discovery.pollfd().is_none());
    }
}
