//! cgroup paths, fixed or with shell wildcards: `/system.slice/postgresql.service`,
//! `/system.slice/*.service`, `/kubepods.slice/*/*`. Parsed once, here, with every check
//! a trigger's cgroup, a `--cgroup` and a full path under the mount go through.
//!
//! A component of the path may hold `*`, `?` and `[...]` (with `!` or `^` to negate and
//! `a-z` ranges), which never match `/`; `\` quotes the character after it. A path
//! without wildcards is *fixed*: it names one group. Matching walks the cgroup tree from
//! the root, one component at a time, and reports both the groups that match and the
//! directories that could come to hold a match, so the caller can watch those (and only
//! those) for new groups.

use std::fmt;
use std::io;
use std::path::{Component as PathComponent, Path, PathBuf};

use crate::refusal;

/// One component of a cgroup path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Component {
    /// A plain name, its `\` quoting undone.
    Literal(String),
    /// A name with wildcards, as written (quoting kept for the matcher).
    Glob(String),
}

/// A parsed cgroup path (relative to the cgroup2 root), fixed or with wildcards.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pattern {
    /// As written (Display gives it back, and `Spec::parse` reads that again).
    text: String,
    /// One per non-empty part of `text`, in order.
    components: Vec<Component>,
}

impl Pattern {
    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A group that matches, found by `Pattern::scan`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// The group's directory under the cgroup2 mount.
    pub dir: PathBuf,
    /// Its name relative to the cgroup2 root (`/system.slice/x.service`), as logged.
    pub cgroup: String,
}

impl Pattern {
    /// Parses a cgroup path, which must begin with `/`. `.` and `..` components are
    /// refused (the name must be the group's own, as /proc/PID/cgroup gives it), as are
    /// a NUL byte and a `\` with nothing after it. Empty components (`//`, a trailing
    /// `/`) are ignored. The error says what is wrong, after the path it is about.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if !text.starts_with('/') {
            return Err("must start with '/', as /proc/PID/cgroup names it \
                 (e.g. /system.slice/postgresql.service)"
                .to_string());
        }
        let mut components = Vec::new();
        for part in text.split('/').filter(|part| !part.is_empty()) {
            if part == "." || part == ".." {
                return Err(format!(
                    "has a '{part}' part; name the group as /proc/PID/cgroup does \
                     (e.g. /system.slice/postgresql.service)"
                ));
            }
            // No cgroup name holds a NUL (the kernel's paths are C strings); refused
            // here, where a config file's error still has its FILE:LINE (found by
            // tests/fuzz: merge refused it later, as a usage error).
            if part.contains('\0') {
                return Err("has a NUL byte; no cgroup name holds one".to_string());
            }
            if part.ends_with('\\')
                && part.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
            {
                return Err("ends in a lone '\\' (write '\\\\' for a backslash)".to_string());
            }
            components.push(if has_wildcard(part) {
                Component::Glob(part.to_string())
            } else {
                Component::Literal(unquote(part))
            });
        }
        Ok(Pattern {
            text: text.to_string(),
            components,
        })
    }

    /// The same path relative to the cgroup2 root when it was written as a full path
    /// under `mount` (`/sys/fs/cgroup/system.slice/x.service` is `/system.slice/x.service`),
    /// without the trailing `/`; `None` for the root group itself, which is system-wide.
    /// The path was checked when it was parsed; its parts are compared as written.
    pub fn relative_to(&self, mount: &Path) -> Option<Pattern> {
        let (text, components) = match Path::new(&self.text).strip_prefix(mount) {
            Ok(rest) => {
                // Parsing refused `.` and `..`, so the mount's names are the first parts.
                let names = mount
                    .components()
                    .filter(|c| matches!(c, PathComponent::Normal(_)))
                    .count();
                let rest = format!("/{}", rest.to_string_lossy());
                (rest, self.components.get(names..).unwrap_or_default())
            }
            Err(_) => (self.text.clone(), &self.components[..]),
        };
        let text = text.trim_end_matches('/');
        (!text.is_empty()).then(|| Pattern {
            text: text.to_string(),
            components: components.to_vec(),
        })
    }

    /// Whether the path names exactly one group (no wildcards).
    pub fn is_fixed(&self) -> bool {
        self.components
            .iter()
            .all(|c| matches!(c, Component::Literal(_)))
    }

    /// The group a fixed path names, relative to the root (`/a/b`), `None` for the
    /// root itself or for a pattern.
    pub fn fixed_group(&self) -> Option<String> {
        let mut group = String::new();
        for component in &self.components {
            match component {
                Component::Literal(name) => {
                    group.push('/');
                    group.push_str(name);
                }
                Component::Glob(_) => return None,
            }
        }
        (!group.is_empty()).then_some(group)
    }

    /// Walks the tree under `root` (the cgroup2 mount) and returns every group that
    /// matches. `watch` is called, before it is looked into, on every directory the walk
    /// passes through: new subdirectories there could match or lead to a match, and the
    /// removal of one is told only there (cgroupfs sends a removed directory's own watch
    /// neither IN_DELETE_SELF nor IN_IGNORED; its parent gets IN_DELETE). Calling
    /// `watch` before listing means a group created at any moment is either listed here
    /// or announced to the watcher. A directory that vanishes while it is
    /// walked makes the scan incomplete (`Scan::complete`): the caller walks again, and
    /// then watches its parent. Any other error (a directory that cannot be listed)
    /// ends the walk.
    pub fn scan(
        &self,
        root: &Path,
        watch: &mut dyn FnMut(&Path) -> io::Result<()>,
    ) -> io::Result<Scan> {
        let mut scan = Scan {
            matches: Vec::new(),
            complete: true,
        };
        let mut cgroup = String::new();
        self.walk(root, 0, &mut cgroup, watch, &mut scan)?;
        Ok(scan)
    }

    /// The groups that match now, without watching anything (--check, --print).
    pub fn matches(&self, root: &Path) -> io::Result<Vec<Match>> {
        Ok(self.scan(root, &mut |_| Ok(()))?.matches)
    }

    fn walk(
        &self,
        dir: &Path,
        level: usize,
        cgroup: &mut String,
        watch: &mut dyn FnMut(&Path) -> io::Result<()>,
        scan: &mut Scan,
    ) -> io::Result<()> {
        let Some(component) = self.components.get(level) else {
            scan.matches.push(Match {
                dir: dir.to_path_buf(),
                cgroup: if cgroup.is_empty() {
                    "/".to_string()
                } else {
                    cgroup.clone()
                },
            });
            return Ok(());
        };
        let length = cgroup.len();
        scan.watch(dir, watch)?;
        match component {
            Component::Literal(name) => {
                let child = dir.join(name);
                if child.is_dir() {
                    cgroup.push('/');
                    cgroup.push_str(name);
                    self.walk(&child, level + 1, cgroup, watch, scan)?;
                    cgroup.truncate(length);
                }
            }
            Component::Glob(glob) => {
                let entries = match std::fs::read_dir(dir) {
                    Ok(entries) => entries,
                    Err(e) if is_gone(&e) => {
                        scan.incomplete();
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let entry = match entry {
                        Ok(entry) => entry,
                        Err(e) if is_gone(&e) => {
                            scan.incomplete();
                            return Ok(());
                        }
                        Err(e) => return Err(e),
                    };
                    if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                        continue;
                    }
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    if !glob_match(glob, &name) {
                        continue;
                    }
                    cgroup.push('/');
                    cgroup.push_str(&name);
                    self.walk(&entry.path(), level + 1, cgroup, watch, scan)?;
                    cgroup.truncate(length);
                }
            }
        }
        Ok(())
    }
}

