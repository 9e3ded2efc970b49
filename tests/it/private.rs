//! Database servers of one test's own, started from the installed binaries on a free port, so
//! that a test may restart or stop them without disturbing the shared servers.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True when the tests run as root (from the effective uid in /proc).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// Runs a command to the end, failing the test when it fails.
fn run(mut cmd: Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} did not happen in 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn accepts(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A PostgreSQL server in a temporary folder, run as `postgres` when the tests run as root
/// (PostgreSQL refuses to run as root).
pub struct PrivatePg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl PrivatePg {
    /// An empty folder for a cluster, owned by the user that runs it.
    fn empty() -> PrivatePg {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's binaries in /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max_by_key(|p| {
                p.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .expect("an initdb");
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            run({
                let mut c = Command::new("chown");
                c.args(["postgres:postgres"]).arg(dir.path());
                c
            });
        }
        PrivatePg {
            dir,
            bin,
            port: free_port(),
        }
    }

    /// Creates the cluster and starts it.
    pub fn start() -> PrivatePg {
        let pg = PrivatePg::empty();
        pg.as_postgres(&[
            "initdb",
            "-D",
            &pg.data(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        pg.ctl(&["start"]);
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_postgres(&self, args: &[&str]) {
        let program = self.bin.join(args[0]);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.args(&args[1..]).stdin(Stdio::null());
        run(cmd);
    }

    fn ctl(&self, args: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        let data = self.data();
        let mut all = vec!["pg_ctl", "-D", &data, "-o", &options, "-l", &log, "-w"];
        all.extend_from_slice(args);
        self.as_postgres(&all);
    }

    /// A hot standby of `primary`, streaming from it (`pg_basebackup -R`), started.
    pub fn standby_of(primary: &PrivatePg) -> PrivatePg {
        let pg = PrivatePg::empty();
        let port = primary.port.to_string();
        pg.as_postgres(&[
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-D",
            &pg.data(),
            "-R",
            "-X",
            "stream",
            "--no-sync",
        ]);
        pg.ctl(&["start"]);
        pg
    }

    /// The URL of database `db` as user postgres.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs statements on database `postgres`.
    pub fn exec(&self, sql: &str) {
        let url = self.url("postgres");
        crate::support::block_on(async move {
            let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            c.batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        })
    }

    /// The first column of the first row of `sql`, as text.
    pub fn one(&self, sql: &str) -> String {
        let url = self.url("postgres");
        crate::support::block_on(async move {
            let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let rows = c.simple_query(sql).await.unwrap();
            rows.iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some(r.get(0).unwrap_or("").to_string())
                    }
                    _ => None,
                })
                .unwrap_or_default()
        })
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) one backend: the server keeps the connection open
    /// and says nothing, as a hung host does.
    pub fn signal(&self, pid: &str, signal: &str) {
        run({
            let mut c = Command::new("kill");
            c.arg(format!("-{signal}")).arg(pid);
            c
        });
    }

    /// Restarts the server the way an operator would: a fast shutdown (sessions are terminated
    /// with "terminating connection due to administrator command"), then a start.
    pub fn restart(&self) {
        self.ctl(&["-m", "fast", "restart"]);
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.ctl(&["-m", "immediate", "stop"]));
    }
}

/// A MariaDB server in a temporary folder, without grant tables (any user may log in).
pub struct PrivateMy {
    dir: tempfile::TempDir,
    child: Option<Child>,
    options: Vec<String>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl PrivateMy {
    /// Creates the data folder and starts the server.
    pub fn start() -> PrivateMy {
        PrivateMy::start_with(&[])
    }

    /// Creates the data folder and starts the server with extra options (`--server-id=2`).
    pub fn start_with(options: &[&str]) -> PrivateMy {
        let dir = tempfile::tempdir().unwrap();
        let user = if is_root() { "root" } else { "" };
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .arg("--skip-test-db")
            .arg("--auth-root-authentication-method=normal");
        if !user.is_empty() {
            install.arg(format!("--user={user}"));
        }
        run(install);
        let mut my = PrivateMy {
            dir,
            child: None,
            port: free_port(),
            options: options.iter().map(|o| o.to_string()).collect(),
        };
        my.launch();
        my
    }

    fn launch(&mut self) {
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        let mut cmd = Command::new("/usr/sbin/mariadbd");
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", path("data")))
            .arg(format!("--socket={}", path("sock")))
            .arg(format!("--pid-file={}", path("pid")))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-grant-tables",
                "--innodb-buffer-pool-size=16M",
            ])
            .args(&self.options)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(path("log")).unwrap());
        if is_root() {
            cmd.arg("--user=root");
        }
        self.child = Some(cmd.spawn().expect("start mariadbd"));
        let port = self.port;
        wait_until("MariaDB to accept connections", || accepts(port));
    }

    fn shutdown(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs statements, one by one.
    pub fn exec(&self, statements: &[&str]) {
        let url = self.url("");
        crate::support::block_on(async move {
            use mysql_async::prelude::Queryable;
            let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
                .await
                .unwrap();
            for sql in statements {
                c.query_drop(*sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            }
            c.disconnect().await.unwrap();
        })
    }

    /// The first column of the first row of `sql`, as text; `None` when there is none, or when
    /// the query fails (a replica that has not replayed a table yet).
    pub fn one(&self, sql: &str) -> Option<String> {
        let url = self.url("");
        crate::support::block_on(async move {
            use mysql_async::prelude::Queryable;
            let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
                .await
                .unwrap();
            let v: Option<mysql_async::Row> = c.query_first(sql).await.ok().flatten();
            c.disconnect().await.unwrap();
            v.and_then(|row| row.get::<Option<String>, _>(0).flatten())
        })
    }

    /// Restarts the server: a normal shutdown (sessions are killed), then a start.
    pub fn restart(&mut self) {
        self.shutdown();
        self.launch();
    }

    /// The data folder (for logs when a test fails).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivateMy {
    fn drop(&mut self) {
        self.shutdown();
    }
}
