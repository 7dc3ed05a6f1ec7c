//! cgroup names on their way in and out. The input's first byte picks the part:
//!
//! - the cgroup2 mount from /proc/self/mountinfo: any text, never a panic; and a mount
//!   point escaped as the kernel escapes it (space, tab, newline and backslash as \ooo,
//!   show_mountinfo's seq_path) reads back to itself;
//! - a group's name relative to the cgroup2 root (`Pattern::relative_to`): what comes
//!   out begins with `/`, has no `.`, `..` or NUL, parses to itself, and is the input
//!   less the mount;
//! - inotify events: any bytes, never a panic, even asked again after the end; and events
//!   laid out as the kernel does read back in order;
//! - a group's name in a line (`cgroup=`): any text, within its budget, its end kept
//!   behind `...`, read back strictly.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use psi_syslogd::cgroup::{cgroup2_mount, inotify_events};
use psi_syslogd::logfmt::Line;
use psi_syslogd::pattern::Pattern;
use psi_syslogd_fuzz::lines::{Want, check_line};

/// The kernel's mangling of a path in mountinfo.
fn escape(path: &str) -> String {
    let mut out = String::new();
    for c in path.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&part, rest)) = data.split_first() else {
        return;
    };
    let text = psi_syslogd_fuzz::text(rest);
    match part % 4 {
        0 => {
            let _ = cgroup2_mount(&text);
            let mount = format!("/{}", text.replace('\0', ""));
            let mountinfo = format!(
                "25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw\n\
                 41 31 0:38 / {} rw,relatime shared:10 - cgroup2 cgroup2 rw\n",
                escape(&mount)
            );
            assert_eq!(
                cgroup2_mount(&mountinfo),
                Some(PathBuf::from(&mount)),
                "{mountinfo:?}"
            );
        }
        1 => {
            let (given, mount) = match text.split_once('\u{1}') {
                Some((given, mount)) if mount.starts_with('/') => (given, mount),
                _ => (text.as_str(), "/sys/fs/cgroup"),
            };
            let mount = Path::new(mount);
            let pattern = match Pattern::parse(given) {
                Ok(pattern) => pattern,
                Err(why) => {
                    assert!(!why.is_empty());
                    return;
                }
            };
            match pattern.relative_to(mount) {
                Some(relative) => {
                    let name = relative.as_str();
                    assert!(name.starts_with('/'), "{given:?} -> {name:?}");
                    assert!(!name.contains('\0'), "{given:?} -> {name:?}");
                    assert!(
                        name.split('/').all(|p| p != "." && p != ".."),
                        "{given:?} -> {name:?}"
                    );
                    assert!(!name.ends_with('/'), "{given:?} -> {name:?}");
                    // What is left is a pattern of its own: parsed again, the same.
                    assert_eq!(
                        Pattern::parse(name).as_ref(),
                        Ok(&relative),
                        "{given:?} -> {name:?}"
                    );
                    // The group's directory is what was given, under the mount or not.
                    let named = if Path::new(given).starts_with(mount) {
                        mount.join(&name[1..])
                    } else {
                        PathBuf::from(name)
                    };
                    assert!(
                        named.components().eq(Path::new(given).components()),
                        "{given:?} -> {name:?} is {named:?}"
                    );
                }
                None => assert!(
                    Path::new(given)
                        .components()
                        .eq(Path::new("/").components())
                        || Path::new(given).components().eq(mount.components()),
                    "{given:?} is not the root"
                ),
            }
        }
        2 => {
            let mut events = inotify_events(rest);
            let mut count = 0;
            while events.next().is_some() {
                count += 1;
                assert!(count * 16 <= rest.len());
            }
            for _ in 0..3 {
                assert_eq!(events.next(), None, "an event after the end");
            }
            // Events as the kernel lays them out: wd, mask, cookie, len, then the name
            // padded with NULs to len.
            let mut buffer = Vec::new();
            let mut wanted = Vec::new();
            for (i, chunk) in rest.chunks(5).enumerate() {
                let wd = i as i32 * 7 - 3;
                let mask = u32::from(chunk[0]) << 24 | 0x100;
                let name_len = chunk.len() * 4;
                buffer.extend_from_slice(&wd.to_ne_bytes());
                buffer.extend_from_slice(&mask.to_ne_bytes());
                buffer.extend_from_slice(&0u32.to_ne_bytes());
                buffer.extend_from_slice(&(name_len as u32).to_ne_bytes());
                buffer.extend(std::iter::repeat_n(0, name_len));
                wanted.push((wd, mask));
            }
            assert_eq!(inotify_events(&buffer).collect::<Vec<_>>(), wanted);
        }
        _ => {
            let mut line = Line::event("x");
            line.cgroup_path(&text);
            check_line(
                &line,
                &vec![
                    ("event".into(), Want::Exact("x".into())),
                    ("cgroup".into(), Want::Cgroup(text.clone())),
                ],
            );
        }
    }
});
