//! The command line, the file, their merge and `render`, on fixture roots; and the
//! vocabulary held to one table: the help text, the man page and `render` agree with it.

use std::ffi::OsString;
use std::path::Path;

use super::*;
use crate::roots::fixture::Fixture;

/// Loads the configuration `args` ask for, on the roots of `fixture` (a cgroup2 mount
/// of its own, with no group in it).
fn run_on(fixture: &Fixture, args: &[&str]) -> Result<Config, Error> {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    match parse(&args)? {
        Command::Run(source) => load(&source, &fixture.roots()),
        _ => panic!("not a run"),
    }
}

fn run(args: &[&str]) -> Result<Config, Error> {
    run_on(&Fixture::new("config"), args)
}

fn file(text: &str) -> Result<Settings, Error> {
    parse_file(Path::new("/etc/psi-syslogd.conf"), text)
}

#[test]
fn defaults() {
    let config = run(&[]).unwrap();
    let shown: Vec<String> = config.triggers.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "memory:some:200000:2000000",
            "io:full:300000:2000000",
            "cpu:some:1000000:2000000"
        ]
    );
    assert_eq!(config.output, Output::Syslog(None));
    assert_eq!(config.facility as u8, Facility::LOG_DAEMON as u8);
    assert_eq!(config.ident, "psi-syslogd");
    assert_eq!(
        config.pacing,
        Pacing {
            repeat_us: 60_000_000,
            recover_after_us: None
        }
    );
    assert_eq!(config.heartbeat_us, None);
}

#[test]
fn options() {
    let config = run(&[
        "-t",
        "memory:some:150000:1000000",
        "--trigger",
        "io:full:20%:4s",
        "--socket",
        "/tmp/x.sock",
        "--facility",
        "local3",
        "--ident",
        "psi-test",
        "--repeat",
        "5m",
        "--recover-after",
        "1500ms",
        "--heartbeat",
        "30",
    ])
    .unwrap();
    assert_eq!(config.triggers.len(), 2);
    assert_eq!(config.output, Output::Syslog(Some("/tmp/x.sock".into())));
    assert_eq!(config.facility as u8, Facility::LOG_LOCAL3 as u8);
    assert_eq!(config.ident, "psi-test");
    assert_eq!(config.pacing.repeat_us, 300_000_000);
    assert_eq!(config.pacing.recover_after_us, Some(1_500_000));
    assert_eq!(config.heartbeat_us, Some(30_000_000));
    assert_eq!(run(&["--stderr"]).unwrap().output, Output::Stderr);
    assert_eq!(run(&["--journal"]).unwrap().output, Output::Journal);
    assert_eq!(run(&["--repeat", "0"]).unwrap().pacing.repeat_us, 0);
}

#[test]
fn usage_errors_quote_the_input() {
    let table: [(&[&str], &str); 14] = [
        (
            &["-t", "memory:some:15O000:1s"],
            "invalid trigger 'memory:some:15O000:1s'",
        ),
        (&["--facility", "daemons"], "unknown facility 'daemons'"),
        (&["--facility", "DAEMON"], "unknown facility 'DAEMON'"),
        (&["--ident", "has space"], "invalid --ident \"has space\""),
        (&["--ident", ""], "invalid --ident \"\""),
        (&["--ident", "a:b"], "invalid --ident \"a:b\""),
        (
            &["--stderr", "--socket", "/x"],
            "--socket '/x' does not go with --stderr",
        ),
        (
            &["--stderr", "--journal"],
            "--stderr and --journal exclude each other",
        ),
        (&["--socket", ""], "--socket '' is empty"),
        (&["--bogus"], "Unrecognized argument: --bogus"),
        (&["-t"], "No value provided for option '-t'"),
        (
            &["--repeat", "1h"],
            "invalid --repeat '1h' is not a duration",
        ),
        (&["--recover-after", "0"], "--recover-after 0"),
        (
            &["--print", "--cgroup", "system.slice/x"],
            "invalid --cgroup 'system.slice/x': must start with '/'",
        ),
    ];
    for (args, expected) in table {
        let error = run(args).unwrap_err();
        assert_eq!(error.exit, Exit::Usage, "{args:?}");
        assert!(
            error.message.contains(expected),
            "{args:?}: {}",
            error.message
        );
    }
}