/// What a scan found.
#[derive(Debug)]
pub struct Scan {
    pub matches: Vec<Match>,
    /// False when a directory vanished while it was walked: walk again, so the watches
    /// move to where the tree now ends.
    pub complete: bool,
}

impl Scan {
    fn incomplete(&mut self) {
        self.complete = false;
    }

    /// Watches `dir`; a directory already gone makes the scan incomplete.
    fn watch(
        &mut self,
        dir: &Path,
        watch: &mut dyn FnMut(&Path) -> io::Result<()>,
    ) -> io::Result<()> {
        match watch(dir) {
            Err(e) if is_gone(&e) => {
                self.incomplete();
                Ok(())
            }
            other => other,
        }
    }
}

/// A directory removed while we look at it.
fn is_gone(error: &io::Error) -> bool {
    error.raw_os_error().is_some_and(refusal::is_gone)
}

/// Whether a component holds an unquoted `*`, `?` or a complete `[...]`.
fn has_wildcard(component: &str) -> bool {
    let chars: Vec<char> = component.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '*' | '?' => return true,
            '[' if bracket_end(&chars, i).is_some() => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// A component with its `\` quoting undone.
fn unquote(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    let mut chars = component.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// Where the bracket expression that opens at `chars[open]` ends (the index after its
/// `]`), or `None` when it does not close: then the `[` is an ordinary character, as in
/// POSIX shells. A `]` right after `[` or `[!` is part of the set.
fn bracket_end(chars: &[char], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if matches!(chars.get(i), Some('!' | '^')) {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            ']' => return Some(i + 1),
            '\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Whether the bracket expression `chars[open..end]` admits `c`.
fn bracket_admits(chars: &[char], open: usize, end: usize, c: char) -> bool {
    let mut i = open + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let close = end - 1;
    let mut first = true;
    let mut admitted = false;
    while i < close {
        let mut low = chars[i];
        if low == '\\' && i + 1 < close {
            i += 1;
            low = chars[i];
        } else if low == ']' && !first {
            break;
        }
        first = false;
        i += 1;
        let mut high = low;
        if i + 1 < close && chars[i] == '-' {
            high = chars[i + 1];
            i += 2;
            if high == '\\' && i < close {
                high = chars[i];
                i += 1;
            }
        }
        if low <= c && c <= high {
            admitted = true;
        }
    }
    admitted != negated
}

/// Whether `name` matches the shell pattern `glob` (`*`, `?`, `[...]`, `\` quoting),
/// the whole of it, as fnmatch(3) without flags does for one path component.
pub fn glob_match(glob: &str, name: &str) -> bool {
    let pattern: Vec<char> = glob.chars().collect();
    let text: Vec<char> = name.chars().collect();
    let (mut p, mut t) = (0, 0);
    // The last `*` seen and where in the text it was tried: on a mismatch it takes one
    // more character and matching goes on from there (linear in practice, quadratic at
    // worst, never exponential).
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                '*' => {
                    backtrack = Some((p, t));
                    p += 1;
                    continue;
                }
                '?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                '[' => {
                    if let Some(end) = bracket_end(&pattern, p) {
                        if bracket_admits(&pattern, p, end, text[t]) {
                            p = end;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == '[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                '\\' if p + 1 < pattern.len() => {
                    if pattern[p + 1] == text[t] {
                        p += 2;
                        t += 1;
                        continue;
                    }
                }
                c => {
                    if c == text[t] {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match backtrack {
            Some((star, tried)) => {
                p = star + 1;
                t = tried + 1;
                backtrack = Some((star, tried + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_the_shell() {
        let table = [
            ("*.service", "postgresql.service", true),
            ("*.service", "postgresql.socket", false),
            ("*.service", ".service", true),
            ("*", "", true),
            ("*", "anything", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("?", "a", true),
            ("?", "", false),
            ("?", "ab", false),
            ("pod-???", "pod-123", true),
            ("pod-???", "pod-12", false),
            ("[abc]x", "bx", true),
            ("[abc]x", "dx", false),
            ("[!abc]x", "dx", true),
            ("[^abc]x", "ax", false),
            ("[a-c]*", "cat", true),
            ("[a-c]*", "dog", false),
            ("[]]", "]", true),
            ("[!]]", "]", false),
            ("[!]]", "a", true),
            ("[a-]", "-", true),
            ("[", "[", true),
            ("[ab", "[ab", true),
            ("a[", "a[", true),
            ("\\*", "*", true),
            ("\\*", "x", false),
            ("a\\?", "a?", true),
            ("a\\?", "ab", false),
            ("\\[a]", "[a]", true),
            ("\\[a]", "a", false),
            ("*x*x*x*x*x*x*y", &"x".repeat(60), false),
            ("caf\u{e9}*", "caf\u{e9}-1", true),
            ("docker-*.scope", "docker-0123abcd.scope", true),
        ];
        for (glob, name, expected) in table {
            assert_eq!(glob_match(glob, name), expected, "{glob:?} {name:?}");
        }
    }

    #[test]
    fn paths_parse_into_fixed_groups_or_patterns() {
        let fixed = Pattern::parse("/system.slice/postgresql.service").unwrap();
        assert!(fixed.is_fixed());
        assert_eq!(
            fixed.fixed_group().as_deref(),
            Some("/system.slice/postgresql.service")
        );
        let quoted = Pattern::parse("/a\\*b/c\\\\d").unwrap();
        assert!(quoted.is_fixed());
        assert_eq!(quoted.fixed_group().as_deref(), Some("/a*b/c\\d"));
        let unclosed = Pattern::parse("/a[b").unwrap();
        assert!(
            unclosed.is_fixed(),
            "an unclosed [ is an ordinary character"
        );
        for pattern in ["/system.slice/*.service", "/k/*/*", "/a/[ab]", "/x?"] {
            let parsed = Pattern::parse(pattern).unwrap();
            assert!(!parsed.is_fixed(), "{pattern}");
            assert_eq!(parsed.fixed_group(), None, "{pattern}");
        }
        assert_eq!(Pattern::parse("/").unwrap().fixed_group(), None);
        assert_eq!(
            Pattern::parse("/a//b/").unwrap().fixed_group().as_deref(),
            Some("/a/b")
        );
        for bad in ["/a/../b", "/./a", "/a\\", "/a\\\\\\", "/a\0b", "/\0"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        assert!(Pattern::parse("/a\\\\").is_ok());
    }

    /// A full path under the mount names the group relative to the root, as
    /// /proc/PID/cgroup does; the mount itself (or `/`) is the root group: system-wide.
    #[test]
    fn names_are_relative_to_the_root() {
        let mount = Path::new("/sys/fs/cgroup/unified");
        let table = [
            (
                "/system.slice/postgresql.service",
                Some("/system.slice/postgresql.service"),
            ),
            (
                "/sys/fs/cgroup/unified/system.slice/x.service",
                Some("/system.slice/x.service"),
            ),
            (
                "//sys/fs/cgroup//unified//system.slice//*.service//",
                Some("/system.slice//*.service"),
            ),
            ("/system.slice/", Some("/system.slice")),
            ("/", None),
            ("///", None),
            ("/sys/fs/cgroup/unified", None),
            ("/sys/fs/cgroup/unified/", None),
            (
                "/sys/fs/cgroup/unifiedx/a",
                Some("/sys/fs/cgroup/unifiedx/a"),
            ),
            ("/sys/fs/cgroup", Some("/sys/fs/cgroup")),
            ("/a:b c", Some("/a:b c")),
        ];
        for (given, expected) in table {
            let relative = Pattern::parse(given).unwrap().relative_to(mount);
            assert_eq!(
                relative.as_ref().map(ToString::to_string).as_deref(),
                expected,
                "{given}"
            );
            // What is left parses to the same groups.
            if let Some(relative) = relative {
                assert_eq!(
                    Some(&relative),
                    Pattern::parse(expected.unwrap()).ok().as_ref()
                );
            }
        }
        let fixed = Pattern::parse("/sys/fs/cgroup/unified/a\\*b/c").unwrap();
        let relative = fixed.relative_to(mount).unwrap();
        assert_eq!(relative.fixed_group().as_deref(), Some("/a*b/c"));
        for bad in ["system.slice", "", "/a/../b", "/./a"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Pattern::parse("x")
                .unwrap_err()
                .starts_with("must start with '/'")
        );
    }

    /// A tree on disk that looks like a cgroup hierarchy (directories only).
    fn tree(name: &str, dirs: &[&str]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("psi-pattern-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in dirs {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("system.slice/cpu.pressure.service"), "").unwrap();
        root
    }

    #[test]
    fn a_scan_finds_every_match_and_watches_where_new_ones_can_appear() {
        let root = tree(
            "scan",
            &[
                "system.slice/a.service/child",
                "system.slice/b.service",
                "system.slice/c.socket",
                "kubepods.slice/pod1/c1",
                "kubepods.slice/pod1/c2",
                "kubepods.slice/pod2",
            ],
        );
        let scan = |text: &str| {
            let mut watched = Vec::new();
            let scan = Pattern::parse(text)
                .unwrap()
                .scan(&root, &mut |dir: &Path| {
                    watched.push(dir.strip_prefix(&root).unwrap().display().to_string());
                    Ok(())
                })
                .unwrap();
            assert!(scan.complete);
            let mut found: Vec<String> = scan.matches.into_iter().map(|m| m.cgroup).collect();
            found.sort();
            watched.sort();
            (found, watched)
        };
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // Every directory on the way is watched, the root included: a removed directory
        // is told by its parent. A regular file named like a match is not a group.
        assert_eq!(
            scan("/system.slice/*.service"),
            (
                strings(&["/system.slice/a.service", "/system.slice/b.service"]),
                strings(&["", "system.slice"])
            )
        );
        assert_eq!(
            scan("/kubepods.slice/*/*"),
            (
                strings(&["/kubepods.slice/pod1/c1", "/kubepods.slice/pod1/c2"]),
                strings(&[
                    "",
                    "kubepods.slice",
                    "kubepods.slice/pod1",
                    "kubepods.slice/pod2"
                ])
            )
        );
        // A fixed parent that does not exist yet: the walk ends, watching, where it can.
        assert_eq!(scan("/machine.slice/sub/*"), (vec![], strings(&[""])));
        assert_eq!(
            scan("/system.slice/none.service/x/*"),
            (vec![], strings(&["", "system.slice"]))
        );
        assert_eq!(
            scan("/system.slice/b.service"),
            (
                strings(&["/system.slice/b.service"]),
                strings(&["", "system.slice"])
            )
        );
        assert_eq!(
            scan("/system.slice/z.service"),
            (vec![], strings(&["", "system.slice"]))
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
