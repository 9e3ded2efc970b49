//! Test support: a database per test on the real servers, a workspace with a config, and a way
//! to run the `tally` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use mysql_async::prelude::Queryable;

pub mod slack_server;
pub mod socket_mode;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Runs a future to completion on a fresh runtime (tests are synchronous).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A name no other test uses at the same time.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// The server's URL from the environment, or the local default.
pub fn pg_admin_url() -> String {
    std::env::var("TALLY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The server's URL from the environment, or the local default.
pub fn my_admin_url() -> String {
    std::env::var("TALLY_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// Replaces the database name (the URL's path) of a server URL.
fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("test URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// Runs statements on the PostgreSQL server's admin database.
pub fn pg_admin_exec(sql: &str) {
    block_on(async {
        let c = pg_connect(&pg_admin_url()).await;
        c.batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    })
}

/// A PostgreSQL database that exists for one test.
pub struct PgDb {
    /// Its URL.
    pub url: String,
    name: String,
}

async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {url}: {e}. Start it with `bash scripts/services.sh` \
                 (or point TALLY_TEST_POSTGRES_URL at a server)"
            )
        });
    tokio::spawn(conn);
    client
}

impl PgDb {
    /// Creates a uniquely named database.
    pub fn new() -> PgDb {
        let name = unique("tally_t");
        block_on(async {
            let c = pg_connect(&pg_admin_url()).await;
            c.batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
        });
        PgDb {
            url: with_database(&pg_admin_url(), &name),
            name,
        }
    }

    /// The same database through pgbouncer (transaction pooling, one server connection),
    /// which `scripts/services.sh` runs in front of the server.
    pub fn pooled_url(&self) -> String {
        let bouncer = std::env::var("TALLY_TEST_PGBOUNCER_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:6432/postgres".into());
        with_database(&bouncer, &self.name)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rows of a query over the simple protocol, each cell as text (NULL as `NULL`).
    pub fn rows(&self, url: &str, sql: &str) -> Vec<Vec<String>> {
        block_on(async {
            let c = pg_connect(url).await;
            let messages = c
                .simple_query(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            messages
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                        (0..r.len())
                            .map(|i| r.get(i).unwrap_or("NULL").to_string())
                            .collect(),
                    ),
                    _ => None,
                })
                .collect()
        })
    }

    /// Runs statements.
    pub fn exec(&self, sql: &str) {
        block_on(async {
            let c = pg_connect(&self.url).await;
            c.batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        block_on(async move {
            let c = pg_connect(&pg_admin_url()).await;
            let _ = c
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        });
    }
}

/// A MariaDB/MySQL database that exists for one test.
pub struct MyDb {
    /// Its URL.
    pub url: String,
    name: String,
}

async fn my_connect(url: &str) -> mysql_async::Conn {
    let opts = mysql_async::Opts::from_url(url).expect("test URL");
    mysql_async::Conn::new(opts).await.unwrap_or_else(|e| {
        panic!(
            "MariaDB/MySQL is not reachable at {url}: {e}. Start it with `bash scripts/services.sh` \
             (or point TALLY_TEST_MYSQL_URL at a server)"
        )
    })
}

impl MyDb {
    /// Creates a uniquely named database.
    pub fn new() -> MyDb {
        let name = unique("tally_t");
        block_on(async {
            let mut c = my_connect(&my_admin_url()).await;
            c.query_drop(format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            c.disconnect().await.unwrap();
        });
        MyDb {
            url: with_database(&my_admin_url(), &name),
            name,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rows of a query on the server's admin database, each cell as text.
    pub fn admin_rows(&self, sql: &str) -> Vec<Vec<String>> {
        block_on(async {
            let mut c = my_connect(&my_admin_url()).await;
            let rows: Vec<mysql_async::Row> = c
                .query(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            let _ = c.disconnect().await;
            rows.into_iter()
                .map(|r| {
                    r.unwrap()
                        .into_iter()
                        .map(|v| match v {
                            mysql_async::Value::Bytes(b) => {
                                String::from_utf8_lossy(&b).into_owned()
                            }
                            mysql_async::Value::NULL => "NULL".into(),
                            other => other.as_sql(true),
                        })
                        .collect()
                })
                .collect()
        })
    }

    /// Runs statements, one by one (split on `;` at line ends).
    pub fn exec(&self, sql: &str) {
        block_on(async {
            let mut c = my_connect(&self.url).await;
            for stmt in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
                c.query_drop(stmt)
                    .await
                    .unwrap_or_else(|e| panic!("{stmt}: {e:?}"));
            }
            c.disconnect().await.unwrap();
        })
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        block_on(async move {
            let mut c = my_connect(&my_admin_url()).await;
            let _ = c
                .query_drop(format!("DROP DATABASE IF EXISTS {name}"))
                .await;
            let _ = c.disconnect().await;
        });
    }
}

/// The ClickHouse server's URL from the environment, or the local default (HTTP, port 8123).
pub fn ch_admin_url() -> String {
    std::env::var("TALLY_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "clickhouse://default@127.0.0.1:8123/default".into())
}

/// Runs one statement on ClickHouse's HTTP interface; the answer's text.
pub fn ch_exec_on(url: &str, sql: &str) -> String {
    let u = url::Url::parse(url).expect("test URL");
    let http = format!(
        "http://{}:{}/?database={}",
        u.host_str().unwrap_or("127.0.0.1"),
        u.port().unwrap_or(8123),
        match u.path().trim_matches('/') {
            "" => "default",
            db => db,
        }
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    block_on(async {
        let response = reqwest::Client::new()
            .post(&http)
            .basic_auth(u.username(), u.password())
            .body(sql.to_string())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "ClickHouse is not reachable at {http}: {e}. Start it with `bash \
                     scripts/services.sh` (or point TALLY_TEST_CLICKHOUSE_URL at a server)"
                )
            });
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{sql}: {text}");
        text
    })
}

/// A ClickHouse database that exists for one test.
pub struct ChDb {
    /// Its URL.
    pub url: String,
    /// Its name.
    pub name: String,
}

impl ChDb {
    /// Creates a uniquely named database.
    pub fn new() -> ChDb {
        let name = unique("tally_t");
        ch_exec_on(&ch_admin_url(), &format!("CREATE DATABASE {name}"));
        ChDb {
            url: with_database(&ch_admin_url(), &name),
            name,
        }
    }

    /// Runs statements, one by one (split on `;` at line ends), in this database.
    pub fn exec(&self, sql: &str) {
        for stmt in sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            ch_exec_on(&self.url, &stmt.replace("{db}", &self.name));
        }
    }
}

impl Drop for ChDb {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            ch_exec_on(
                &ch_admin_url(),
                &format!("DROP DATABASE IF EXISTS {}", self.name),
            )
        });
    }
}