#[test]
fn help_and_version_print() {
    for (arg, expected) in [
        ("--help", "Usage: psi-syslogd"),
        ("-h", "Usage: psi-syslogd"),
        ("-V", "psi-syslogd 0."),
        ("--version", "psi-syslogd 0."),
    ] {
        match parse(&[OsString::from(arg)]).unwrap() {
            Command::Text(text) => assert!(text.contains(expected), "{arg}: {text}"),
            _ => panic!("{arg} did not print"),
        }
    }
}

#[test]
fn the_file_takes_every_directive() {
    let settings = file(
        "# psi-syslogd\n\
         trigger memory:some:10%:2s   # comment\n\
         \ttrigger cpu:some:50%:2s:/system.slice/a#b.service\n\
         \n\
         socket /run/x.sock\n\
         facility local3\n\
         ident psi\n\
         repeat 5m\n\
         recover-after 30s\n\
         heartbeat 1m\n\
         wait-for-cgroups\n\
         stderr no\n",
    )
    .unwrap();
    assert_eq!(settings.triggers.len(), 2);
    assert_eq!(
        settings.triggers[1].cgroup.as_deref().map(Pattern::as_str),
        Some("/system.slice/a#b.service")
    );
    assert_eq!(settings.socket.as_deref(), Some("/run/x.sock"));
    assert_eq!(settings.repeat_us, Some(300_000_000));
    assert_eq!(settings.recover_after_us, Some(30_000_000));
    assert_eq!(settings.heartbeat_us, Some(60_000_000));
    assert_eq!(settings.wait_for_cgroups, Some(true));
    assert_eq!(settings.stderr, Some(false));
}

#[test]
fn file_errors_name_file_and_line_and_quote_the_text() {
    let table = [
        (
            "trigger memory:some:15O000:1s",
            ":1: invalid trigger 'memory:some:15O000:1s'",
        ),
        ("\n\ntriger cpu:some:1:2s", ":3: unknown directive 'triger'"),
        ("trigger", ":1: 'trigger' needs a value (in 'trigger')"),
        ("facility nope", ":1: unknown facility 'nope': use kern"),
        ("repeat soon", ":1: invalid repeat 'soon' is not a duration"),
        (
            "stderr maybe",
            ":1: 'maybe' is not yes or no (in 'stderr maybe')",
        ),
    ];
    for (text, expected) in table {
        let error = file(text).unwrap_err();
        assert_eq!(error.exit, Exit::Config, "{text}");
        assert!(
            error.message.starts_with("/etc/psi-syslogd.conf:") && error.message.contains(expected),
            "{text}: {}",
            error.message
        );
    }
}

#[test]
fn the_command_line_wins_over_the_file() {
    let file =
        file("trigger memory:some:10%:2s\nfacility local3\nident fromfile\nrepeat 5m\n").unwrap();
    let args: Vec<OsString> = ["-t", "cpu:some:50%:2s", "--ident", "fromcli"]
        .iter()
        .map(OsString::from)
        .collect();
    let Command::Run(source) = parse(&args).unwrap() else {
        panic!()
    };
    let config = merge(
        &source.command_line,
        file.clone(),
        &Fixture::new("config").roots(),
    )
    .unwrap();
    assert_eq!(config.triggers.len(), 1);
    assert_eq!(config.triggers[0].to_string(), "cpu:some:1000000:2000000");
    assert_eq!(config.ident, "fromcli");
    assert_eq!(config.facility as u8, Facility::LOG_LOCAL3 as u8);
    assert_eq!(config.pacing.repeat_us, 300_000_000);
    let config = merge(&Settings::default(), file, &Fixture::new("config").roots()).unwrap();
    assert_eq!(config.triggers[0].to_string(), "memory:some:200000:2000000");
}

