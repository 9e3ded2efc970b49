//! Bad input gets a clear message naming the key or source, exit code 2 (config) or 1 (runtime),
//! and never shows a password.

use crate::support::Workspace;

const GOOD: &str = r#"
[sources.chain]
url = "postgres://tally:hunter2secret@127.0.0.1:1/chain"
statement_timeout = "5s"

[rollups.activity]
source = "chain"
table = "actions"
time = "block_time"
user = "signer"
measures = { actions = "count(*)" }

[segments.engagement]
rollup = "activity"
score = "actions"
groups = [ { name = "heavy", min_score = 15 }, { name = "light", min_score = 0 } ]

[reports.rewards]
kind = "segment_rewards"
segment = "engagement"
rewards = "activity"
amount = "actions"
"#;

/// Runs `tally check` on the config and returns (exit code, stdout + stderr).
fn check(config: &str) -> (i32, String) {
    let ws = Workspace::new(config);
    let out = ws.run(&["check"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("hunter2secret"), "password leaked:\n{text}");
    (out.status.code().unwrap(), text)
}

fn assert_config_error(config: &str, needles: &[&str]) {
    let (code, text) = check(config);
    assert_eq!(code, 2, "{text}");
    for n in needles {
        assert!(text.contains(n), "expected {n:?} in:\n{text}");
    }
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let config = GOOD.replace("statement_timeout", "statment_timeout");
    assert_config_error(&config, &["statment_timeout", "line"]);
}

#[test]
fn missing_variable_is_named() {
    let config = GOOD.replace(
        "postgres://tally:hunter2secret@127.0.0.1:1/chain",
        "${TALLY_TEST_NOT_SET_ANYWHERE}",
    );
    assert_config_error(
        &config,
        &["sources.chain.url", "TALLY_TEST_NOT_SET_ANYWHERE"],
    );
}

#[test]
fn bad_duration_and_time_zone_are_named() {
    let config = GOOD.replace("\"5s\"", "\"5 parsecs\"").replace(
        "[sources.chain]",
        "timezone = \"Mars/Olympus\"\n[sources.chain]",
    );
    assert_config_error(
        &config,
        &[
            "sources.chain.statement_timeout",
            "timezone",
            "Mars/Olympus",
        ],
    );
}

#[test]
fn parallel_out_of_range_is_named() {
    for n in ["0", "17", "-1"] {
        let config = GOOD.replace(
            "statement_timeout = \"5s\"",
            &format!("statement_timeout = \"5s\"\nparallel = {n}"),
        );
        assert_config_error(
            &config,
            &[
                "sources.chain.parallel",
                "between 1 and 16",
                &format!("not {n}"),
            ],
        );
    }
}

#[test]
fn bad_group_thresholds_are_named() {
    let config = GOOD.replace("min_score = 0", "min_score = 20");
    assert_config_error(
        &config,
        &["segments.engagement.groups[1].min_score", "descending"],
    );
    let config = GOOD.replace(
        "min_score = 15 }, { name = \"light\", min_score = 0",
        "min_score = 15 }, { name = \"light\", min_score = 1",
    );
    assert_config_error(
        &config,
        &["segments.engagement.groups[1].min_score", "0 or less"],
    );
}

#[test]
fn unknown_source_and_rollup_names_are_named() {
    let config = GOOD
        .replace("source = \"chain\"", "source = \"chian\"")
        .replace("rollup = \"activity\"", "rollup = \"activty\"");
    assert_config_error(
        &config,
        &[
            "rollups.activity.source",
            "chian",
            "segments.engagement.rollup",
            "activty",
        ],
    );
}

#[test]
fn unreachable_database_is_a_runtime_error_without_the_password() {
    let (code, text) = check(GOOD);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("source chain"), "{text}");
    // Only the password is masked: a wrong host, port or database can be seen.
    assert!(
        text.contains("postgres://tally:***@127.0.0.1:1/chain"),
        "the URL is shown with its password masked: {text}"
    );
    // A URL that is one ${VAR} is a secret as a whole.
    let ws = Workspace::new(&GOOD.replace(
        "url = \"postgres://tally:hunter2secret@127.0.0.1:1/chain\"",
        "url = \"${CHAIN_URL}\"",
    ));
    let out = ws
        .command(&["check"])
        .env(
            "CHAIN_URL",
            "postgres://tally:hunter2secret@127.0.0.1:1/chain",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("source chain: FAILED (***"), "{text}");
    assert!(
        !text.contains("hunter2secret") && !text.contains("127.0.0.1:1/chain"),
        "{text}"
    );
    let ws = Workspace::new(GOOD);
    let out = ws.run(&["sync", "--date", "2026-11-01"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("source `chain`"), "{err}");
    assert!(!err.contains("hunter2secret"), "{err}");
}

#[test]
fn missing_config_file_is_a_config_error() {
    let ws = Workspace::new(GOOD);
    let out = ws
        .command(&["check"])
        .args(["-c", "/nonexistent/tally.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tally.toml"));
}

/// Values that used to be accepted and then misread (issue 10): each is a config error naming
/// its key and its range.
#[test]
fn out_of_range_values_are_named_with_their_range() {
    let rollup = "measures = { actions = \"count(*)\" }";
    let source = "statement_timeout = \"5s\"";
    for (from, to, key) in [
        (
            rollup,
            "measures = { actions = \"count(*)\" }\nkeep = \"99999999d\"",
            "rollups.activity.keep",
        ),
        (
            rollup,
            "measures = { actions = \"count(*)\" }\nlookback = \"100000000d\"",
            "rollups.activity.lookback",
        ),
        (
            rollup,
            "measures = { actions = \"count(*)\" }\nlookback = \"900000000000d\"",
            "rollups.activity.lookback",
        ),
        (
            "amount = \"actions\"",
            "amount = \"actions\"\ndays = 4294967295",
            "reports.rewards.days",
        ),
        (
            "amount = \"actions\"",
            "amount = \"actions\"\ndays = 0",
            "reports.rewards.days",
        ),
        (
            "score = \"actions\"",
            "score = \"actions\"\nwindow = \"100000000d\"",
            "segments.engagement.window",
        ),
        (
            source,
            "statement_timeout = \"500us\"",
            "sources.chain.statement_timeout",
        ),
        (
            source,
            "statement_timeout = \"5s\"\nmax_rows_per_second = 0",
            "sources.chain.max_rows_per_second",
        ),
        (
            source,
            "statement_timeout = \"5s\"\npause = \"2h\"",
            "sources.chain.pause",
        ),
        (
            source,
            "statement_timeout = \"5s\"\nconnect_timeout = \"0s\"",
            "sources.chain.connect_timeout",
        ),
    ] {
        let config = GOOD.replace(from, to);
        assert_config_error(&config, &[key, "range"]);
    }
}

#[test]
fn bad_urls_and_an_empty_store_are_config_errors() {
    for (extra, key) in [
        (
            "[[deliver]]\nkind = \"slack\"\ntoken = \"xoxb-1\"\nchannel = \"C1\"\napi_url = \"not a url\"",
            "deliver[0].api_url",
        ),
        (
            "[[deliver]]\nkind = \"webhook\"\nurl = \"javascript:alert(1)\"",
            "deliver[0].url",
        ),
        (
            "[[deliver]]\nkind = \"slack\"\ntoken = \"xoxb-1\"\nchannel = \"C1\"\nmax_rows = 500",
            "deliver[0].max_rows",
        ),
        (
            "[schedule]\ncron = \"0 9 * * *\"\nretries = 1000",
            "schedule.retries",
        ),
    ] {
        assert_config_error(&format!("{GOOD}\n{extra}\n"), &[key]);
    }
    assert_config_error(&format!("store = \"\"\n{GOOD}"), &["store", "is empty"]);
}

#[test]
fn far_dates_on_the_command_line_are_usage_errors() {
    let ws = Workspace::new(GOOD);
    for args in [
        &["plan", "--date", "10000-01-01"][..],
        &["sync", "--from", "0001-01-01", "--to", "2026-01-01"][..],
        &["report", "--date", "2026-13-01"][..],
    ] {
        let out = ws.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

/// Measures that cannot be added up across slices and days are refused, with the rule; so are
/// fragments that are not one expression.
#[test]
fn non_additive_measures_and_broken_fragments_are_refused() {
    let measures = "measures = { actions = \"count(*)\" }";
    for (measure, needle) in [
        ("sum(x) + sum(y)", "SQL report"),
        ("sum(1) / count(*)", "SQL report"),
        ("count(DISTINCT x)", "DISTINCT"),
        ("avg(x)", "sum(x) and count(x)"),
        ("sum(count(x))", "aggregate"),
    ] {
        let config = GOOD.replace(
            measures,
            &format!("measures = {{ actions = \"count(*)\", bad = \"{measure}\" }}"),
        );
        assert_config_error(&config, &["rollups.activity.measures.bad", needle]);
    }
    for (filter, needle) in [
        (
            "$$($$ IS NOT NULL) OR (true OR $$)$$ IS NULL",
            "one SQL expression",
        ),
        ("(SELECT 1) = 1", "subquery"),
        ("x = 1; DROP TABLE y", "one SQL expression"),
    ] {
        let config = GOOD.replace(measures, &format!("{measures}\nfilter = '{filter}'"));
        assert_config_error(&config, &["rollups.activity.filter", needle]);
    }
}

/// Secrets in text tally did not write stay hidden: a TOML error on a line with a URL password
/// or a token, and a broken line of the env file.
#[test]
fn parse_errors_do_not_quote_secrets() {
    let broken = GOOD.replace(
        "url = \"postgres://tally:hunter2secret@127.0.0.1:1/chain\"",
        "url = \"postgres://tally:hunter2secret@127.0.0.1:1/chain\" oops",
    );
    assert_config_error(&broken, &["line"]);
    let token =
        format!("{GOOD}\n[[deliver]]\nkind = \"slack\"\ntoken = \"xoxb-hunter2secret\" x\n");
    assert_config_error(&token, &["line"]);
    let ws = Workspace::new(&GOOD.replace(
        "postgres://tally:hunter2secret@127.0.0.1:1/chain",
        "${CHAIN_URL}",
    ));
    std::fs::write(
        ws.path().join(".env"),
        "A=1\nCHAIN_URL=postgres://tally:hunter2secret@h/db'broken\n",
    )
    .unwrap();
    let out = ws.run(&["check"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("line 2") && !text.contains("hunter2secret"),
        "{text}"
    );
}

/// Commands that only look never create a store; those that need synced rows say so.
#[test]
fn looking_at_a_missing_store_creates_nothing() {
    let ws = Workspace::new(&format!("store = \"data/store.sqlite\"\n{GOOD}"));
    for args in [
        &["status"][..],
        &["history"][..],
        &["plan", "--date", "2026-11-01"][..],
    ] {
        let out = ws.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for args in [
        &["query", "SELECT 1"][..],
        &["report", "--no-sync"][..],
        &["deliver"][..],
    ] {
        let out = ws.run(args);
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains("nothing is synced yet") && text.contains(args[0]),
            "{args:?}: {text}"
        );
    }
    assert!(
        !ws.path().join("data").exists(),
        "a store folder was created"
    );
}

/// A `store` that names a folder is a config error naming the key, for every command (it was
/// "Is a directory (os error 21)" from sync and "disk I/O error" from query).
#[test]
fn a_store_that_is_a_folder_is_a_config_error() {
    let ws = crate::support::small_segment_rewards("", "");
    std::fs::create_dir(ws.path().join("data")).unwrap();
    let config = std::fs::read_to_string(ws.config()).unwrap();
    let config = config.replace("store = \"store.sqlite\"", "store = \"data\"");
    std::fs::write(ws.config(), config).unwrap();
    for args in [&["sync"][..], &["query", "SELECT 1"][..], &["check"][..]] {
        let out = ws.run(args);
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(
            text.contains("store") && text.contains("is a folder"),
            "{args:?}: {text}"
        );
    }
}

/// `status`, `history`, `query` and `plan` only read: they work as another user on a store in a
/// folder that user cannot write to, and change nothing.
#[test]
fn looking_at_a_store_works_read_only_as_another_user() {
    use std::os::unix::fs::PermissionsExt;
    let ws = crate::support::small_segment_rewards("", "");
    let store = ws.path().join("store.sqlite");
    let before = std::fs::read(&store).unwrap();
    let is_root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    let looks: [&[&str]; 4] = [
        &["status"],
        &["history"],
        &["query", "SELECT count(*) FROM activity"],
        &["plan", "--date", "2026-11-10"],
    ];
    if is_root {
        // A copy of the binary that `nobody` may run, and a folder it may read but not write.
        let bin_dir = tempfile::tempdir().unwrap();
        let bin = bin_dir.path().join("tally");
        std::fs::copy(env!("CARGO_BIN_EXE_tally"), &bin).unwrap();
        for dir in [bin_dir.path(), ws.path()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // Then in a folder anyone may write (a shared, sticky folder): nobody's looks leave no
        // `-shm` or `-wal` of theirs beside the store, which the owner's next run could not
        // write.
        for mode in [0o755, 0o1777] {
            std::fs::set_permissions(ws.path(), std::fs::Permissions::from_mode(mode)).unwrap();
            for args in looks {
                let out = std::process::Command::new("runuser")
                    .args(["-u", "nobody", "--"])
                    .arg(&bin)
                    .arg("-c")
                    .arg(ws.config())
                    .args(args)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{args:?} as nobody in a folder of mode {mode:o}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            for beside in ["store.sqlite-shm", "store.sqlite-wal"] {
                assert!(!ws.path().join(beside).exists(), "{beside} left by nobody");
            }
        }
    }
    for args in looks {
        ws.ok(args);
    }
    assert_eq!(std::fs::read(&store).unwrap(), before, "the store changed");
}

/// A MySQL connection error says what happened once, not "Input/output error:" at every level.
#[test]
fn mysql_errors_are_said_once() {
    let port = crate::private::free_port();
    let ws = Workspace::new(&GOOD.replace(
        "postgres://tally:hunter2secret@127.0.0.1:1/chain",
        &format!("mysql://tally:hunter2secret@127.0.0.1:{port}/chain"),
    ));
    let (code, text) = check(&std::fs::read_to_string(ws.config()).unwrap());
    assert_eq!(code, 1, "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(text.matches("Input/output error").count() <= 1, "{text}");
}

/// A reader that stops early (`tally query ... | head -1`) ends the command quietly and
/// successfully, as other command-line tools do (it printed "Broken pipe" and exited 1, and
/// `println!` panicked with 101 elsewhere).
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    use std::io::{BufRead, BufReader};
    let ws = crate::support::small_segment_rewards("", "");
    let many = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 300000) \
                SELECT x, 'a longer text cell to fill the pipe' FROM r";
    for format in ["table", "csv", "json"] {
        let mut child = ws
            .command(&["query", "--format", format, many])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is gone now.
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {err}");
        assert!(err.is_empty(), "{format}: {err}");
    }
}

/// A `${VAR}` that is not set fails only the commands that use its source or destination:
/// `query`, `history`, `status` and `report --no-sync` read the store alone and work; `sync`,
/// `report` and `plan` name the source's variable, `deliver` the destination's, `check` both.
#[test]
fn an_unset_variable_fails_only_the_commands_that_use_it() {
    let extra =
        "[[deliver]]\nkind = \"slack\"\ntoken = \"${SLACK_BOT_TOKEN}\"\nchannel = \"C0TEST\"\n";
    let ws = crate::support::small_segment_rewards(extra, "SLACK_BOT_TOKEN=xoxb-1\n");
    std::fs::write(ws.path().join(".env"), "").unwrap();
    let config = std::fs::read_to_string(ws.config()).unwrap();
    // The source's URL hides its scheme: its rollups' SQL waits with it.
    let config = config.replace("url = \"sqlite://src.sqlite\"", "url = \"${SRC_URL}\"");
    std::fs::write(ws.config(), config).unwrap();
    let reads: [&[&str]; 4] = [
        &["query", "SELECT count(*) FROM activity"],
        &["history"],
        &["status"],
        &["report", "--no-sync", "--date", "2026-11-10"],
    ];
    for args in reads {
        ws.ok(args);
    }
    let needs: [(&[&str], &[&str]); 6] = [
        (&["sync", "--date", "2026-11-10"], &["SRC_URL"]),
        (&["plan", "--date", "2026-11-10"], &["SRC_URL"]),
        (&["report", "--date", "2026-11-10"], &["SRC_URL"]),
        (&["deliver", "--date", "2026-11-10"], &["SLACK_BOT_TOKEN"]),
        (
            &["run", "--date", "2026-11-10"],
            &["SRC_URL", "SLACK_BOT_TOKEN"],
        ),
        (&["check"], &["SRC_URL", "SLACK_BOT_TOKEN"]),
    ];
    for (args, names) in needs {
        let out = ws.run(args);
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        for name in ["SRC_URL", "SLACK_BOT_TOKEN"] {
            assert_eq!(
                text.contains(name),
                names.contains(&name),
                "{args:?}: {text}"
            );
        }
    }
}

/// A rollup that keeps fewer days than a report reads is a config error naming the rollup, the
/// report and the days needed (the report's days + the segment's window + compare + lookback):
/// with less, the oldest days are pruned and the report counts without them, silently.
#[test]
fn keep_shorter_than_a_report_needs_is_a_config_error() {
    let ws = crate::support::small_segment_rewards("", "");
    let config = std::fs::read_to_string(ws.config()).unwrap();
    // activity: 8 days + window 3 + lookback 2 = 13; rewards: 8 + 2 = 10.
    let short = config.replacen("keep = \"3650d\"", "keep = \"12d\"", 1);
    std::fs::write(ws.config(), &short).unwrap();
    let (code, text) = crate::support::output(&ws, &["check"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(
            "rollups.activity.keep: keeps 12 days, but report `rewards_by_segment` needs 13"
        ) && text.contains("keep = \"13d\""),
        "{text}"
    );
    std::fs::write(
        ws.config(),
        short.replace("keep = \"12d\"", "keep = \"13d\""),
    )
    .unwrap();
    ws.ok(&["plan", "--date", "2026-11-10"]);
}
