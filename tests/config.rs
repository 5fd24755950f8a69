//! The config file, as a user writes it: values taken where no flag is given, a flag winning,
//! `groupcast config` saying where each value came from, and a broken file named with its line.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_groupcast");

/// A fresh `$XDG_CONFIG_HOME` holding `groupcast/config.toml` with `text`.
fn config_home(tag: &str, text: &str) -> PathBuf {
    let home = std::env::temp_dir().join(format!("groupcast-config-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(home.join("groupcast")).unwrap();
    std::fs::write(home.join("groupcast/config.toml"), text).unwrap();
    home
}

fn run(home: &PathBuf, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("GROUPCAST_CONFIG")
        .env_remove("GROUPCAST_KEY_FILE")
        .output()
        .expect("run groupcast")
}

fn row<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines().find(|l| l.split_whitespace().next() == Some(key)).unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[test]
fn the_file_sets_what_no_flag_says_and_config_tells_where_each_value_came_from() {
    let home =
        config_home("ok", "name = \"carol\"\n# the LAN at home\nttl = 0\nheartbeat = \"1s\"\niface = \"127.0.0.1\"\n");
    let out = run(&home, &["config", "--ttl", "0", "--heartbeat", "750ms"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&format!("config file: {}", home.join("groupcast/config.toml").display())), "{text}");
    assert!(row(&text, "name").contains("carol") && row(&text, "name").ends_with("config file, line 1"), "{text}");
    assert!(row(&text, "heartbeat").contains("750ms") && row(&text, "heartbeat").ends_with("--heartbeat"), "{text}");
    assert!(row(&text, "ttl").ends_with("--ttl"), "{text}");
    assert!(row(&text, "iface").ends_with("config file, line 5"), "{text}");
    assert!(row(&text, "group").ends_with("default"), "{text}");
    assert!(row(&text, "key_file").ends_with("default"), "an open group: no key file to miss: {text}");
    // A real command takes the file's values: the doctor looks at the file's interface
    // (loopback, TTL 0: nothing leaves this host).
    let out = run(&home, &["doctor", "--json", "--listen", "0.3s"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor's JSON");
    assert_eq!(report["iface"], "127.0.0.1", "{report}");
    let ttl = report["checks"].as_array().unwrap().iter().find(|c| c["check"] == "ttl").unwrap();
    assert_eq!(ttl["status"], "warn", "TTL 0 from the file: {ttl}");
}

#[test]
fn a_broken_file_is_one_clear_error_with_its_line() {
    for (tag, text, want) in [
        ("type", "name = \"dave\"\nttl = \"two\"\n", "line 2"),
        ("key", "name = \"dave\"\n\ncolour = 3\n", "unknown field `colour`"),
        ("syntax", "name = \"dave\n", "line 1"),
        ("value", "heartbeat = \"soon\"\n", "line 1: heartbeat: not a duration"),
        ("range", "name = \"dave\"\nttl = 300\n", "line 2: ttl 300 is out of range"),
        ("group", "group = \"239.1.2.3\"\n", "line 1: group \"239.1.2.3\" is not ADDR:PORT"),
    ] {
        let home = config_home(tag, text);
        let out = run(&home, &["config"]);
        assert_eq!(out.status.code(), Some(2), "{tag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{tag}: one line: {err}");
        assert!(err.contains("config.toml") && err.contains(want), "{tag}: {err}");
        // Every command refuses it the same way, before doing anything.
        assert_eq!(run(&home, &["node"]).status.code(), Some(2), "{tag}");
    }
    // A file named on the command line must be there.
    let home = config_home("named", "");
    let out = run(&home, &["config", "--config", "/nonexistent/groupcast.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/groupcast.toml"));
}

#[test]
fn the_bell_colours_and_history_come_from_the_file_too() {
    let home = config_home("prefs", "bell = true\ncolours = \"off\"\nhistory = \"~/chat.jsonl\"\n");
    let out = run(&home, &["config", "--bell"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(row(&text, "bell").contains("on") && row(&text, "bell").ends_with("--bell"), "{text}");
    assert!(row(&text, "colours").contains("off") && row(&text, "colours").ends_with("config file, line 2"), "{text}");
    assert!(row(&text, "history").contains("chat.jsonl") && !row(&text, "history").contains('~'), "{text}");
    let home = config_home("badcolours", "colours = \"purple\"\n");
    let out = run(&home, &["config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1: colours: \"purple\" is not on or off"));
}

/// A key file the config names that is not there: `groupcast config` still prints the table,
/// marks the row, names the file's line in the error, and exits 2. Every value lines up.
#[test]
fn config_marks_a_missing_key_file_and_names_its_line() {
    let home = config_home("nokey", "name = \"erin\"\nkey_file = \"/nonexistent/team.key\"\n");
    let out = run(&home, &["config"]);
    assert_eq!(out.status.code(), Some(2), "a node could not start with it");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(row(&text, "key_file").ends_with("config file, line 2  <- no such file"), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2 (key_file)") && err.contains("/nonexistent/team.key"), "{err}");
    // The sources start in one column, however long a value.
    let rows: Vec<&str> = text.lines().skip(1).collect();
    let starts: std::collections::BTreeSet<usize> =
        rows.iter().map(|l| l.find(" default").or_else(|| l.find(" config file")).expect("a source")).collect();
    assert_eq!(starts.len(), 1, "sources in one column:\n{text}");
}