/// A trigger's cgroup is named relative to the cgroup2 mount the roots find (a full
/// path under it is shortened; the mount itself is the root group, system-wide), and
/// without a mount a cgroup trigger cannot load, while a system-wide one can.
#[test]
fn cgroups_are_named_relative_to_the_mount_of_the_roots() {
    let fixture = Fixture::new("config-cgroups");
    let mount = fixture.cgroup().display().to_string();
    let config = run_on(
        &fixture,
        &[
            "-t",
            &format!("cpu:some:1ms:2s:{mount}/system.slice/x.service/"),
            "-t",
            "io:some:1ms:2s:/a//b",
            "-t",
            &format!("memory:some:1ms:2s:{mount}"),
            "-t",
            "memory:full:1ms:2s:/elsewhere/*.scope",
        ],
    )
    .unwrap();
    let shown: Vec<String> = config.triggers.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "cpu:some:1000:2000000:/system.slice/x.service",
            "io:some:1000:2000000:/a//b",
            "memory:some:1000:2000000",
            "memory:full:1000:2000000:/elsewhere/*.scope",
        ]
    );
    fixture.write("proc/self/mountinfo", "1 0 0:1 / / rw - ext4 /dev/vda rw\n");
    let error = run_on(&fixture, &["-t", "cpu:some:1ms:2s:/a"]).unwrap_err();
    assert_eq!(error.exit, Exit::Unavailable);
    assert_eq!(
        error.message,
        format!(
            "cannot watch cgroup triggers: no cgroup2 filesystem in {}/self/mountinfo: \
             mount cgroup2 (e.g. boot with systemd.unified_cgroup_hierarchy=1)",
            fixture.proc().display()
        )
    );
    assert!(run_on(&fixture, &["-t", "cpu:some:1ms:2s"]).is_ok());
}

#[test]
fn durations() {
    assert_eq!(parse_interval_us("90"), Ok(90_000_000));
    assert_eq!(parse_interval_us("90s"), Ok(90_000_000));
    assert_eq!(parse_interval_us("500ms"), Ok(500_000));
    assert_eq!(parse_interval_us("5m"), Ok(300_000_000));
    for bad in ["", "s", "1.5s", "-1", "1h", "1 s", "99999999999999m"] {
        assert!(parse_interval_us(bad).is_err(), "{bad}");
    }
}

#[test]
fn render_reads_back() {
    let config = run(&[
        "-t",
        "io:full:20%:4s",
        "--repeat",
        "5m",
        "--heartbeat",
        "10s",
    ])
    .unwrap();
    let text = render(&config);
    let again = merge(
        &Settings::default(),
        file(&text).unwrap(),
        &Fixture::new("config").roots(),
    )
    .unwrap();
    assert_eq!(again.triggers, config.triggers);
    assert_eq!(again.pacing, config.pacing);
    assert_eq!(again.heartbeat_us, config.heartbeat_us);
}

#[test]
fn the_command_line_output_replaces_the_files() {
    let file = file("socket /run/x.sock\n").unwrap();
    let args: Vec<OsString> = ["--stderr"].iter().map(OsString::from).collect();
    let Command::Run(source) = parse(&args).unwrap() else {
        panic!()
    };
    let config = merge(
        &source.command_line,
        file.clone(),
        &Fixture::new("config").roots(),
    )
    .unwrap();
    assert_eq!(config.output, Output::Stderr);
    let config = merge(&Settings::default(), file, &Fixture::new("config").roots()).unwrap();
    assert_eq!(config.output, Output::Syslog(Some("/run/x.sock".into())));
}

#[test]
fn every_file_error_is_a_file_error() {
    let table = [
        ("ident bad:ident", ":1: invalid --ident \"bad:ident\""),
        ("repeat 1m\nrecover-after 0", ":2: --recover-after 0"),
        (
            "stderr\njournal",
            ": --stderr and --journal exclude each other",
        ),
        (
            "socket /x\nstderr yes",
            ": --socket '/x' does not go with --stderr",
        ),
    ];
    for (text, expected) in table {
        let error = file(text).unwrap_err();
        assert_eq!(error.exit, Exit::Config, "{text}");
        assert!(
            error.message.starts_with("/etc/psi-syslogd.conf") && error.message.contains(expected),
            "{text}: {}",
            error.message
        );
    }
}