/// A directory with a `tally.toml`, where the binary runs.
pub struct Workspace {
    /// The temporary directory (removed on drop).
    pub dir: tempfile::TempDir,
    config: PathBuf,
}

impl Workspace {
    /// A workspace whose config is `config`.
    pub fn new(config: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tally.toml");
        std::fs::write(&path, config).unwrap();
        Workspace { dir, config: path }
    }

    /// A workspace for a config file that already exists inside `dir`.
    pub fn existing(dir: tempfile::TempDir, config: PathBuf) -> Workspace {
        Workspace { dir, config }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.config.clone()
    }

    /// A `tally -c <config> ARGS` command, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tally"));
        cmd.arg("-c")
            .arg(self.config())
            .args(args)
            .env_remove("TALLY_CONFIG");
        cmd
    }

    /// Runs `tally -c <config> ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run tally")
    }

    /// Runs `tally ARGS` and returns stdout, failing the test on a non-zero exit.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tally {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a read-only query over the store and returns its CSV rows (without header).
    pub fn query(&self, sql: &str) -> Vec<String> {
        self.ok(&["query", "--format", "csv", sql])
            .lines()
            .skip(1)
            .map(String::from)
            .collect()
    }
}

/// A config with one source `db` at `url` and one rollup `activity`: `count(*)` of `actions` per
/// `signer`, cut on `block_time`, kept ten years. `source` and `rollup` are more lines for each
/// table; the source pauses `0s` between queries unless `source` sets `pause`.
pub fn one_rollup(url: &str, source: &str, rollup: &str) -> String {
    let pause = if source.contains("pause =") {
        ""
    } else {
        "pause = \"0s\"\n"
    };
    format!(
        r#"
store = "store.sqlite"
[sources.db]
url = "{url}"
{pause}{source}
[rollups.activity]
source = "db"
table = "actions"
time = "block_time"
user = "signer"
measures = {{ n = "count(*)" }}
keep = "3650d"
{rollup}
"#
    )
}

