//! TLS to real servers: `scripts/services.sh` turns TLS on with a test CA and creates a user on
//! each server that may connect over TLS only (`tally_tls`: `hostssl`/`hostnossl` in PostgreSQL,
//! `REQUIRE SSL` in MariaDB).

use crate::support::{MyDb, PgDb, Workspace, output, tls_dir, with_user};

fn config(url: &str) -> String {
    format!(
        r#"
store = "store.sqlite"
[sources.db]
url = "{url}"
[rollups.activity]
source = "db"
table = "actions"
time = "block_time"
user = "signer"
measures = {{ n = "count(*)" }}
keep = "3650d"
allow_full_scan = true
"#
    )
}

const SYNC: [&str; 5] = ["sync", "--from", "2026-06-10", "--to", "2026-06-11"];

fn ca() -> String {
    tls_dir().join("ca.pem").display().to_string()
}

/// Syncs two days over `url` and checks the rows and that `tally check` reports TLS.
fn syncs_encrypted(url: &str) {
    let ws = Workspace::new(&config(url));
    ws.ok(&SYNC);
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["48"]);
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("tls: encrypted, TLSv1."), "{text}");
}

/// Fails to sync over `url`; returns what tally said.
fn refused(url: &str) -> String {
    let ws = Workspace::new(&config(url));
    let (code, text) = output(&ws, &SYNC);
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains("panicked"), "{text}");
    text
}

fn pg_db() -> (PgDb, String) {
    let db = PgDb::new();
    db.exec(
        "CREATE TABLE actions (signer text, block_time timestamptz);
         INSERT INTO actions SELECT 'u' || (i % 3), timestamptz '2026-06-10 00:00Z' + i * interval '1 hour'
           FROM generate_series(0, 47) AS i;",
    );
    let url = with_user(&db.url, "tally_tls");
    (db, url)
}

#[test]
fn a_tls_only_postgres_role_syncs_over_tls_and_is_refused_without() {
    let (_db, url) = pg_db();
    syncs_encrypted(&format!("{url}?sslmode=require"));
    syncs_encrypted(&format!("{url}?sslmode=verify-full&sslrootcert={}", ca()));
    // The default, prefer, encrypts when the server can.
    syncs_encrypted(&url);
    let text = refused(&format!("{url}?sslmode=disable"));
    assert!(
        text.contains("no encryption")
            && text.contains("only over TLS")
            && text.contains("sslmode=require"),
        "{text}"
    );
}

#[test]
fn a_relative_ca_file_is_read_from_the_config_folder() {
    let (_db, url) = pg_db();
    let ws = Workspace::new(&config(&format!(
        "{url}?sslmode=verify-full&sslrootcert=certs/ca.pem"
    )));
    std::fs::create_dir(ws.path().join("certs")).unwrap();
    std::fs::copy(ca(), ws.path().join("certs/ca.pem")).unwrap();
    ws.ok(&SYNC);
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["48"]);
}

#[test]
fn verify_full_names_the_certificate_of_another_host() {
    let (db, _) = pg_db();
    // Connect to 127.0.0.1 but check the certificate against db.example.com, as a DNS alias
    // or a load balancer in front of the server would make it.
    let mut u = url::Url::parse(&with_user(&db.url, "tally_tls")).unwrap();
    u.set_host(Some("db.example.com")).unwrap();
    let url = format!("{u}?hostaddr=127.0.0.1&sslrootcert={}", ca());
    let text = refused(&format!("{url}&sslmode=verify-full"));
    assert!(
        text.contains("certificate is for localhost, 127.0.0.1, not for `db.example.com`")
            && text.contains("sslmode=verify-ca"),
        "{text}"
    );
    // verify-ca trusts the CA whatever name the certificate carries.
    syncs_encrypted(&format!("{url}&sslmode=verify-ca"));
}

#[test]
fn an_untrusted_certificate_says_which_ca_file_to_pass() {
    let (_db, url) = pg_db();
    // The system's CAs did not sign the test server's certificate.
    let text = refused(&format!("{url}?sslmode=verify-full"));
    assert!(
        text.contains("not signed by a CA tally trusts")
            && text.contains("system's CA certificates")
            && text.contains("sslrootcert=/path/to/ca.pem"),
        "{text}"
    );
}

#[test]
fn a_missing_ca_file_is_a_config_error() {
    let ws = Workspace::new(&config(
        "postgres://u@127.0.0.1/x?sslmode=verify-full&sslrootcert=nowhere.pem",
    ));
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("sources.db.url")
            && text.contains("sslrootcert")
            && text.contains("nowhere.pem"),
        "{text}"
    );
    let ws = Workspace::new(&config("postgres://u@127.0.0.1/x?sslmode=verify"));
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("sslmode `verify`"), "{text}");
}

fn my_db() -> (MyDb, String) {
    let db = MyDb::new();
    db.exec(
        "CREATE TABLE actions (signer VARCHAR(8), block_time DATETIME);
         INSERT INTO actions SELECT CONCAT('u', seq % 3), TIMESTAMPADD(HOUR, seq, '2026-06-10 00:00:00')
           FROM seq_0_to_47",
    );
    let url = with_user(&db.url, "tally_tls");
    (db, url)
}

#[test]
fn a_mariadb_user_that_requires_ssl_syncs_over_tls() {
    let (_db, url) = my_db();
    syncs_encrypted(&format!("{url}?ssl-mode=REQUIRED"));
    syncs_encrypted(&format!("{url}?ssl-mode=VERIFY_CA&ssl-ca={}", ca()));
    syncs_encrypted(&format!("{url}?ssl-mode=VERIFY_IDENTITY&ssl-ca={}", ca()));
    // mysql_async's own parameters mean the same.
    syncs_encrypted(&format!("{url}?require_ssl=true&verify_ca=false"));
    // The default, PREFERRED, encrypts when the server can.
    syncs_encrypted(&url);
    let text = refused(&format!("{url}?ssl-mode=DISABLED"));
    assert!(
        text.contains("Access denied") && text.contains("REQUIRE SSL"),
        "{text}"
    );
    let text = refused(&format!("{url}?ssl-mode=VERIFY_IDENTITY"));
    assert!(
        text.contains("not signed by a CA tally trusts") && text.contains("ssl-ca="),
        "{text}"
    );
}