/// Found by tests/fuzz (config_file): a NUL in a trigger's cgroup passed the file's
/// parser and was refused only when the triggers were merged, as a usage error (64)
/// without FILE:LINE.
#[test]
fn a_nul_in_a_cgroup_is_a_file_error() {
    let error = file("ident x\ntrigger cpu:some:1ms:2s:/a\0b\n").unwrap_err();
    assert_eq!(error.exit, Exit::Config);
    assert!(
        error.message.starts_with(
            "/etc/psi-syslogd.conf:2: invalid trigger 'cpu:some:1ms:2s:/a\0b': \
             cgroup '/a\0b' has a NUL byte"
        ),
        "{}",
        error.message
    );
}

/// Found by tests/fuzz (command_line): values the file's syntax cannot hold were
/// rendered as lines that read back as something else (`ident #x` is `ident` and a
/// comment; a newline in a socket path started a directive of its own).
#[test]
fn render_never_writes_what_reads_back_otherwise() {
    let config = run(&[
        "--ident",
        "#x",
        "--socket",
        "/run/a\ntrigger cpu:some:1ms:2s",
        "-t",
        "cpu:some:1ms:2s:/a #b",
        "-t",
        "io:some:1ms:2s",
    ])
    .unwrap();
    let text = render(&config);
    assert!(
        text.contains("# ident \"#x\": not written, the file cannot hold this value\n"),
        "{text}"
    );
    assert!(
        text.contains("# socket \"/run/a\\ntrigger cpu:some:1ms:2s\": not written"),
        "{text}"
    );
    assert!(text.contains("# trigger \"cpu:some:1000:2000000:/a #b\": not written"));
    assert!(text.contains("\ntrigger io:some:1000:2000000\n"), "{text}");
    let again = merge(
        &Settings::default(),
        file(&text).unwrap(),
        &Fixture::new("config").roots(),
    )
    .unwrap();
    assert_eq!(again.triggers, [config.triggers[1].clone()]);
    assert_eq!(again.ident, "psi-syslogd");
    assert_eq!(again.output, Output::Syslog(None));
}

/// An option as the help text's usage line and the man page's synopsis write it: the
/// short flag if it has one, else the long one, and the value it takes.
fn synopsis(directive: &Directive) -> (String, bool) {
    let flag = match directive.short {
        Some(short) => format!("-{short}"),
        None => format!("--{}", directive.name),
    };
    (flag, directive.takes == Takes::Value)
}

fn help_text() -> String {
    match parse(&[OsString::from("--help")]).unwrap() {
        Command::Text(text) => text,
        _ => panic!("--help did not print"),
    }
}