/// `sync --from DAY --to DAY`.
pub fn sync_day(day: &str) -> [&str; 5] {
    ["sync", "--from", day, "--to", day]
}

/// A small SQLite source with 10 days of activity and rewards (6 users), synced for 2026-11-10,
/// and a segment_rewards report `rewards_by_segment` over 8 days (heavy, light, inactive).
/// `extra` is appended to the config (destinations, `[chart]`); `env` is the `.env` file.
pub fn small_segment_rewards(extra: &str, env: &str) -> Workspace {
    small_segment_rewards_named(["heavy", "light"], extra, env)
}

/// [`small_segment_rewards`] with other names for the two groups.
pub fn small_segment_rewards_named(groups: [&str; 2], extra: &str, env: &str) -> Workspace {
    let ws = Workspace::new("");
    std::fs::write(ws.path().join(".env"), env).unwrap();
    let conn = rusqlite::Connection::open(ws.path().join("src.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE actions (signer TEXT, kind TEXT, at TEXT);
         CREATE TABLE rewards (wallet TEXT, amount TEXT, at TEXT);
         CREATE INDEX actions_at ON actions (at);
         CREATE INDEX rewards_at ON rewards (at);",
    )
    .unwrap();
    for d in 1..=10 {
        for u in 0..6 {
            for i in 0..(u * 2 + 1) {
                conn.execute(
                    "INSERT INTO actions VALUES (?1, 'play', ?2)",
                    [format!("u{u}"), format!("2026-11-{d:02} 10:{i:02}:00")],
                )
                .unwrap();
            }
            conn.execute(
                "INSERT INTO rewards VALUES (?1, ?2, ?3)",
                [
                    format!("u{}", u + 1),
                    format!("{}.25", u * 1000 + d),
                    format!("2026-11-{d:02} 12:00:00"),
                ],
            )
            .unwrap();
        }
    }
    let config = format!(
        r#"store = "store.sqlite"
[sources.src]
url = "sqlite://src.sqlite"
pause = "0s"
[rollups.activity]
source = "src"
table = "actions"
time = "at"
user = "signer"
measures = {{ actions = "count(*)" }}
keep = "3650d"
[rollups.rewards]
source = "src"
table = "rewards"
time = "at"
user = "wallet"
measures = {{ amount = "sum(amount)" }}
keep = "3650d"
[segments.engagement]
rollup = "activity"
score = "actions"
window = "3d"
groups = [ {{ name = "{heavy}", min_score = 7 }}, {{ name = "{light}", min_score = 0 }} ]
[reports.rewards_by_segment]
kind = "segment_rewards"
title = "Rewards by segment"
segment = "engagement"
rewards = "rewards"
amount = "amount"
days = 8
{extra}
"#,
        heavy = groups[0],
        light = groups[1],
    );
    std::fs::write(ws.config(), config).unwrap();
    ws.ok(&["-q", "sync", "--date", "2026-11-10"]);
    ws
}

/// The digits 0 to 9 as a derived table (MariaDB and MySQL alike).
pub const DIGITS: &str = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
    UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 \
    UNION ALL SELECT 9)";

/// The folder of the test CA and server certificate that `scripts/services.sh` made.
pub fn tls_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("TALLY_TEST_TLS_DIR").unwrap_or_else(|_| "/var/lib/tally-test-tls".into()),
    )
}

/// `url` with another user name (the servers' TLS-only user is `tally_tls`).
pub fn with_user(url: &str, user: &str) -> String {
    let mut u = url::Url::parse(url).expect("test URL");
    u.set_username(user).expect("a URL with a host");
    u.to_string()
}

/// Runs `tally ARGS` and returns its exit code and everything it printed.
pub fn output(ws: &Workspace, args: &[&str]) -> (i32, String) {
    let out = ws.run(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `tally daemon` in `ws` with `env`, its log piped.
pub fn daemon(ws: &Workspace, env: &[(&str, &str)]) -> std::process::Child {
    let mut command = ws.command(&["daemon"]);
    for (k, v) in env {
        command.env(k, v);
    }
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Stops a daemon with SIGTERM (killing it after 30 s); returns what it logged.
pub fn stop(mut child: std::process::Child) -> String {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    err
}