/// argh's help text, from the `Args` struct, lists exactly the table's options, in its
/// order, each taking a value or not, repeatable or not, as the table says.
#[test]
fn the_help_text_lists_the_options_of_the_table() {
    let help = help_text();
    let usage = help.lines().next().unwrap();
    let from_usage: Vec<String> = usage
        .split('[')
        .skip(1)
        .map(|item| item.split(']').next().unwrap().to_string())
        .collect();
    let expected: Vec<String> = DIRECTIVES
        .iter()
        .map(|d| {
            let (flag, takes_value) = synopsis(d);
            let dots = if d.repeatable { "..." } else { "" };
            match takes_value {
                true => format!("{flag} <{}{dots}>", d.name),
                false => flag,
            }
        })
        .collect();
    assert_eq!(from_usage, expected, "{usage}");
    let from_options: Vec<&str> = help
        .lines()
        .skip_while(|line| *line != "Options:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter(|line| line.starts_with("  -"))
        .map(|line| line.trim().split("  ").next().unwrap())
        .collect();
    let mut expected: Vec<String> = DIRECTIVES
        .iter()
        .map(|d| match d.short {
            Some(short) => format!("-{short}, --{}", d.name),
            None => format!("--{}", d.name),
        })
        .collect();
    expected.push("--help, help".into());
    assert_eq!(from_options, expected, "{help}");
    // The file's directives are named where the help says what the file takes.
    assert!(help.contains("The file takes one directive per line with the long options' names"));
}

/// The man page's synopsis, its OPTIONS (in the table's order) and its list of the
/// file's directives agree with the table.
#[test]
fn the_man_page_lists_the_options_and_directives_of_the_table() {
    let man = include_str!("../../man/psi-syslogd.8");
    let section = |name: &str| -> Vec<&str> {
        man.lines()
            .skip_while(|line| *line != format!(".Sh {name}"))
            .skip(1)
            .take_while(|line| !line.starts_with(".Sh "))
            .collect()
    };
    // `.Op Fl Fl socket Ar path`, `.Fl Fl print`, `.Op Fl t Ar spec`: flag and value.
    let flag_of = |words: &[&str]| -> (String, bool) {
        let takes_value = words.contains(&"Ar");
        match words {
            ["Fl", "Fl", name, ..] => (format!("--{name}"), takes_value),
            ["Fl", short, ..] => (format!("-{short}"), takes_value),
            _ => panic!("not an option: {words:?}"),
        }
    };
    let mut from_synopsis: Vec<(String, bool)> = section("SYNOPSIS")
        .iter()
        .filter_map(|line| {
            let words: Vec<&str> = line.trim_start_matches('.').split_whitespace().collect();
            let words = words.strip_prefix(&["Op"]).unwrap_or(&words);
            words
                .first()
                .is_some_and(|w| *w == "Fl")
                .then(|| flag_of(words))
        })
        .collect();
    let mut expected: Vec<(String, bool)> = DIRECTIVES.iter().map(synopsis).collect();
    expected.push(("-h".into(), false));
    // An option may stand in both forms of the synopsis (-t and -c go with --print too).
    from_synopsis.sort();
    from_synopsis.dedup();
    expected.sort();
    assert_eq!(from_synopsis, expected);
    // `.It Fl t , Fl Fl trigger Ar spec`, `.It Fl Fl socket Ar path`.
    let from_options: Vec<(String, bool)> = section("OPTIONS")
        .iter()
        .filter_map(|line| line.strip_prefix(".It Fl "))
        .map(|item| {
            let words: Vec<&str> = item.split_whitespace().collect();
            let long = words
                .windows(3)
                .find(|w| w[0] == "Fl" && w[1] == "Fl")
                .map(|w| w[2])
                .or_else(|| (words[0] == "Fl").then(|| words[1]))
                .unwrap();
            (long.to_string(), words.contains(&"Ar"))
        })
        .collect();
    let mut expected: Vec<(String, bool)> = DIRECTIVES
        .iter()
        .map(|d| (d.name.to_string(), d.takes == Takes::Value))
        .collect();
    expected.push(("help".into(), false));
    assert_eq!(from_options, expected);
    // `.Cm trigger ,` ... `.Cm wait-for-cgroups .`: the file's directives, in order.
    let from_file: Vec<&str> = section("CONFIGURATION FILE")
        .iter()
        .skip_while(|line| !line.starts_with(".Cm "))
        .take_while(|line| line.starts_with(".Cm "))
        .map(|line| line.split_whitespace().nth(1).unwrap())
        .collect();
    let expected: Vec<&str> = DIRECTIVES
        .iter()
        .filter(|d| d.set.is_some())
        .map(|d| d.name)
        .collect();
    assert_eq!(from_file, expected);
}

/// `render` writes every directive of the file (the output as whichever of `socket`,
/// `stderr` or `journal` is chosen), and nothing that is not one.
#[test]
fn render_writes_every_directive_of_the_file_and_no_other() {
    let mut mentioned = std::collections::BTreeSet::new();
    for output in [
        &["--socket", "/run/x.sock"][..],
        &["--stderr"],
        &["--journal"],
    ] {
        let mut args = vec![
            "-t",
            "cpu:some:50%:2s",
            "--facility",
            "local3",
            "--ident",
            "x",
            "--repeat",
            "5m",
            "--recover-after",
            "30s",
            "--heartbeat",
            "1m",
            "--wait-for-cgroups",
        ];
        args.extend(output);
        let text = render(&run(&args).unwrap());
        for line in text.lines() {
            let line = line.strip_prefix("# ").unwrap_or(line);
            let name = line.split([' ', ':']).next().unwrap();
            assert!(
                DIRECTIVES.iter().any(|d| d.name == name && d.set.is_some()),
                "render wrote {name:?}, which the file does not take: {text}"
            );
            mentioned.insert(name.to_string());
        }
    }
    let expected: std::collections::BTreeSet<String> = DIRECTIVES
        .iter()
        .filter(|d| d.set.is_some())
        .map(|d| d.name.to_string())
        .collect();
    assert_eq!(mentioned, expected);
}
